// Frame codec: pure functions between braid::wire frame structs and bytes.
//
// Encoders (frame_encoder.cc) append one complete frame to a byte buffer
// (std::string, the buffer the lane hands to SSL_write). Parsers
// (frame_codec.cc) validate a header or a payload already in memory. The
// lane's FrameReader (frame_reader.h) cuts a TLS byte stream into frames
// with ParseHeader; the tunnel runs ParsePayload on each.
//
// Errors are a DecodeError enum rather than absl::Status: this is the data
// path (one check per frame, no allocation on success), every error has the
// same consequence (GOAWAY protocol_error and tunnel teardown, see
// docs/protocol.md), and an enum is what the counters and the tests need.
// FrameReader keeps a human-readable detail string beside it for the log.
//
// The codec is strict and canonical: every reserved bit, padding byte and
// unused field must be zero, so a frame that decodes re-encodes to exactly
// the same bytes (the fuzzer checks this).
#ifndef BRAID_PROXY_WIRE_FRAME_CODEC_H_
#define BRAID_PROXY_WIRE_FRAME_CODEC_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "braid/wire.h"

namespace braid::proxy {

// DecodeError: why bytes are not a valid frame. Every value except kNone is a
// protocol error that tears down the whole tunnel.
enum class DecodeError : uint8_t {
  kNone = 0,
  kUnknownType,      // type byte is not a wire::FrameType
  kReservedFlags,    // a flag bit not defined for the type is set
  kPayloadTooLarge,  // length > wire::kMaxPayload
  kBadLength,        // length not allowed for the type (fixed-size frames, short OPEN...)
  kFlowIdZero,       // a flow frame with flow id 0
  kFlowIdNotZero,    // a tunnel frame (LANE_HELLO, PING, PONG, ACK, LANE_LOST) with a flow id
  kFlowIdParity,     // flow id allocated by the wrong side for this frame type
  kReservedNotZero,  // a reserved field, padding or unused value is not zero
  kEmptyData,        // DATA with no payload
  kBadReason,        // unknown reason code in OPEN_REFUSED, RST or GOAWAY
  kBadLaneHello,     // tunnel id 0, version 0, lane count 0 or > kMaxLanes, index >= count;
                     // a LANE_LOST lane index >= kMaxLanes
  kBadProtocol,      // OPEN protocol neither TCP nor UDP
  kBadAddress,       // unknown address family or target kind
  kBadPort,          // OPEN target port 0
  kBadName,          // OPEN target name length or characters
  kBadRuleId,        // OPEN_REFUSED rule id with a reason other than policy_denied
  kTextTooLong,      // text longer than wire::kMaxTextLength
};
std::string_view DecodeErrorName(DecodeError error);

// ParseHeader decodes and validates the 16 bytes at `in`: type, flags, the
// payload length allowed for the type, and the flow id rules. When
// `local_role` is set, flow id parity is checked too: OPEN must carry an id
// the peer allocates, OPEN_OK and OPEN_REFUSED one this side allocates.
// Returns kNone or the first error found. Unless the error is kUnknownType,
// *out holds the raw header fields either way (for error messages).
DecodeError ParseHeader(std::span<const char, wire::kHeaderSize> in,
                        std::optional<wire::Role> local_role, wire::FrameHeader* out);

// ParsePayload validates the payload of a frame whose header passed
// ParseHeader and fills *out (kBadLength if payload.size() != header.length
// or the length is not one the type allows). Views in
// *out point into `payload`. Returns kNone or the first error found.
DecodeError ParsePayload(const wire::FrameHeader& header, std::string_view payload,
                         wire::Frame* out);

// ParseFrame parses exactly one whole frame. Returns kBadLength if `bytes`
// is not exactly one header plus its payload.
DecodeError ParseFrame(std::string_view bytes, std::optional<wire::Role> local_role,
                       wire::Frame* out);

// EncodeHeader writes a header. It does not validate: callers that build
// frames by hand (the DATA fast path) use EncodeDataHeader instead.
void EncodeHeader(const wire::FrameHeader& header, std::span<char, wire::kHeaderSize> out);

// EncodeDataHeader writes the header of a DATA frame whose payload the
// caller places right after it (read straight from the host socket into the
// send buffer at offset kHeaderSize). Returns false, writing nothing, when
// flow_id is 0 or payload_len is not within 1..kMaxPayload.
[[nodiscard]] bool EncodeDataHeader(uint32_t flow_id, uint64_t seq, size_t payload_len,
                                    std::span<char, wire::kHeaderSize> out);

// Encoders. Each appends one frame to *out and returns true, or returns false
// and appends nothing when the struct violates a rule the decoder enforces
// (flow id 0, empty or oversized DATA, bad target name, port 0, unknown
// reason, rule id without policy_denied, bad lane fields). Rule ids and text
// longer than their maxima are truncated, not refused: they are for humans.
[[nodiscard]] bool Encode(const wire::LaneHello& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Open& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::OpenOk& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::OpenRefused& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Data& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Fin& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Rst& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Credit& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Ping& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Pong& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Goaway& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Ack& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::LaneLost& frame, std::string* out);
[[nodiscard]] bool Encode(const wire::Rotate& frame, std::string* out);
[[nodiscard]] bool EncodeFrame(const wire::Frame& frame, std::string* out);

// IsValidTargetName: 1..kMaxNameLength bytes of [A-Za-z0-9._-].
bool IsValidTargetName(std::string_view name);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_WIRE_FRAME_CODEC_H_
