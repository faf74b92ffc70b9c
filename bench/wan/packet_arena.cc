#include "bench/wan/packet_arena.h"

#include <cassert>

namespace braid::bench {

PacketArena::PacketArena(size_t capacity)
    : buffer_(std::make_unique_for_overwrite<uint8_t[]>(capacity)), capacity_(capacity) {}

PacketArena::Room PacketArena::Reserve(size_t max_bytes) {
  size_t at;
  if (live_ == 0) {
    at = 0;
    if (max_bytes > capacity_) return {};
  } else if (tail_ > head_) {
    // Live bytes in [head_, tail_): room at the end, else at the front. The
    // front must stay strictly below head_, so that head_ == tail_ keeps
    // meaning empty.
    if (capacity_ - tail_ >= max_bytes) {
      at = tail_;
    } else if (head_ > max_bytes) {
      at = 0;
    } else {
      return {};
    }
  } else {
    // Wrapped: live bytes in [head_, capacity_) and [0, tail_).
    if (head_ - tail_ <= max_bytes) return {};
    at = tail_;
  }
  reserved_offset_ = at;
  reserved_bytes_ = max_bytes;
  return Room{.offset = at, .bytes = {buffer_.get() + at, max_bytes}};
}

uint64_t PacketArena::Commit(size_t bytes) {
  assert(bytes > 0 && bytes <= reserved_bytes_);
  tail_ = reserved_offset_ + bytes;
  ++live_;
  reserved_bytes_ = 0;
  return reserved_offset_;
}

void PacketArena::ReleaseOldest(uint64_t offset, size_t bytes) {
  assert(live_ > 0);
  if (--live_ == 0) {
    head_ = tail_ = 0;
    return;
  }
  head_ = offset + bytes;
}

}  // namespace braid::bench
