// braid wire protocol, version 2: the frames two gateways exchange inside the
// TLS byte stream of each lane of a tunnel. docs/protocol.md is the
// specification; this header is its vocabulary: constants, reason codes, the
// fixed header and one plain struct per frame type.
//
// Every frame is a 16-byte big-endian header followed by `length` payload
// bytes:
//
//    0        1        2        4            8                    16
//   +--------+--------+--------+------------+--------------------+---------
//   | type   | flags  | length | flow id    | value              | payload
//   | u8     | u8 (0) | u16    | u32        | u64                | length B
//   +--------+--------+--------+------------+--------------------+---------
//
// The header is 16 bytes so that payloads stay 8-byte aligned relative to
// the frame start, and a whole frame (16 + at most 16368 bytes) fits one TLS
// record. `value` is the per-type scalar: a sequence number, a credit limit, a
// reason code, a tunnel id or a ping cookie.
//
// The frame structs below hold views (std::string_view) for their variable
// parts. A struct produced by ParsePayload points into the payload it was
// given (the string the lane's FrameReader handed out) and is valid as long
// as that is; a struct passed to an encoder only needs to live for the call.
#ifndef BRAID_WIRE_H_
#define BRAID_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "braid/flow_key.h"
#include "braid/ip_address.h"

namespace braid::wire {

// ALPN "braid/1" selects this version; LANE_HELLO repeats it so that a lane
// can be diagnosed without the TLS layer.
// Version 2 added per-lane acknowledgement (ACK), lane-loss recovery
// (LANE_LOST) and the lane generation in LANE_HELLO. Version 3 added
// make-before-break rotation: a LANE_HELLO for a lane whose connection is up
// retires that connection instead of replacing it at once, and ROTATE lets
// the acceptor ask for it.
inline constexpr uint16_t kProtocolVersion = 3;

inline constexpr size_t kHeaderSize = 16;
// TLS 1.3 records carry at most 2^14 plaintext bytes: one frame, one record.
inline constexpr size_t kMaxFrameSize = 16384;
inline constexpr size_t kMaxPayload = kMaxFrameSize - kHeaderSize;  // 16368

inline constexpr size_t kBinderSize = 32;
inline constexpr uint16_t kMaxLanes = 256;
inline constexpr size_t kLaneHelloPayloadSize = 40;
inline constexpr size_t kOpenFixedPayloadSize = 44;
inline constexpr size_t kOpenOkPayloadSize = 4;
inline constexpr size_t kCreditPayloadSize = 8;
inline constexpr size_t kLaneLostPayloadSize = 8;
inline constexpr size_t kRotatePayloadSize = 8;
// Host names in OPEN: 1..253 bytes of [A-Za-z0-9._-].
inline constexpr size_t kMaxNameLength = 253;
// Rule ids in OPEN_REFUSED are truncated to this many bytes by the encoder.
inline constexpr size_t kMaxRuleIdLength = 255;
// Human-readable text in OPEN_REFUSED, RST and GOAWAY: opaque bytes, escaped
// by whoever logs them, truncated to this many bytes by the encoder.
inline constexpr size_t kMaxTextLength = 1024;

enum class FrameType : uint8_t {
  kLaneHello = 0x01,
  kOpen = 0x02,
  kOpenOk = 0x03,
  kOpenRefused = 0x04,
  kData = 0x05,
  kFin = 0x06,
  kRst = 0x07,
  kCredit = 0x08,
  kPing = 0x09,
  kPong = 0x0a,
  kGoaway = 0x0b,
  kAck = 0x0c,
  kLaneLost = 0x0d,
  kRotate = 0x0e,
};
inline constexpr uint8_t kMinFrameType = 0x01;
inline constexpr uint8_t kMaxFrameType = 0x0e;

// IsCounted: whether a frame of this type is numbered on its lane, kept by
// the sender until the peer acknowledges it, and resent if the lane is lost.
// These are the flow frames (OPEN to CREDIT) and LANE_LOST, which must
// arrive exactly once even if the lane it went on is lost in its turn: a
// side that never learns the peer's count can never resend. The tunnel's
// other frames (LANE_HELLO, PING, PONG, GOAWAY, ACK, ROTATE) mean something
// only on the lane, or at the moment, they are sent.
inline constexpr bool IsCounted(FrameType type) {
  return (type >= FrameType::kOpen && type <= FrameType::kCredit) || type == FrameType::kLaneLost;
}

// No flag is defined in version 1: every flags byte must be zero.
inline constexpr uint8_t kDefinedFlags = 0x00;

// Which end of the tunnel a gateway is. The dialer (TLS client of lane 0)
// allocates odd flow ids, the acceptor even ones; ids increase and are never
// reused within a tunnel.
enum class Role : uint8_t { kDialer = 1, kAcceptor = 2 };
inline constexpr bool IsAllocatedBy(uint32_t flow_id, Role role) {
  return flow_id != 0 && ((flow_id & 1u) == 1u) == (role == Role::kDialer);
}

// OPEN_REFUSED reasons (the `value` field).
enum class RefuseReason : uint16_t {
  kPolicyDenied = 1,       // the egress SFT denied it; rule_id names the rule
                           // (empty rule_id: default deny, no rule matched)
  kConnectionRefused = 2,  // the target answered with a reset
  kTimeout = 3,            // connecting to the target timed out
  kNoRoute = 4,            // network or host unreachable
  kResolveFailed = 5,      // the target name did not resolve
  kLimit = 6,              // the egress gateway is at a flow or memory limit
  kShuttingDown = 7,       // the egress gateway sent or is about to send GOAWAY
  kUnsupported = 8,        // e.g. a protocol the egress gateway does not carry
  kInternal = 9,
};
inline constexpr uint16_t kMaxRefuseReason = 9;

// RST reasons (the `value` field). RST aborts both directions of a flow; the
// receiver resets its host connection (never a clean EOF).
enum class ResetReason : uint16_t {
  kHostReset = 1,       // the sender's host reset its TCP connection, or
                        // reading from / writing to it failed
  kPolicyRevoked = 2,   // a policy reload denies the flow (text: rule id)
  kIdleTimeout = 3,     // the flow was idle for too long
  kResourceLimit = 4,   // the sender ran out of a configured resource
  kShuttingDown = 5,    // drain deadline passed while the flow was open
  kInternal = 6,
};
inline constexpr uint16_t kMaxResetReason = 6;

// GOAWAY reasons (the `value` field). Any reason except kNoError means the
// sender saw a fatal error and is closing every lane right after.
enum class GoawayReason : uint16_t {
  kNoError = 0,           // graceful: idle teardown, shutdown, config change
  kProtocolError = 1,     // a malformed frame or a broken protocol rule
  kFlowControlError = 2,  // the peer sent beyond the credit it was granted
  kLaneRejected = 3,      // bad LANE_HELLO: binder, tunnel id, lane index
  kVersionMismatch = 4,   // LANE_HELLO carries a version the sender lacks
  kKeepaliveTimeout = 5,  // a lane was silent past the keepalive timeout
  kFlowIdsExhausted = 6,  // the sender has no flow ids left on this tunnel
  kInternal = 7,
};
inline constexpr uint16_t kMaxGoawayReason = 7;

// FrameHeader is the decoded fixed header. `length` is the payload length.
struct FrameHeader {
  FrameType type = FrameType::kPing;
  uint8_t flags = 0;
  uint16_t length = 0;
  uint32_t flow_id = 0;
  uint64_t value = 0;
  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

// LANE_HELLO: the first frame each side sends on every lane.
struct LaneHello {
  uint64_t tunnel_id = 0;  // chosen at random by the dialer; nonzero
  uint16_t version = kProtocolVersion;
  uint16_t lane_index = 0;  // < lane_count
  uint16_t lane_count = 1;  // 1..kMaxLanes
  // Which connection of lane `lane_index` this is: 0 for the first, and a
  // new value each time the dialer redials the lane.
  uint16_t generation = 0;
  std::array<uint8_t, kBinderSize> binder{};  // see docs/protocol.md
  friend bool operator==(const LaneHello&, const LaneHello&) = default;
};

// OPEN: asks the peer to connect to a target and carry a flow to it. The
// receiver takes src_gateway from the peer's certificate, never from here.
struct Open {
  uint32_t flow_id = 0;  // allocated by the sender's Role
  Protocol protocol = Protocol::kTcp;
  IpAddress src_address{};  // the host connected to the ingress gateway
  uint16_t src_port = 0;
  // The target: a name to resolve on the egress side when target_name is
  // not empty (target_address is then ignored and encoded as zero),
  // otherwise target_address.
  IpAddress target_address{};
  std::string_view target_name{};
  uint16_t target_port = 0;  // nonzero
  // Credit the opener grants for the reverse direction (egress -> ingress).
  uint64_t initial_byte_credit = 0;
  uint32_t initial_seq_credit = 0;
  friend bool operator==(const Open&, const Open&) = default;
};

// OPEN_OK: the egress gateway connected to the target.
struct OpenOk {
  uint32_t flow_id = 0;
  // Credit for the forward direction (ingress -> egress).
  uint64_t initial_byte_credit = 0;
  uint32_t initial_seq_credit = 0;
  friend bool operator==(const OpenOk&, const OpenOk&) = default;
};

struct OpenRefused {
  uint32_t flow_id = 0;
  RefuseReason reason = RefuseReason::kInternal;
  std::string_view rule_id{};  // only with kPolicyDenied
  std::string_view text{};
  friend bool operator==(const OpenRefused&, const OpenRefused&) = default;
};

// DATA: 1..kMaxPayload bytes of one direction of a flow. `seq` counts the
// DATA frames of that direction from 0.
struct Data {
  uint32_t flow_id = 0;
  uint64_t seq = 0;
  std::string_view payload{};
  friend bool operator==(const Data&, const Data&) = default;
};

// FIN: half-close of one direction after exactly `final_seq` DATA frames.
struct Fin {
  uint32_t flow_id = 0;
  uint64_t final_seq = 0;
  friend bool operator==(const Fin&, const Fin&) = default;
};

// RST: aborts the flow, both directions.
struct Rst {
  uint32_t flow_id = 0;
  ResetReason reason = ResetReason::kInternal;
  std::string_view text{};
  friend bool operator==(const Rst&, const Rst&) = default;
};

// CREDIT: absolute limits for the direction the receiver of CREDIT sends:
// total DATA payload bytes <= byte_limit and every DATA seq < seq_limit.
// Limits only grow; a smaller one (reordered across lanes) is ignored.
struct Credit {
  uint32_t flow_id = 0;
  uint64_t byte_limit = 0;
  uint64_t seq_limit = 0;
  friend bool operator==(const Credit&, const Credit&) = default;
};

struct Ping {
  uint64_t opaque = 0;
  friend bool operator==(const Ping&, const Ping&) = default;
};
struct Pong {
  uint64_t opaque = 0;
  friend bool operator==(const Pong&, const Pong&) = default;
};

// GOAWAY: the sender opens no more flows and accepts no OPEN with an id above
// last_flow_id (an id the receiver allocated; 0 = none accepted).
struct Goaway {
  uint32_t last_flow_id = 0;
  GoawayReason reason = GoawayReason::kNoError;
  std::string_view text{};
  friend bool operator==(const Goaway&, const Goaway&) = default;
};

// ACK: the sender has received `received` counted frames (IsCounted) on
// this lane connection since it came up. Cumulative; sent on the same lane.
struct Ack {
  uint64_t received = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

// LANE_LOST: connection `generation` of lane `lane_index` is gone; the
// sender had received `received` counted frames on it, and reads nothing
// more from it. Sent on any other lane; each side sends it once per lost
// connection, and resends its own frames from the peer's count on.
struct LaneLost {
  uint16_t lane_index = 0;
  uint16_t generation = 0;
  uint64_t received = 0;
  friend bool operator==(const LaneLost&, const LaneLost&) = default;
};

// ROTATE: the acceptor asks the dialer to replace connection `generation`
// of lane `lane_index` with a new one, make-before-break (the acceptor
// cannot dial). Only the acceptor sends it; a dialer whose connection of
// that lane is another one by now ignores it.
struct Rotate {
  uint16_t lane_index = 0;
  uint16_t generation = 0;
  friend bool operator==(const Rotate&, const Rotate&) = default;
};

// Frame: one decoded frame. The alternative index is the frame type - 1.
using Frame = std::variant<LaneHello, Open, OpenOk, OpenRefused, Data, Fin, Rst, Credit,
                           Ping, Pong, Goaway, Ack, LaneLost, Rotate>;

static_assert(std::variant_size_v<Frame> == kMaxFrameType, "one alternative per frame type");

inline FrameType TypeOf(const Frame& frame) {
  return static_cast<FrameType>(frame.index() + 1);
}

inline constexpr std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kLaneHello: return "LANE_HELLO";
    case FrameType::kOpen: return "OPEN";
    case FrameType::kOpenOk: return "OPEN_OK";
    case FrameType::kOpenRefused: return "OPEN_REFUSED";
    case FrameType::kData: return "DATA";
    case FrameType::kFin: return "FIN";
    case FrameType::kRst: return "RST";
    case FrameType::kCredit: return "CREDIT";
    case FrameType::kPing: return "PING";
    case FrameType::kPong: return "PONG";
    case FrameType::kGoaway: return "GOAWAY";
    case FrameType::kAck: return "ACK";
    case FrameType::kLaneLost: return "LANE_LOST";
    case FrameType::kRotate: return "ROTATE";
  }
  return "UNKNOWN";
}

inline constexpr std::string_view RefuseReasonName(RefuseReason reason) {
  switch (reason) {
    case RefuseReason::kPolicyDenied: return "policy_denied";
    case RefuseReason::kConnectionRefused: return "connection_refused";
    case RefuseReason::kTimeout: return "timeout";
    case RefuseReason::kNoRoute: return "no_route";
    case RefuseReason::kResolveFailed: return "resolve_failed";
    case RefuseReason::kLimit: return "limit";
    case RefuseReason::kShuttingDown: return "shutting_down";
    case RefuseReason::kUnsupported: return "unsupported";
    case RefuseReason::kInternal: return "internal";
  }
  return "unknown";
}

inline constexpr std::string_view ResetReasonName(ResetReason reason) {
  switch (reason) {
    case ResetReason::kHostReset: return "host_reset";
    case ResetReason::kPolicyRevoked: return "policy_revoked";
    case ResetReason::kIdleTimeout: return "idle_timeout";
    case ResetReason::kResourceLimit: return "resource_limit";
    case ResetReason::kShuttingDown: return "shutting_down";
    case ResetReason::kInternal: return "internal";
  }
  return "unknown";
}

inline constexpr std::string_view GoawayReasonName(GoawayReason reason) {
  switch (reason) {
    case GoawayReason::kNoError: return "no_error";
    case GoawayReason::kProtocolError: return "protocol_error";
    case GoawayReason::kFlowControlError: return "flow_control_error";
    case GoawayReason::kLaneRejected: return "lane_rejected";
    case GoawayReason::kVersionMismatch: return "version_mismatch";
    case GoawayReason::kKeepaliveTimeout: return "keepalive_timeout";
    case GoawayReason::kFlowIdsExhausted: return "flow_ids_exhausted";
    case GoawayReason::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace braid::wire

#endif  // BRAID_WIRE_H_
