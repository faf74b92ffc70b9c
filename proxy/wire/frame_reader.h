// FrameReader: cuts the plaintext byte stream of one lane into frames, with
// no copy of any payload byte. It is the decoder Lane::ReadLoop runs, and the
// one the fuzzer drives (tests/proxy/fuzz/frame_reader_fuzz.cc).
//
// Data model: the reader is always filling one frame, first its 16 header
// bytes (in a small array of its own), then its payload, which it reads
// straight into the std::string that TakeFrame hands out: the caller reads
// from TLS into WriteSpace(), says how much it read with Commit(), and moves
// each completed frame on. A frame's header is checked by ParseHeader as
// soon as its 16 bytes are in, before any room is made for its payload, so
// no length from the peer is used before it is checked and an oversized or
// unknown frame fails without waiting for its payload. The payload is not
// parsed here: that is the caller's ParsePayload, run where the frame is
// handled (the tunnel), so that DATA moves on as the string it was read into.
//
// Errors: a header that ParseHeader refuses makes the reader fail for good:
// Commit() returns kError from then on, WriteSpace() is empty, and error(),
// error_detail() and error_offset() say what and where. Every error is a
// protocol error of the whole tunnel (docs/protocol.md): there is no
// resynchronising in a byte stream.
//
// Memory bound: one partial frame. The header array is 16 bytes; the payload
// string is sized to the header's checked length (<= wire::kMaxPayload)
// when the header completes, and belongs to the caller once taken. Nothing
// else is buffered: each Commit advances the frame being filled, and a
// completed frame must be taken before the next byte is read.
//
// Thread-safety: none. A reader belongs to one lane's read loop, on the
// lane's worker.
//
// Expected use (the lane's read loop):
//   FrameReader reader(wire::Role::kAcceptor);
//   for (;;) {
//     std::span<char> space = reader.WriteSpace();
//     int n = SSL_read(ssl, space.data(), space.size());
//     if (n <= 0) ...;  // wait for input, or the lane is closed
//     FrameReader::Result r = reader.Commit(n);
//     if (r == FrameReader::Result::kError) TearDownTunnel(reader.error_detail());
//     if (r == FrameReader::Result::kFrame) {
//       wire::FrameHeader header;
//       std::string payload;
//       reader.TakeFrame(&header, &payload);
//       wire::Frame frame;
//       if (ParsePayload(header, payload, &frame) != DecodeError::kNone) TearDownTunnel(...);
//       Dispatch(frame);
//     }
//   }
#ifndef BRAID_PROXY_WIRE_FRAME_READER_H_
#define BRAID_PROXY_WIRE_FRAME_READER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "braid/wire.h"
#include "proxy/wire/frame_codec.h"

namespace braid::proxy {

class FrameReader {
 public:
  enum class Result : uint8_t {
    kNeedMore,  // the frame being filled is not complete; read more
    kFrame,     // a whole frame is in: take it with TakeFrame
    kError,     // the stream is malformed; see error()
  };

  // `local_role`, when set, makes ParseHeader check flow id parity for this
  // side (see ParseHeader); unset for tools that read either side's frames.
  explicit FrameReader(std::optional<wire::Role> local_role = std::nullopt) : local_role_(local_role) {}
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // WriteSpace returns where the next bytes of the stream go: the rest of
  // the current header, or the rest of the current frame's payload (inside
  // the string TakeFrame will return). Never empty, except once failed() or
  // while a completed frame waits to be taken. Valid until the next Commit.
  std::span<char> WriteSpace();

  // Commit records that the first n bytes of WriteSpace() were written (n
  // larger than WriteSpace().size() is clamped to it). Returns:
  //   kFrame: a whole frame is in; take it with TakeFrame before the next
  //     WriteSpace (until then Commit writes nothing and returns kFrame);
  //   kNeedMore: the frame is not complete yet;
  //   kError: the header just completed is invalid (ParseHeader refused it);
  //     the reader has failed for good, and every later Commit says so.
  // A frame with an empty payload completes on the Commit that completes its
  // header.
  Result Commit(size_t n);

  // TakeFrame moves out the completed frame: its header, checked by
  // ParseHeader with the local role, and its payload, not yet parsed
  // (callers run ParsePayload). Requires the last Commit to have returned
  // kFrame; otherwise it sets nothing.
  void TakeFrame(wire::FrameHeader* header, std::string* payload);

  bool failed() const { return state_ == State::kFailed; }
  DecodeError error() const { return error_; }
  // For the log: the error, the frame type, flow id and length when known
  // (else the type byte), and the stream offset of the frame.
  const std::string& error_detail() const { return error_detail_; }
  // Offset in the lane's stream of the first byte of the bad frame.
  uint64_t error_offset() const { return error_offset_; }

  // Frames completed so far (taken or waiting to be).
  uint64_t frames_read() const { return frames_read_; }
  // Bytes of the stream in completed frames: the offset of the frame being
  // filled.
  uint64_t stream_offset() const { return stream_offset_; }

 private:
  enum class State : uint8_t { kHeader, kPayload, kFrameReady, kFailed };

  Result Complete();
  Result Fail(DecodeError error);

  std::optional<wire::Role> local_role_;
  State state_ = State::kHeader;
  std::array<char, wire::kHeaderSize> header_bytes_;
  uint8_t header_filled_ = 0;
  wire::FrameHeader header_;
  std::string payload_;
  size_t payload_filled_ = 0;
  uint64_t stream_offset_ = 0;
  uint64_t frames_read_ = 0;
  DecodeError error_ = DecodeError::kNone;
  uint64_t error_offset_ = 0;
  std::string error_detail_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_WIRE_FRAME_READER_H_
