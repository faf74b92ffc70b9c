#include "proxy/wire/frame_codec.h"

#include <algorithm>
#include <cstring>

#include "proxy/wire/big_endian.h"
#include "proxy/wire/frame_layout.h"

namespace braid::proxy {
namespace {

using wire::FrameHeader;
using wire::FrameType;
using namespace layout;

bool IsTunnelFrame(FrameType type) {
  return type == FrameType::kLaneHello || type == FrameType::kPing || type == FrameType::kPong ||
         type == FrameType::kAck || type == FrameType::kLaneLost || type == FrameType::kRotate;
}

bool IsZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

DecodeError ParseAddress(uint8_t family, const char* bytes, IpAddress* out) {
  if (family == kFamilyV4) {
    if (!IsZero(std::string_view(bytes + 4, 12))) return DecodeError::kReservedNotZero;
    *out = IpAddress::V4(be::Load32(bytes));
    return DecodeError::kNone;
  }
  if (family == kFamilyV6) {
    *out = IpAddress::V6(be::Load64(bytes), be::Load64(bytes + 8));
    return DecodeError::kNone;
  }
  return DecodeError::kBadAddress;
}

// Length rule per type: [min, max] payload bytes.
struct LengthRule {
  size_t min;
  size_t max;
};
LengthRule LengthRuleFor(FrameType type) {
  switch (type) {
    case FrameType::kLaneHello: return {wire::kLaneHelloPayloadSize, wire::kLaneHelloPayloadSize};
    case FrameType::kOpen:
      return {wire::kOpenFixedPayloadSize, wire::kOpenFixedPayloadSize + wire::kMaxNameLength};
    case FrameType::kOpenOk: return {wire::kOpenOkPayloadSize, wire::kOpenOkPayloadSize};
    case FrameType::kOpenRefused:
      return {1, 1 + wire::kMaxRuleIdLength + wire::kMaxTextLength};
    case FrameType::kData: return {1, wire::kMaxPayload};
    case FrameType::kCredit: return {wire::kCreditPayloadSize, wire::kCreditPayloadSize};
    case FrameType::kRst:
    case FrameType::kGoaway: return {0, wire::kMaxTextLength};
    case FrameType::kLaneLost: return {wire::kLaneLostPayloadSize, wire::kLaneLostPayloadSize};
    case FrameType::kRotate: return {wire::kRotatePayloadSize, wire::kRotatePayloadSize};
    case FrameType::kFin:
    case FrameType::kPing:
    case FrameType::kPong:
    case FrameType::kAck: return {0, 0};
  }
  return {0, 0};
}

}  // namespace

std::string_view DecodeErrorName(DecodeError error) {
  switch (error) {
    case DecodeError::kNone: return "none";
    case DecodeError::kUnknownType: return "unknown frame type";
    case DecodeError::kReservedFlags: return "reserved flags set";
    case DecodeError::kPayloadTooLarge: return "payload over limit";
    case DecodeError::kBadLength: return "bad length for type";
    case DecodeError::kFlowIdZero: return "flow id 0 on a flow frame";
    case DecodeError::kFlowIdNotZero: return "flow id on a tunnel frame";
    case DecodeError::kFlowIdParity: return "flow id allocated by the wrong side";
    case DecodeError::kReservedNotZero: return "reserved field not zero";
    case DecodeError::kEmptyData: return "empty DATA";
    case DecodeError::kBadReason: return "unknown reason code";
    case DecodeError::kBadLaneHello: return "bad LANE_HELLO field";
    case DecodeError::kBadProtocol: return "bad protocol";
    case DecodeError::kBadAddress: return "bad address family or target kind";
    case DecodeError::kBadPort: return "target port 0";
    case DecodeError::kBadName: return "bad target name";
    case DecodeError::kBadRuleId: return "rule id without policy_denied";
    case DecodeError::kTextTooLong: return "text too long";
  }
  return "unknown error";
}

bool IsValidTargetName(std::string_view name) {
  if (name.empty() || name.size() > wire::kMaxNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
  });
}

DecodeError ParseHeader(std::span<const char, wire::kHeaderSize> in,
                        std::optional<wire::Role> local_role, FrameHeader* out) {
  const uint8_t type_byte = static_cast<uint8_t>(in[0]);
  if (type_byte < wire::kMinFrameType || type_byte > wire::kMaxFrameType) {
    return DecodeError::kUnknownType;
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type_byte);
  h.flags = static_cast<uint8_t>(in[1]);
  h.length = be::Load16(in.data() + 2);
  h.flow_id = be::Load32(in.data() + 4);
  h.value = be::Load64(in.data() + 8);
  *out = h;  // raw fields, for error messages, even if invalid below

  if ((h.flags & ~wire::kDefinedFlags) != 0) return DecodeError::kReservedFlags;
  if (h.length > wire::kMaxPayload) return DecodeError::kPayloadTooLarge;
  if (IsTunnelFrame(h.type)) {
    if (h.flow_id != 0) return DecodeError::kFlowIdNotZero;
  } else if (h.type == FrameType::kGoaway) {
    // last_flow_id: 0, or an id this side allocated.
    if (local_role && h.flow_id != 0 && !wire::IsAllocatedBy(h.flow_id, *local_role)) {
      return DecodeError::kFlowIdParity;
    }
  } else {
    if (h.flow_id == 0) return DecodeError::kFlowIdZero;
    if (local_role) {
      const wire::Role peer =
          *local_role == wire::Role::kDialer ? wire::Role::kAcceptor : wire::Role::kDialer;
      if (h.type == FrameType::kOpen && !wire::IsAllocatedBy(h.flow_id, peer)) {
        return DecodeError::kFlowIdParity;
      }
      if ((h.type == FrameType::kOpenOk || h.type == FrameType::kOpenRefused) &&
          !wire::IsAllocatedBy(h.flow_id, *local_role)) {
        return DecodeError::kFlowIdParity;
      }
    }
  }
  const LengthRule rule = LengthRuleFor(h.type);
  if (h.type == FrameType::kData && h.length == 0) return DecodeError::kEmptyData;
  if (h.length < rule.min || h.length > rule.max) return DecodeError::kBadLength;
  return IsValidReason(h.type, h.value) ? DecodeError::kNone : DecodeError::kBadReason;
}

DecodeError ParsePayload(const FrameHeader& h, std::string_view p, wire::Frame* out) {
  // Re-checked here so that this function is safe on its own.
  const LengthRule rule = LengthRuleFor(h.type);
  if (p.size() != h.length || p.size() < rule.min || p.size() > rule.max) {
    return DecodeError::kBadLength;
  }
  switch (h.type) {
    case FrameType::kLaneHello: {
      wire::LaneHello f;
      f.tunnel_id = h.value;
      f.version = be::Load16(p.data());
      f.lane_index = be::Load16(p.data() + 2);
      f.lane_count = be::Load16(p.data() + 4);
      f.generation = be::Load16(p.data() + 6);
      if (f.tunnel_id == 0 || f.version == 0 || f.lane_count == 0 ||
          f.lane_count > wire::kMaxLanes || f.lane_index >= f.lane_count) {
        return DecodeError::kBadLaneHello;
      }
      std::memcpy(f.binder.data(), p.data() + 8, wire::kBinderSize);
      *out = f;
      return DecodeError::kNone;
    }
    case FrameType::kOpen: {
      wire::Open f;
      f.flow_id = h.flow_id;
      f.initial_byte_credit = h.value;
      f.initial_seq_credit = be::Load32(p.data() + kOpenSeqCredit);
      const uint8_t proto = static_cast<uint8_t>(p[kOpenProtocol]);
      if (proto != static_cast<uint8_t>(Protocol::kTcp) &&
          proto != static_cast<uint8_t>(Protocol::kUdp)) {
        return DecodeError::kBadProtocol;
      }
      f.protocol = static_cast<Protocol>(proto);
      f.src_port = be::Load16(p.data() + kOpenSrcPort);
      if (DecodeError e = ParseAddress(static_cast<uint8_t>(p[kOpenSrcFamily]),
                                       p.data() + kOpenSrcAddress, &f.src_address);
          e != DecodeError::kNone) {
        return e;
      }
      const uint8_t kind = static_cast<uint8_t>(p[kOpenTargetKind]);
      const size_t name_len = static_cast<uint8_t>(p[kOpenNameLength]);
      f.target_port = be::Load16(p.data() + kOpenTargetPort);
      if (p.size() != wire::kOpenFixedPayloadSize + name_len) return DecodeError::kBadLength;
      if (kind == kTargetName) {
        if (!IsZero(p.substr(kOpenTargetAddress, 16))) return DecodeError::kReservedNotZero;
        f.target_name = p.substr(wire::kOpenFixedPayloadSize, name_len);
        if (!IsValidTargetName(f.target_name)) return DecodeError::kBadName;
      } else {
        if (name_len != 0) return DecodeError::kReservedNotZero;
        if (DecodeError e = ParseAddress(kind, p.data() + kOpenTargetAddress, &f.target_address);
            e != DecodeError::kNone) {
          return e;
        }
      }
      if (f.target_port == 0) return DecodeError::kBadPort;
      *out = f;
      return DecodeError::kNone;
    }
    case FrameType::kOpenOk:
      *out = wire::OpenOk{h.flow_id, h.value, be::Load32(p.data())};
      return DecodeError::kNone;
    case FrameType::kOpenRefused: {
      wire::OpenRefused f;
      f.flow_id = h.flow_id;
      f.reason = static_cast<wire::RefuseReason>(h.value);
      const size_t rule_len = static_cast<uint8_t>(p[0]);
      if (1 + rule_len > p.size()) return DecodeError::kBadLength;
      if (rule_len != 0 && f.reason != wire::RefuseReason::kPolicyDenied) {
        return DecodeError::kBadRuleId;
      }
      f.rule_id = p.substr(1, rule_len);
      f.text = p.substr(1 + rule_len);
      if (f.text.size() > wire::kMaxTextLength) return DecodeError::kTextTooLong;
      *out = f;
      return DecodeError::kNone;
    }
    case FrameType::kData:
      *out = wire::Data{h.flow_id, h.value, p};
      return DecodeError::kNone;
    case FrameType::kFin:
      *out = wire::Fin{h.flow_id, h.value};
      return DecodeError::kNone;
    case FrameType::kRst:
      *out = wire::Rst{h.flow_id, static_cast<wire::ResetReason>(h.value), p};
      return DecodeError::kNone;
    case FrameType::kCredit:
      *out = wire::Credit{h.flow_id, h.value, be::Load64(p.data())};
      return DecodeError::kNone;
    case FrameType::kPing:
      *out = wire::Ping{h.value};
      return DecodeError::kNone;
    case FrameType::kPong:
      *out = wire::Pong{h.value};
      return DecodeError::kNone;
    case FrameType::kGoaway:
      *out = wire::Goaway{h.flow_id, static_cast<wire::GoawayReason>(h.value), p};
      return DecodeError::kNone;
    case FrameType::kAck:
      *out = wire::Ack{h.value};
      return DecodeError::kNone;
    case FrameType::kLaneLost: {
      wire::LaneLost f{be::Load16(p.data()), be::Load16(p.data() + 2), h.value};
      if (be::Load32(p.data() + 4) != 0) return DecodeError::kReservedNotZero;
      if (f.lane_index >= wire::kMaxLanes) return DecodeError::kBadLaneHello;
      *out = f;
      return DecodeError::kNone;
    }
    case FrameType::kRotate: {
      wire::Rotate f{be::Load16(p.data()), be::Load16(p.data() + 2)};
      if (h.value != 0 || be::Load32(p.data() + 4) != 0) return DecodeError::kReservedNotZero;
      if (f.lane_index >= wire::kMaxLanes) return DecodeError::kBadLaneHello;
      *out = f;
      return DecodeError::kNone;
    }
  }
  return DecodeError::kUnknownType;
}

DecodeError ParseFrame(std::string_view bytes, std::optional<wire::Role> local_role,
                       wire::Frame* out) {
  if (bytes.size() < wire::kHeaderSize) return DecodeError::kBadLength;
  FrameHeader header;
  if (DecodeError e = ParseHeader(std::span<const char, wire::kHeaderSize>(bytes.data(),
                                                                           wire::kHeaderSize),
                                  local_role, &header);
      e != DecodeError::kNone) {
    return e;
  }
  if (bytes.size() != wire::kHeaderSize + header.length) return DecodeError::kBadLength;
  return ParsePayload(header, bytes.substr(wire::kHeaderSize), out);
}

}  // namespace braid::proxy
