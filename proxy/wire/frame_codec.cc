#include "proxy/wire/frame_codec.h"

#include <algorithm>
#include <cstring>

#include "proxy/wire/big_endian.h"

namespace braid::proxy {
namespace {

using wire::FrameHeader;
using wire::FrameType;

// OPEN payload layout (docs/protocol.md, "OPEN").
constexpr size_t kOpenSeqCredit = 0;
constexpr size_t kOpenProtocol = 4;
constexpr size_t kOpenSrcFamily = 5;
constexpr size_t kOpenSrcPort = 6;
constexpr size_t kOpenSrcAddress = 8;
constexpr size_t kOpenTargetKind = 24;
constexpr size_t kOpenNameLength = 25;
constexpr size_t kOpenTargetPort = 26;
constexpr size_t kOpenTargetAddress = 28;
static_assert(kOpenTargetAddress + 16 == wire::kOpenFixedPayloadSize);

constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;
constexpr uint8_t kTargetName = 1;

bool IsTunnelFrame(FrameType type) {
  return type == FrameType::kLaneHello || type == FrameType::kPing || type == FrameType::kPong;
}

bool IsZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// Writes an address as 16 bytes: IPv4 in the first 4, the rest zero.
void AppendAddress(std::string* out, const IpAddress& address) {
  if (address.is_v4()) {
    be::Append32(out, address.v4());
    out->append(12, '\0');
  } else {
    be::Append64(out, address.hi());
    be::Append64(out, address.lo());
  }
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

uint8_t FamilyCode(const IpAddress& address) { return address.is_v4() ? kFamilyV4 : kFamilyV6; }

void AppendHeader(std::string* out, FrameType type, uint32_t flow_id, uint64_t value,
                  size_t payload_len) {
  char header[wire::kHeaderSize];
  EncodeHeader({type, 0, static_cast<uint16_t>(payload_len), flow_id, value},
               std::span<char, wire::kHeaderSize>(header, wire::kHeaderSize));
  out->append(header, wire::kHeaderSize);
}

std::string_view Truncate(std::string_view text, size_t max) { return text.substr(0, max); }

DecodeError CheckReason(FrameType type, uint64_t value) {
  switch (type) {
    case FrameType::kOpenRefused:
      return value >= 1 && value <= wire::kMaxRefuseReason ? DecodeError::kNone
                                                           : DecodeError::kBadReason;
    case FrameType::kRst:
      return value >= 1 && value <= wire::kMaxResetReason ? DecodeError::kNone
                                                          : DecodeError::kBadReason;
    case FrameType::kGoaway:
      return value <= wire::kMaxGoawayReason ? DecodeError::kNone : DecodeError::kBadReason;
    default:
      return DecodeError::kNone;
  }
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
    case FrameType::kFin:
    case FrameType::kPing:
    case FrameType::kPong: return {0, 0};
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
  return CheckReason(h.type, h.value);
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
      if (be::Load16(p.data() + 6) != 0) return DecodeError::kReservedNotZero;
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

void EncodeHeader(const FrameHeader& h, std::span<char, wire::kHeaderSize> out) {
  out[0] = static_cast<char>(h.type);
  out[1] = static_cast<char>(h.flags);
  be::Store16(out.data() + 2, h.length);
  be::Store32(out.data() + 4, h.flow_id);
  be::Store64(out.data() + 8, h.value);
}

bool EncodeDataHeader(uint32_t flow_id, uint64_t seq, size_t payload_len,
                      std::span<char, wire::kHeaderSize> out) {
  if (flow_id == 0 || payload_len == 0 || payload_len > wire::kMaxPayload) return false;
  EncodeHeader({FrameType::kData, 0, static_cast<uint16_t>(payload_len), flow_id, seq}, out);
  return true;
}

bool Encode(const wire::LaneHello& f, std::string* out) {
  if (f.tunnel_id == 0 || f.version == 0 || f.lane_count == 0 ||
      f.lane_count > wire::kMaxLanes || f.lane_index >= f.lane_count) {
    return false;
  }
  AppendHeader(out, FrameType::kLaneHello, 0, f.tunnel_id, wire::kLaneHelloPayloadSize);
  be::Append16(out, f.version);
  be::Append16(out, f.lane_index);
  be::Append16(out, f.lane_count);
  be::Append16(out, 0);
  out->append(reinterpret_cast<const char*>(f.binder.data()), f.binder.size());
  return true;
}

bool Encode(const wire::Open& f, std::string* out) {
  if (f.flow_id == 0 || f.target_port == 0) return false;
  if (f.protocol != Protocol::kTcp && f.protocol != Protocol::kUdp) return false;
  if (!f.target_name.empty() && !IsValidTargetName(f.target_name)) return false;
  AppendHeader(out, FrameType::kOpen, f.flow_id, f.initial_byte_credit,
               wire::kOpenFixedPayloadSize + f.target_name.size());
  be::Append32(out, f.initial_seq_credit);
  be::Append8(out, static_cast<uint8_t>(f.protocol));
  be::Append8(out, FamilyCode(f.src_address));
  be::Append16(out, f.src_port);
  AppendAddress(out, f.src_address);
  if (f.target_name.empty()) {
    be::Append8(out, FamilyCode(f.target_address));
    be::Append8(out, 0);
    be::Append16(out, f.target_port);
    AppendAddress(out, f.target_address);
  } else {
    be::Append8(out, kTargetName);
    be::Append8(out, static_cast<uint8_t>(f.target_name.size()));
    be::Append16(out, f.target_port);
    out->append(16, '\0');
    out->append(f.target_name);
  }
  return true;
}

bool Encode(const wire::OpenOk& f, std::string* out) {
  if (f.flow_id == 0) return false;
  AppendHeader(out, FrameType::kOpenOk, f.flow_id, f.initial_byte_credit,
               wire::kOpenOkPayloadSize);
  be::Append32(out, f.initial_seq_credit);
  return true;
}

bool Encode(const wire::OpenRefused& f, std::string* out) {
  const auto reason = static_cast<uint64_t>(f.reason);
  if (f.flow_id == 0 || CheckReason(FrameType::kOpenRefused, reason) != DecodeError::kNone) {
    return false;
  }
  if (!f.rule_id.empty() && f.reason != wire::RefuseReason::kPolicyDenied) return false;
  const std::string_view rule_id = Truncate(f.rule_id, wire::kMaxRuleIdLength);
  const std::string_view text = Truncate(f.text, wire::kMaxTextLength);
  AppendHeader(out, FrameType::kOpenRefused, f.flow_id, reason, 1 + rule_id.size() + text.size());
  be::Append8(out, static_cast<uint8_t>(rule_id.size()));
  out->append(rule_id);
  out->append(text);
  return true;
}

bool Encode(const wire::Data& f, std::string* out) {
  char header[wire::kHeaderSize];
  if (!EncodeDataHeader(f.flow_id, f.seq, f.payload.size(),
                        std::span<char, wire::kHeaderSize>(header, wire::kHeaderSize))) {
    return false;
  }
  out->append(header, wire::kHeaderSize);
  out->append(f.payload);
  return true;
}

bool Encode(const wire::Fin& f, std::string* out) {
  if (f.flow_id == 0) return false;
  AppendHeader(out, FrameType::kFin, f.flow_id, f.final_seq, 0);
  return true;
}

bool Encode(const wire::Rst& f, std::string* out) {
  const auto reason = static_cast<uint64_t>(f.reason);
  if (f.flow_id == 0 || CheckReason(FrameType::kRst, reason) != DecodeError::kNone) return false;
  const std::string_view text = Truncate(f.text, wire::kMaxTextLength);
  AppendHeader(out, FrameType::kRst, f.flow_id, reason, text.size());
  out->append(text);
  return true;
}

bool Encode(const wire::Credit& f, std::string* out) {
  if (f.flow_id == 0) return false;
  AppendHeader(out, FrameType::kCredit, f.flow_id, f.byte_limit, wire::kCreditPayloadSize);
  be::Append64(out, f.seq_limit);
  return true;
}

bool Encode(const wire::Ping& f, std::string* out) {
  AppendHeader(out, FrameType::kPing, 0, f.opaque, 0);
  return true;
}

bool Encode(const wire::Pong& f, std::string* out) {
  AppendHeader(out, FrameType::kPong, 0, f.opaque, 0);
  return true;
}

bool Encode(const wire::Goaway& f, std::string* out) {
  const auto reason = static_cast<uint64_t>(f.reason);
  if (CheckReason(FrameType::kGoaway, reason) != DecodeError::kNone) return false;
  const std::string_view text = Truncate(f.text, wire::kMaxTextLength);
  AppendHeader(out, FrameType::kGoaway, f.last_flow_id, reason, text.size());
  out->append(text);
  return true;
}

bool EncodeFrame(const wire::Frame& frame, std::string* out) {
  return std::visit([out](const auto& f) { return Encode(f, out); }, frame);
}

}  // namespace braid::proxy
