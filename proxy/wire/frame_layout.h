// Internal to the codec: payload offsets and codes shared by the parsers
// (frame_codec.cc) and the encoders (frame_encoder.cc). docs/protocol.md is
// the specification.
#ifndef BRAID_PROXY_WIRE_FRAME_LAYOUT_H_
#define BRAID_PROXY_WIRE_FRAME_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "braid/wire.h"

namespace braid::proxy::layout {

// OPEN payload layout (docs/protocol.md, "OPEN").
inline constexpr size_t kOpenSeqCredit = 0;
inline constexpr size_t kOpenProtocol = 4;
inline constexpr size_t kOpenSrcFamily = 5;
inline constexpr size_t kOpenSrcPort = 6;
inline constexpr size_t kOpenSrcAddress = 8;
inline constexpr size_t kOpenTargetKind = 24;
inline constexpr size_t kOpenNameLength = 25;
inline constexpr size_t kOpenTargetPort = 26;
inline constexpr size_t kOpenTargetAddress = 28;
static_assert(kOpenTargetAddress + 16 == wire::kOpenFixedPayloadSize);

// Address families and target kinds in OPEN.
inline constexpr uint8_t kFamilyV4 = 4;
inline constexpr uint8_t kFamilyV6 = 6;
inline constexpr uint8_t kTargetName = 1;

// IsValidReason: whether `value` is a defined reason code for `type`
// (always true for types whose value is not a reason).
inline bool IsValidReason(wire::FrameType type, uint64_t value) {
  switch (type) {
    case wire::FrameType::kOpenRefused: return value >= 1 && value <= wire::kMaxRefuseReason;
    case wire::FrameType::kRst: return value >= 1 && value <= wire::kMaxResetReason;
    case wire::FrameType::kGoaway: return value <= wire::kMaxGoawayReason;
    default: return true;
  }
}

}  // namespace braid::proxy::layout

#endif  // BRAID_PROXY_WIRE_FRAME_LAYOUT_H_
