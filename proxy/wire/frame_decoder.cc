#include "proxy/wire/frame_decoder.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace braid::proxy {

void FrameDecoder::Reserve(size_t extra) {
  const size_t live = end_ - begin_;
  if (begin_ > 0) {
    if (live > 0) std::memmove(data_.get(), data_.get() + begin_, live);
    begin_ = 0;
    end_ = live;
  }
  if (capacity_ - end_ >= extra) return;
  size_t capacity = std::max<size_t>(capacity_ * 2, wire::kMaxFrameSize);
  capacity = std::max(capacity, live + extra);
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (live > 0) std::memcpy(data.get(), data_.get(), live);
  data_ = std::move(data);
  capacity_ = capacity;
}

void FrameDecoder::Feed(std::string_view bytes) {
  if (failed() || bytes.empty()) return;
  Reserve(bytes.size());
  std::memcpy(data_.get() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
  prepared_ = 0;
}

std::span<char> FrameDecoder::PrepareWrite(size_t max_bytes) {
  Reserve(max_bytes);
  prepared_ = max_bytes;
  return {data_.get() + end_, max_bytes};
}

void FrameDecoder::CommitWrite(size_t n) {
  n = std::min(n, prepared_);
  prepared_ = 0;
  if (failed()) return;
  end_ += n;
}

FrameDecoder::Result FrameDecoder::Fail(DecodeError error, const wire::FrameHeader* header) {
  error_ = error;
  error_offset_ = stream_offset_;
  // Built only on this cold path. (absl::StrCat is not used: this abseil
  // build's string_view is not std::string_view.)
  std::string detail(DecodeErrorName(error));
  if (header != nullptr) {
    detail.append(" in ").append(wire::FrameTypeName(header->type));
    detail.append(" frame (flow ").append(std::to_string(header->flow_id));
    detail.append(", length ").append(std::to_string(header->length)).append(")");
  } else {
    detail.append(" (type byte ");
    detail.append(std::to_string(static_cast<uint8_t>(data_[begin_]))).append(")");
  }
  detail.append(" at stream offset ").append(std::to_string(stream_offset_));
  error_detail_ = std::move(detail);
  return Result::kError;
}

FrameDecoder::Result FrameDecoder::Next(wire::Frame* out) {
  if (failed()) return Result::kError;
  const size_t live = end_ - begin_;
  if (live < wire::kHeaderSize) return Result::kNeedMore;
  const char* frame = data_.get() + begin_;
  wire::FrameHeader header;
  if (DecodeError e = ParseHeader(std::span<const char, wire::kHeaderSize>(frame,
                                                                           wire::kHeaderSize),
                                  options_.local_role, &header);
      e != DecodeError::kNone) {
    return Fail(e, e == DecodeError::kUnknownType ? nullptr : &header);
  }
  const size_t frame_size = wire::kHeaderSize + header.length;
  if (live < frame_size) return Result::kNeedMore;
  if (DecodeError e = ParsePayload(
          header, std::string_view(frame + wire::kHeaderSize, header.length), out);
      e != DecodeError::kNone) {
    return Fail(e, &header);
  }
  begin_ += frame_size;
  stream_offset_ += frame_size;
  ++frames_decoded_;
  return Result::kFrame;
}

}  // namespace braid::proxy
