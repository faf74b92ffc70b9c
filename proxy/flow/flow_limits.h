// FlowLimits: how many flows a gateway carries at once, in all and per
// source address. Every flow, ingress or egress, is admitted here exactly
// once before it is created and released exactly once when it ends, so a
// flood of connections costs bounded memory.
//
// Thread-safety: none; lives on the control worker with the flows.
#ifndef BRAID_PROXY_FLOW_FLOW_LIMITS_H_
#define BRAID_PROXY_FLOW_FLOW_LIMITS_H_

#include <cstdint>
#include <map>
#include <string>

#include "braid/ip_address.h"
#include "proxy/admin/gateway_metrics.h"

namespace braid::proxy {

class FlowLimits {
 public:
  // Live flows and refusals are counted in `metrics` (flows_live,
  // limit_hits).
  FlowLimits(uint32_t max_flows, uint32_t max_flows_per_source, GatewayMetrics& metrics)
      : max_flows_(max_flows), max_per_source_(max_flows_per_source), metrics_(metrics) {}

  // TryAdmit counts a new flow from `source`. Returns false, counting
  // nothing and saying which limit in *why, when a limit is reached.
  bool TryAdmit(const IpAddress& source, std::string* why) {
    if (live_ >= max_flows_) {
      *why = "limit of " + std::to_string(max_flows_) + " live flows reached";
      metrics_.limit_hits.With({"max_flows"}).Add();
      return false;
    }
    uint32_t& count = per_source_[source];
    if (count >= max_per_source_) {
      *why = "limit of " + std::to_string(max_per_source_) + " live flows from " + source.ToString() + " reached";
      metrics_.limit_hits.With({"max_flows_per_source"}).Add();
      return false;
    }
    ++count;
    ++live_;
    metrics_.flows_live.Add();
    return true;
  }

  // Release uncounts a flow admitted by TryAdmit.
  void Release(const IpAddress& source) {
    auto it = per_source_.find(source);
    if (it == per_source_.end()) return;
    if (--it->second == 0) per_source_.erase(it);
    --live_;
    metrics_.flows_live.Sub();
  }

  uint32_t live() const { return live_; }
  // SetLimits takes new limits (a reload); flows over them go on.
  void SetLimits(uint32_t max_flows, uint32_t max_flows_per_source) {
    max_flows_ = max_flows;
    max_per_source_ = max_flows_per_source;
  }

 private:
  uint32_t max_flows_;
  uint32_t max_per_source_;
  GatewayMetrics& metrics_;
  uint32_t live_ = 0;
  std::map<IpAddress, uint32_t> per_source_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_FLOW_FLOW_LIMITS_H_
