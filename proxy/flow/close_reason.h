// CloseReason: why a flow ended. Every flow that ends is logged and counted
// with exactly one of these.
#ifndef BRAID_PROXY_FLOW_CLOSE_REASON_H_
#define BRAID_PROXY_FLOW_CLOSE_REASON_H_

#include <cstdint>
#include <string_view>

namespace braid::proxy {

enum class CloseReason : uint8_t {
  kCompleted,        // both directions finished cleanly
  kDeniedIngress,    // this gateway's SFT refused it
  kDeniedEgress,     // the peer gateway's SFT refused it
  kRefused,          // the target refused, timed out or did not resolve
  kHostReset,        // a host reset its connection or an I/O error
  kPeerReset,        // the peer gateway aborted it (RST)
  kTunnelLost,       // the tunnel failed (protocol error, peer went away)
  kLanesLost,        // no lane of the tunnel was up for lane_loss_grace
  kPolicyRevoked,    // a policy update denies it now
  kOpenTimeout,      // no answer to OPEN in time
  kLimit,            // a configured limit
  kShutdown,         // the gateway is stopping
};

inline std::string_view CloseReasonName(CloseReason r) {
  switch (r) {
    case CloseReason::kCompleted: return "completed";
    case CloseReason::kDeniedIngress: return "denied_ingress";
    case CloseReason::kDeniedEgress: return "denied_egress";
    case CloseReason::kRefused: return "refused";
    case CloseReason::kHostReset: return "host_reset";
    case CloseReason::kPeerReset: return "peer_reset";
    case CloseReason::kTunnelLost: return "tunnel_lost";
    case CloseReason::kLanesLost: return "lanes_lost";
    case CloseReason::kPolicyRevoked: return "policy_revoked";
    case CloseReason::kOpenTimeout: return "open_timeout";
    case CloseReason::kLimit: return "limit";
    case CloseReason::kShutdown: return "shutdown";
  }
  return "unknown";
}

}  // namespace braid::proxy

#endif  // BRAID_PROXY_FLOW_CLOSE_REASON_H_
