// FlowKey: what the Security Filter Table decides on. The gateway builds one
// per host connection (ingress) and per open request (egress).
#ifndef BRAID_FLOW_KEY_H_
#define BRAID_FLOW_KEY_H_

#include <cstdint>
#include <string>

#include "braid/ip_address.h"

namespace braid {

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17 };

struct FlowKey {
  IpAddress src;
  IpAddress dst;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  Protocol proto = Protocol::kTcp;
  // Names of the gateways on either side. Empty means unknown: a rule that
  // lists gateways never matches an unknown one.
  std::string src_gateway;
  std::string dst_gateway;
};

}  // namespace braid

#endif  // BRAID_FLOW_KEY_H_
