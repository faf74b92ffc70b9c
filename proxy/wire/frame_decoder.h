// FrameDecoder: cuts the plaintext byte stream of one lane into frames.
//
// Data model: one contiguous buffer holding the bytes fed but not yet
// returned as frames. Bytes go in either by copy (Feed) or, to save a copy,
// by reading straight into the decoder (PrepareWrite, then CommitWrite with
// what SSL_read returned). Next() returns one complete, fully validated frame
// at a time; its views point into the buffer and stay valid until the next
// Feed or PrepareWrite (Next itself never moves bytes, so all the frames of
// one feed can be handled before the next read).
//
// Errors: the first malformed frame makes the decoder fail for good:
// Next() returns kError from then on, and error(), error_detail() and
// error_offset() say what and where. Every error is a protocol error of the
// whole tunnel (docs/protocol.md): there is no resynchronising in a byte
// stream. A header is validated as soon as its 16 bytes are in, so an
// oversized or unknown frame fails without waiting for its payload.
//
// Memory bound: the buffer holds at most one partial frame (< kMaxFrameSize)
// plus whatever was fed since the last Next() loop. A lane that reads one
// TLS record (<= 16 KiB) at a time and drains Next() after each read keeps it
// under 32 KiB. Capacity is kept for reuse, never shrunk.
//
// Thread-safety: none. A decoder belongs to one lane, owned by one worker.
//
// Expected use:
//   FrameDecoder decoder({.local_role = wire::Role::kAcceptor});
//   std::span<char> space = decoder.PrepareWrite(16384);
//   int n = SSL_read(ssl, space.data(), space.size());
//   decoder.CommitWrite(n > 0 ? n : 0);
//   wire::Frame frame;
//   while (decoder.Next(&frame) == FrameDecoder::Result::kFrame) Dispatch(frame);
//   if (decoder.failed()) TearDownTunnel(decoder.error_detail());
#ifndef BRAID_PROXY_WIRE_FRAME_DECODER_H_
#define BRAID_PROXY_WIRE_FRAME_DECODER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "braid/wire.h"
#include "proxy/wire/frame_codec.h"

namespace braid::proxy {

class FrameDecoder {
 public:
  struct Options {
    // Set to check flow id parity (see ParseHeader); unset for tools that
    // decode either side's frames.
    std::optional<wire::Role> local_role;
  };

  enum class Result : uint8_t {
    kFrame,     // *out holds the next frame
    kNeedMore,  // no complete frame buffered; feed more bytes
    kError,     // the stream is malformed; see error()
  };

  FrameDecoder() = default;
  explicit FrameDecoder(Options options) : options_(options) {}
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Feed appends a copy of `bytes`. Ignored after an error.
  void Feed(std::string_view bytes);

  // PrepareWrite returns exactly `max_bytes` of writable space at the end of
  // the buffer; CommitWrite(n) then appends the first n <= max_bytes of it.
  // Nothing is appended until CommitWrite. Invalidates earlier frame views.
  std::span<char> PrepareWrite(size_t max_bytes);
  void CommitWrite(size_t n);

  // Next decodes the next frame. See Result.
  Result Next(wire::Frame* out);

  bool failed() const { return error_ != DecodeError::kNone; }
  DecodeError error() const { return error_; }
  // For the log: the error, the frame type and flow id when known, and the
  // stream offset of the frame.
  const std::string& error_detail() const { return error_detail_; }
  // Offset in the lane's stream of the first byte of the bad frame.
  uint64_t error_offset() const { return error_offset_; }

  size_t buffered_bytes() const { return end_ - begin_; }
  uint64_t frames_decoded() const { return frames_decoded_; }
  // Bytes of the stream returned as frames so far.
  uint64_t stream_offset() const { return stream_offset_; }

 private:
  // Makes room for `extra` bytes after end_, moving buffered bytes to the
  // front first.
  void Reserve(size_t extra);
  Result Fail(DecodeError error, const wire::FrameHeader* header);

  Options options_;
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first byte not yet returned as a frame
  size_t end_ = 0;    // one past the last byte fed
  size_t prepared_ = 0;  // bytes handed out by PrepareWrite, not committed
  uint64_t stream_offset_ = 0;
  uint64_t frames_decoded_ = 0;
  DecodeError error_ = DecodeError::kNone;
  uint64_t error_offset_ = 0;
  std::string error_detail_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_WIRE_FRAME_DECODER_H_
