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
// to the series they update (Family::With at set-up, not per frame).
#ifndef BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_
#define BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_

#include <string>

#include "proxy/admin/metrics.h"

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
  Family<Counter> peer_bytes;      // peer, direction
  Family<Counter> lane_bytes;      // peer, lane, direction
  Family<Counter> handshakes;      // side, result, resumed
  HistogramFamily tunnel_setup;    // seconds until the first lane carries
  Counter key_updates;
  Gauge reassembly_bytes;          // held for reordering or a slow host

  // The gateway itself.
  Gauge policy_version;
  Family<Counter> reloads;  // result

  // RenderPrometheus appends every metric in the text format to *out.
  void RenderPrometheus(std::string* out) const;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_ADMIN_GATEWAY_METRICS_H_
