// GatewayMetrics: every metric braid-proxy exports, declared in one list,
// and their rendering for the admin endpoint's /metrics.
//
// Names follow Prometheus conventions: a braid_ prefix, base units
// (bytes, seconds), _total on counters. docs/operations.md lists them with
// what to watch. Label values come from the configuration (peer names,
// rule ids) or small fixed sets (reasons, sides), so the number of series
// is bounded by the configuration, never by traffic.
//
// One GatewayMetrics lives as long as the gateway; objects keep references
// to the series they update (Family::With at set-up, not per frame). What
// describes live objects rather than counts events (the lanes' TCP state,
// flow windows) is read from them at each scrape instead (AdminServer).
#ifndef BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_
#define BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_

#include <cstdint>
#include <span>
#include <string>

#include "proxy/admin/metrics.h"
#include "proxy/tunnel/tcp_stats.h"

namespace braid::proxy {

struct GatewayMetrics {
  GatewayMetrics();

  // Flows.
  Gauge flows_live;
  Family<Counter> flows_ended;  // side, reason, rule
  HistogramFamily flow_duration;
  Family<Counter> sft_decisions;  // side, action, rule
  Family<Counter> limit_hits;     // limit

  // Tunnels and lanes, per peer.
  Family<Gauge> tunnels_up;        // peer
  Family<Gauge> lanes_up;          // peer
  Family<Counter> lanes_lost;      // peer: lane connections lost (not closed by a GOAWAY)
  Family<Counter> lanes_redialed;  // peer: lane connections that replaced a lost one
  Family<Counter> lanes_retired;   // peer: lane connections retired make-before-break
  Family<Counter> frames_resent;   // peer: frames resent after a lane loss
  Family<Counter> peer_bytes;      // peer, direction
  Family<Counter> lane_bytes;      // peer, lane, direction
  Family<Counter> handshakes;      // side, result, resumed
  HistogramFamily tunnel_setup;    // seconds until the first lane carries
  Counter key_updates;
  Gauge reassembly_bytes;          // held for reordering or a slow host

  // Flow receive windows (proxy/stripe/flow_window.h), set at each scrape.
  Gauge window_budget_used;   // growth reserved beyond initial windows, gateway-wide
  Gauge window_budget_limit;  // limits.window_budget_bytes
  Gauge flow_window_max;      // the largest receive window of a live flow

  // The gateway itself.
  Gauge policy_version;
  Family<Counter> reloads;  // result

  // RenderPrometheus appends every metric in the text format to *out.
  void RenderPrometheus(std::string* out) const;
};

// LaneSample: a lane that is up, as a scrape finds it (Tunnel::Lanes()).
struct LaneSample {
  std::string peer;
  std::string role;  // its tunnel's: dialer or acceptor
  uint16_t lane;
  TcpStats tcp;
  uint64_t unacked_bytes = 0;  // LaneLedger: sent, kept until acknowledged
};

// RenderLaneMetrics appends the per-lane TCP metrics (braid_lane_rtt_seconds
// and the rest, labels peer, role, lane), one series per sample. They are
// made from the lanes up at the scrape, so a lane that went down has no
// series rather than a stale one. At most one sample per (peer, role, lane).
void RenderLaneMetrics(std::span<const LaneSample> lanes, std::string* out);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_
