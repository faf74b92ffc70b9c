// The encoders declared in frame_codec.h. They enforce the rules the parsers
// in frame_codec.cc enforce (the tests and the fuzzer's re-encoding check
// hold them to it), so that this side never emits a frame its peer would
// reject.
#include <span>
#include <string>
#include <string_view>

#include "proxy/wire/big_endian.h"
#include "proxy/wire/frame_codec.h"
#include "proxy/wire/frame_layout.h"

namespace braid::proxy {
namespace {

using wire::FrameHeader;
using wire::FrameType;
using namespace layout;

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

uint8_t FamilyCode(const IpAddress& address) { return address.is_v4() ? kFamilyV4 : kFamilyV6; }

void AppendHeader(std::string* out, FrameType type, uint32_t flow_id, uint64_t value,
                  size_t payload_len) {
  char header[wire::kHeaderSize];
  EncodeHeader({type, 0, static_cast<uint16_t>(payload_len), flow_id, value},
               std::span<char, wire::kHeaderSize>(header, wire::kHeaderSize));
  out->append(header, wire::kHeaderSize);
}

std::string_view Truncate(std::string_view text, size_t max) { return text.substr(0, max); }

}  // namespace

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
  be::Append16(out, f.generation);
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
  if (f.flow_id == 0 || !IsValidReason(FrameType::kOpenRefused, reason)) {
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
  if (f.flow_id == 0 || !IsValidReason(FrameType::kRst, reason)) return false;
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
  if (!IsValidReason(FrameType::kGoaway, reason)) return false;
  const std::string_view text = Truncate(f.text, wire::kMaxTextLength);
  AppendHeader(out, FrameType::kGoaway, f.last_flow_id, reason, text.size());
  out->append(text);
  return true;
}

bool Encode(const wire::Ack& f, std::string* out) {
  AppendHeader(out, FrameType::kAck, 0, f.received, 0);
  return true;
}

bool Encode(const wire::LaneLost& f, std::string* out) {
  if (f.lane_index >= wire::kMaxLanes) return false;
  AppendHeader(out, FrameType::kLaneLost, 0, f.received, wire::kLaneLostPayloadSize);
  be::Append16(out, f.lane_index);
  be::Append16(out, f.generation);
  be::Append32(out, 0);
  return true;
}

bool Encode(const wire::Rotate& f, std::string* out) {
  if (f.lane_index >= wire::kMaxLanes) return false;
  AppendHeader(out, FrameType::kRotate, 0, 0, wire::kRotatePayloadSize);
  be::Append16(out, f.lane_index);
  be::Append16(out, f.generation);
  be::Append32(out, 0);
  return true;
}

bool EncodeFrame(const wire::Frame& frame, std::string* out) {
  return std::visit([out](const auto& f) { return Encode(f, out); }, frame);
}

}  // namespace braid::proxy
