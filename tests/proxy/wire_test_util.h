// Helpers shared by the wire codec tests: sample frames of every type and a
// builder for raw (possibly invalid) frames.
#ifndef BRAID_TESTS_PROXY_WIRE_TEST_UTIL_H_
#define BRAID_TESTS_PROXY_WIRE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "braid/wire.h"
#include "proxy/wire/big_endian.h"

namespace braid::proxy::testing {

// RawFrame builds a frame byte by byte, without validation.
inline std::string RawFrame(uint8_t type, uint8_t flags, uint32_t flow_id, uint64_t value,
                            std::string_view payload, int length_override = -1) {
  std::string out(wire::kHeaderSize, '\0');
  out[0] = static_cast<char>(type);
  out[1] = static_cast<char>(flags);
  be::Store16(out.data() + 2,
              static_cast<uint16_t>(length_override >= 0 ? length_override : payload.size()));
  be::Store32(out.data() + 4, flow_id);
  be::Store64(out.data() + 8, value);
  out.append(payload);
  return out;
}

inline std::string Binder(uint8_t seed) {
  std::string b(wire::kBinderSize, '\0');
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(seed + i * 7);
  return b;
}

// SampleFrames: at least one frame of every type, with edge values. Views
// point into static storage.
inline std::vector<wire::Frame> SampleFrames() {
  static const std::string kMaxData(wire::kMaxPayload, 'x');
  static const std::string kLongName(wire::kMaxNameLength, 'n');
  std::vector<wire::Frame> frames;
  wire::LaneHello hello{.tunnel_id = 0x0123456789abcdefULL,
                        .version = wire::kProtocolVersion,
                        .lane_index = 3,
                        .lane_count = 4,
                        .generation = 7};
  for (size_t i = 0; i < hello.binder.size(); ++i) hello.binder[i] = static_cast<uint8_t>(i * 9);
  frames.push_back(hello);
  frames.push_back(wire::LaneHello{.tunnel_id = ~0ULL, .lane_index = 255, .lane_count = 256});
  frames.push_back(wire::Open{.flow_id = 1,
                              .protocol = Protocol::kTcp,
                              .src_address = IpAddress::V4(0x0a000001),
                              .src_port = 40000,
                              .target_address = IpAddress::V4(0x0a020009),
                              .target_port = 5432,
                              .initial_byte_credit = 1 << 20,
                              .initial_seq_credit = 1024});
  frames.push_back(wire::Open{.flow_id = 0xfffffffe,
                              .protocol = Protocol::kUdp,
                              .src_address = IpAddress::V6(0x20010db800000000ULL, 1),
                              .src_port = 1,
                              .target_name = "db.internal.example",
                              .target_port = 65535,
                              .initial_byte_credit = ~0ULL,
                              .initial_seq_credit = ~0U});
  frames.push_back(wire::Open{.flow_id = 3,
                              .src_address = IpAddress::V4(0x7f000001),
                              .target_address = IpAddress::V6(~0ULL, ~0ULL),
                              .target_port = 443});
  frames.push_back(wire::Open{.flow_id = 5, .target_name = kLongName, .target_port = 80});
  frames.push_back(wire::OpenOk{.flow_id = 7, .initial_byte_credit = 65536,
                                .initial_seq_credit = 64});
  frames.push_back(wire::OpenRefused{.flow_id = 9,
                                     .reason = wire::RefuseReason::kPolicyDenied,
                                     .rule_id = "deny-db-from-dmz",
                                     .text = "denied by rule deny-db-from-dmz"});
  frames.push_back(wire::OpenRefused{.flow_id = 11, .reason = wire::RefuseReason::kPolicyDenied});
  frames.push_back(wire::OpenRefused{.flow_id = 13,
                                     .reason = wire::RefuseReason::kConnectionRefused,
                                     .text = "connect: Connection refused"});
  for (uint16_t r = 1; r <= wire::kMaxRefuseReason; ++r) {
    frames.push_back(wire::OpenRefused{.flow_id = 15, .reason = wire::RefuseReason{r}});
  }
  frames.push_back(wire::Data{.flow_id = 1, .seq = 0, .payload = "a"});
  frames.push_back(wire::Data{.flow_id = 2, .seq = ~0ULL, .payload = kMaxData});
  frames.push_back(wire::Fin{.flow_id = 1, .final_seq = 0});
  frames.push_back(wire::Fin{.flow_id = 4, .final_seq = 123456789});
  for (uint16_t r = 1; r <= wire::kMaxResetReason; ++r) {
    frames.push_back(wire::Rst{.flow_id = 17, .reason = wire::ResetReason{r}});
  }
  frames.push_back(wire::Rst{.flow_id = 19, .reason = wire::ResetReason::kPolicyRevoked,
                             .text = "rule allow-db removed"});
  frames.push_back(wire::Credit{.flow_id = 21, .byte_limit = 1ULL << 40, .seq_limit = 77});
  frames.push_back(wire::Ping{.opaque = 42});
  frames.push_back(wire::Pong{.opaque = ~0ULL});
  for (uint16_t r = 0; r <= wire::kMaxGoawayReason; ++r) {
    frames.push_back(wire::Goaway{.last_flow_id = 0, .reason = wire::GoawayReason{r}});
  }
  frames.push_back(wire::Goaway{.last_flow_id = 1001,
                                .reason = wire::GoawayReason::kProtocolError,
                                .text = "bad LANE_HELLO"});
  frames.push_back(wire::Ack{.received = 0});
  frames.push_back(wire::Ack{.received = ~0ULL});
  frames.push_back(wire::LaneLost{.lane_index = 3, .generation = 65535, .received = 1234567});
  frames.push_back(wire::LaneLost{.lane_index = 255, .generation = 0, .received = 0});
  frames.push_back(wire::Rotate{.lane_index = 7, .generation = 65535});
  frames.push_back(wire::Rotate{.lane_index = 255, .generation = 0});
  return frames;
}

}  // namespace braid::proxy::testing

#endif  // BRAID_TESTS_PROXY_WIRE_TEST_UTIL_H_
