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

// The per-lane metrics: what TCP_INFO says of each lane's connection, and
// what the lane keeps until the peer acknowledges it.
struct LaneMetric {
  const char* name;
  const char* type;
  const char* help;
  double (*value)(const LaneSample&);
};
constexpr LaneMetric kLaneMetrics[] = {
    {"braid_lane_rtt_seconds", "gauge", "Smoothed round trip of each lane's TCP connection (TCP_INFO)",
     [](const LaneSample& l) { return l.tcp.rtt_us / 1e6; }},
    {"braid_lane_min_rtt_seconds", "gauge",
     "Lowest round trip each lane's TCP connection has seen: the path without queues",
     [](const LaneSample& l) { return l.tcp.min_rtt_us / 1e6; }},
    {"braid_lane_cwnd_bytes", "gauge", "Congestion window of each lane's TCP connection (segments x MSS)",
     [](const LaneSample& l) { return static_cast<double>(uint64_t{l.tcp.cwnd_segments} * l.tcp.mss); }},
    // A counter that starts again from 0 when the lane reconnects (a new
    // TCP connection): rate() reads that as a counter reset.
    {"braid_lane_retransmits_total", "counter",
     "Segments retransmitted by each lane's current TCP connection; restarts from 0 when the lane reconnects",
     [](const LaneSample& l) { return static_cast<double>(l.tcp.retransmits); }},
    {"braid_lane_delivery_rate_bytes", "gauge",
     "Latest delivery rate of each lane's TCP connection, in bytes per second (the kernel's sample)",
     [](const LaneSample& l) { return static_cast<double>(l.tcp.delivery_rate); }},
    {"braid_lane_unacked_bytes", "gauge",
     "Flow frames each lane has sent and keeps until the peer acknowledges them (resent if the lane is lost)",
     [](const LaneSample& l) { return static_cast<double>(l.unacked_bytes); }},
};

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
      lanes_lost("braid_lanes_lost_total", "Lane connections lost (reset, timed out or killed), per peer",
                 {"peer"}),
      lanes_redialed("braid_lanes_redialed_total", "Lane connections that replaced a lost one, per peer", {"peer"}),
      lanes_retired("braid_lanes_retired_total",
                    "Lane connections retired and replaced make-before-break (operator, ROTATE, key limit), per peer",
                    {"peer"}),
      frames_resent("braid_frames_resent_total", "Frames resent on another lane after a lane loss, per peer",
                    {"peer"}),
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
  RenderCounters(lanes_lost, out);
  RenderCounters(lanes_redialed, out);
  RenderCounters(lanes_retired, out);
  RenderCounters(frames_resent, out);
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
  RenderGauge("braid_flow_window_budget_used_bytes",
              "Bytes of flow receive window granted beyond the initial windows, gateway-wide", window_budget_used, out);
  RenderGauge("braid_flow_window_budget_limit_bytes",
              "How far flow receive windows may grow beyond their initial size, gateway-wide "
              "(limits.window_budget_bytes)",
              window_budget_limit, out);
  RenderGauge("braid_flow_window_max_bytes", "The largest receive window of a live flow (0: no flow)",
              flow_window_max, out);
  RenderGauge("braid_policy_version", "Version of the Security Filter Table in force (1 = loaded at start)",
              policy_version, out);
  RenderCounters(reloads, out);
}

void RenderLaneMetrics(std::span<const LaneSample> lanes, std::string* out) {
  static const std::vector<std::string> kLabels = {"peer", "role", "lane"};
  std::vector<Sample> samples;
  for (const LaneMetric& m : kLaneMetrics) {
    samples.clear();
    for (const LaneSample& l : lanes) samples.push_back({{l.peer, l.role, std::to_string(l.lane)}, m.value(l)});
    RenderSamples(m.name, m.help, m.type, kLabels, samples, out);
  }
}

}  // namespace braid::proxy
