#include "proxy/wire/frame_reader.h"

#include <algorithm>
#include <cassert>
#include <string>
#include <utility>

#include "proxy/wire/frame_buffer.h"

namespace braid::proxy {

std::span<char> FrameReader::WriteSpace() {
  switch (state_) {
    case State::kHeader: return std::span<char>(header_bytes_).subspan(header_filled_);
    case State::kPayload: return std::span<char>(payload_).subspan(payload_filled_);
    case State::kFrameReady:
    case State::kFailed: break;
  }
  return {};
}

FrameReader::Result FrameReader::Commit(size_t n) {
  switch (state_) {
    case State::kHeader: {
      header_filled_ += static_cast<uint8_t>(std::min<size_t>(n, header_bytes_.size() - header_filled_));
      if (header_filled_ < header_bytes_.size()) return Result::kNeedMore;
      header_filled_ = 0;
      // Checked before any room is made for the payload: the length is the
      // peer's until ParseHeader has bounded it.
      if (DecodeError e = ParseHeader(header_bytes_, local_role_, &header_); e != DecodeError::kNone) return Fail(e);
      ResizeForOverwrite(payload_, header_.length);
      payload_filled_ = 0;
      if (header_.length == 0) return Complete();
      state_ = State::kPayload;
      return Result::kNeedMore;
    }
    case State::kPayload:
      payload_filled_ += std::min(n, payload_.size() - payload_filled_);
      return payload_filled_ < payload_.size() ? Result::kNeedMore : Complete();
    case State::kFrameReady: return Result::kFrame;
    case State::kFailed: return Result::kError;
  }
  return Result::kError;
}

void FrameReader::TakeFrame(wire::FrameHeader* header, std::string* payload) {
  assert(state_ == State::kFrameReady);
  if (state_ != State::kFrameReady) return;
  *header = header_;
  *payload = std::move(payload_);
  payload_ = std::string();  // the next frame gets a string of its own
  state_ = State::kHeader;
}

FrameReader::Result FrameReader::Complete() {
  stream_offset_ += wire::kHeaderSize + header_.length;
  ++frames_read_;
  state_ = State::kFrameReady;
  return Result::kFrame;
}

FrameReader::Result FrameReader::Fail(DecodeError error) {
  state_ = State::kFailed;
  error_ = error;
  error_offset_ = stream_offset_;
  payload_ = std::string();
  // Built only on this cold path. (absl::StrCat is not used: this abseil
  // build's string_view is not std::string_view.)
  std::string detail(DecodeErrorName(error));
  if (error != DecodeError::kUnknownType) {
    detail.append(" in ").append(wire::FrameTypeName(header_.type));
    detail.append(" frame (flow ").append(std::to_string(header_.flow_id));
    detail.append(", length ").append(std::to_string(header_.length)).append(")");
  } else {
    // ParseHeader leaves the header unset: only the type byte is known.
    detail.append(" (type byte ");
    detail.append(std::to_string(static_cast<uint8_t>(header_bytes_[0]))).append(")");
  }
  detail.append(" at stream offset ").append(std::to_string(stream_offset_));
  error_detail_ = std::move(detail);
  return Result::kError;
}

}  // namespace braid::proxy
