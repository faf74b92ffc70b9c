// AccessLog: one line for every flow that ends, like a web server's access
// log: who, to where, through which peer, how much each way, how long, how
// it ended and which rule admitted or refused it.
//
// Text (tests and operators grep it; the field order is fixed):
//   flow 7 ingress src=10.0.0.5:41000 target=10.2.0.9:5432 peer=gw-cloud
//     sent=123 received=456 duration=12ms end=completed rule=pg-repl
//     [detail=...]                                            (one line)
// JSON (log.json): the same fields as members, with "log":"access".
#ifndef BRAID_PROXY_FLOW_ACCESS_LOG_H_
#define BRAID_PROXY_FLOW_ACCESS_LOG_H_

#include <chrono>
#include <cstdint>
#include <string_view>

#include "proxy/flow/close_reason.h"

namespace braid::proxy {

struct AccessRecord {
  uint32_t flow_id = 0;  // 0: refused before it became a flow
  uint64_t tunnel_id = 0;
  std::string_view side;  // "ingress" or "egress"
  std::string_view source;
  std::string_view target;
  std::string_view peer;
  uint64_t sent = 0;      // bytes from the host, into the tunnel
  uint64_t received = 0;  // bytes out of the tunnel, to the host
  std::chrono::milliseconds duration{0};
  CloseReason reason = CloseReason::kCompleted;
  std::string_view rule;  // "" = the default rule
  std::string_view detail;
};

// WriteAccessLog logs `r` at info level (warn for refusals and resets).
void WriteAccessLog(const AccessRecord& r);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_FLOW_ACCESS_LOG_H_
