// PacketArena: the bytes of the packets in flight on one direction of the
// emulated link, in one ring of memory allocated at start.
//
// A link releases packets in the order it took them (LinkModel never
// reorders), so their bytes can live back to back in a ring: a packet is
// read straight from the TUN device into the free space at the tail, and
// space is given back at the head when the oldest packet is sent on. No
// allocation and no copy per packet, and packets of any size share the
// memory (a 40-byte ACK takes 40 bytes, not a 64 KiB slot).
//
// Data model: live bytes run from head_ to tail_, wrapping at the end of the
// buffer. Reserve asks for contiguous room for the largest packet at the
// tail; when the end of the buffer is too short it wraps to offset 0, and
// the unused end counts as used until the head passes it. head_ == tail_
// only when the arena is empty (then both go back to 0, so an arena that
// keeps emptying, as at zero delay, stays in the same cache-warm bytes).
//
// Memory bound: the capacity given at construction, allocated once and not
// zeroed, so only pages that packets have used are resident.
//
// Thread-safety: none; owned by one direction's thread.
//
// Expected use:
//   PacketArena arena(64 << 20);
//   auto room = arena.Reserve(kMaxPacket);   // empty: full, drop the packet
//   n = read(fd, room.bytes.data(), room.bytes.size());
//   if (link.Offer(room.offset, room.bytes.first(n), now) == kQueued) arena.Commit(n);
//   later, for the oldest packet:  write(..., arena.View(tag, size)); arena.ReleaseOldest(tag, size);
#ifndef BRAID_BENCH_WAN_PACKET_ARENA_H_
#define BRAID_BENCH_WAN_PACKET_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace braid::bench {

class PacketArena {
 public:
  struct Room {
    uint64_t offset = 0;
    std::span<uint8_t> bytes;  // empty: no room
  };

  explicit PacketArena(size_t capacity);
  PacketArena(const PacketArena&) = delete;
  PacketArena& operator=(const PacketArena&) = delete;

  // Reserve returns `max_bytes` of contiguous free space at the tail and its
  // offset, or an empty Room when there is not that much. Nothing changes
  // until Commit; a later Reserve replaces this one.
  Room Reserve(size_t max_bytes);
  // Commit records that the first `bytes` (at most what was reserved) of the
  // last Reserve hold a packet. Returns its offset, the tag to give back.
  uint64_t Commit(size_t bytes);
  // View returns the bytes of a committed packet.
  std::span<const uint8_t> View(uint64_t offset, size_t bytes) const {
    return {buffer_.get() + offset, bytes};
  }
  // ReleaseOldest frees the oldest committed packet, which must be the one
  // at `offset` with `bytes` bytes (packets are released in commit order).
  void ReleaseOldest(uint64_t offset, size_t bytes);

  size_t live_packets() const { return live_; }
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_;
  size_t head_ = 0;  // start of the oldest live packet (or the end of the last released one)
  size_t tail_ = 0;  // where the next packet goes
  size_t live_ = 0;
  uint64_t reserved_offset_ = 0;
  size_t reserved_bytes_ = 0;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_PACKET_ARENA_H_
