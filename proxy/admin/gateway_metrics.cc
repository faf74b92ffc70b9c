#include "proxy/admin/gateway_metrics.h"

namespace braid::proxy {
namespace {

// Flows last from milliseconds (a refused connection) to days (a
// replication stream).
constexpr double kFlowDurationBounds[] = {0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400};
// Tunnel set-up is one TLS handshake and a LANE_HELLO round trip: around a
// millisecond on a LAN, tens over a WAN, seconds when the peer is far or
// overloaded.
constexpr double kTunnelSetupBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

void RenderGauge(const char* name, const char* help, const Gauge& g, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" gauge\n");
  out->append(name).append(" ").append(std::to_string(g.value())).append("\n");
}

}  // namespace

GatewayMetrics::GatewayMetrics()
    : flows_ended("braid_flows_ended_total",
                  "Flows that ended, by side, how they ended, and the rule that refused them (refusals only)",
                  {"side", "reason", "rule"}),
      flow_duration("braid_flow_duration_seconds", "How long flows lasted, from accept or OPEN to their end", {},
                    kFlowDurationBounds),
      sft_decisions("braid_sft_decisions_total",
                    "Security Filter Table decisions, by side (ingress: a host's connection; egress: a peer's OPEN), "
                    "action and rule (empty: the default deny)",
                    {"side", "action", "rule"}),
      limit_hits("braid_limit_hits_total", "Times a configured limit refused or ended something, by limit",
                 {"limit"}),
      tunnels_up("braid_tunnels_up", "Tunnels up, per peer gateway", {"peer"}),
      lanes_up("braid_lanes_up", "Lanes (TLS connections) up, per peer gateway", {"peer"}),
      peer_bytes("braid_peer_bytes_total",
                 "Flow payload bytes carried, per peer; direction sent: to the peer, received: from it",
                 {"peer", "direction"}),
      lane_bytes("braid_lane_bytes_total", "Frame bytes through each lane (before encryption), per peer and lane",
                 {"peer", "lane", "direction"}),
      handshakes("braid_tls_handshakes_total",
                 "Lane TLS handshakes, by side (dial, accept), result (ok, failed) and whether the session resumed",
                 {"side", "result", "resumed"}),
      tunnel_setup("braid_tunnel_setup_seconds", "Time from dialing a tunnel to its first lane carrying flows", {},
                   kTunnelSetupBounds),
      reloads("braid_reloads_total", "SIGHUP reloads, by result (applied, refused)", {"result"}) {}

void GatewayMetrics::RenderPrometheus(std::string* out) const {
  RenderGauge("braid_flows_live", "Flows open now, both sides", flows_live, out);
  RenderCounters(flows_ended, out);
  RenderHistograms(flow_duration, out);
  RenderCounters(sft_decisions, out);
  RenderCounters(limit_hits, out);
  RenderGauges(tunnels_up, out);
  RenderGauges(lanes_up, out);
  RenderCounters(peer_bytes, out);
  RenderCounters(lane_bytes, out);
  RenderCounters(handshakes, out);
  RenderHistograms(tunnel_setup, out);
  out->append("# HELP braid_tls_key_updates_total TLS KeyUpdates sent by lanes\n");
  out->append("# TYPE braid_tls_key_updates_total counter\n");
  out->append("braid_tls_key_updates_total ").append(std::to_string(key_updates.value())).append("\n");
  RenderGauge("braid_reassembly_buffered_bytes",
              "Bytes received from peers and not yet written to hosts (reordering, slow hosts)", reassembly_bytes,
              out);
  RenderGauge("braid_policy_version", "Version of the Security Filter Table in force (1 = loaded at start)",
              policy_version, out);
  RenderCounters(reloads, out);
}

}  // namespace braid::proxy
