// PacketArena: packets laid back to back in a ring, wrapping, refusing
// what does not fit, and never overlapping a live packet.
#include "bench/wan/packet_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>

namespace braid::bench {
namespace {

TEST(PacketArenaTest, PacketsGoBackToBack) {
  PacketArena arena(1000);
  auto room = arena.Reserve(100);
  ASSERT_EQ(room.bytes.size(), 100u);
  EXPECT_EQ(room.offset, 0u);
  EXPECT_EQ(arena.Commit(40), 0u);
  room = arena.Reserve(100);
  EXPECT_EQ(room.offset, 40u);
  EXPECT_EQ(arena.Commit(60), 40u);
  EXPECT_EQ(arena.live_packets(), 2u);
}

TEST(PacketArenaTest, WrapsAndRefusesWhatDoesNotFit) {
  PacketArena arena(1000);
  for (uint64_t at : {0u, 300u, 600u}) {
    ASSERT_EQ(arena.Reserve(300).offset, at);
    arena.Commit(300);
  }
  EXPECT_TRUE(arena.Reserve(300).bytes.empty());  // 100 left at the end, none at the front
  arena.ReleaseOldest(0, 300);
  // 300 free at the front, but the front must stay strictly below the head.
  EXPECT_TRUE(arena.Reserve(300).bytes.empty());
  auto room = arena.Reserve(299);
  ASSERT_FALSE(room.bytes.empty());
  EXPECT_EQ(room.offset, 0u);  // wrapped; the last 100 bytes are left unused
  arena.Commit(100);
  EXPECT_EQ(arena.Reserve(150).offset, 100u);
  EXPECT_TRUE(arena.Reserve(200).bytes.empty());  // 200 free before the head at 300: not strictly more
  arena.ReleaseOldest(300, 300);
  arena.ReleaseOldest(600, 300);
  // Everything from the tail to the unused end is free, less one byte.
  EXPECT_TRUE(arena.Reserve(800).bytes.empty());
  EXPECT_EQ(arena.Reserve(799).offset, 100u);
  arena.ReleaseOldest(0, 100);
  EXPECT_EQ(arena.live_packets(), 0u);
  EXPECT_EQ(arena.Reserve(1000).offset, 0u);  // empty: back to the start
  EXPECT_TRUE(arena.Reserve(1001).bytes.empty());
}

TEST(PacketArenaTest, RandomTrafficNeverOverwritesALivePacket) {
  // A FIFO of packets of random sizes, each filled with its own byte
  // pattern and checked when released; random bursts of arrivals and
  // departures drive the arena through every wrap case.
  PacketArena arena(64 * 1024);
  struct Live {
    uint64_t offset;
    size_t size;
    uint8_t fill;
  };
  std::deque<Live> live;
  std::mt19937 rng(42);
  uint64_t refused = 0, carried = 0;
  for (int round = 0; round < 20000; ++round) {
    const int arrivals = static_cast<int>(rng() % 4);
    for (int i = 0; i < arrivals; ++i) {
      const size_t size = 1 + rng() % 9000;
      auto room = arena.Reserve(9000);
      if (room.bytes.empty()) {
        ++refused;
        continue;
      }
      const auto fill = static_cast<uint8_t>(rng());
      std::fill_n(room.bytes.begin(), size, fill);
      ASSERT_EQ(arena.Commit(size), room.offset);
      live.push_back({room.offset, size, fill});
    }
    const int departures = static_cast<int>(rng() % 4);
    for (int i = 0; i < departures && !live.empty(); ++i) {
      const Live p = live.front();
      live.pop_front();
      for (uint8_t b : arena.View(p.offset, p.size)) ASSERT_EQ(b, p.fill) << "round " << round;
      arena.ReleaseOldest(p.offset, p.size);
      ++carried;
    }
    ASSERT_EQ(arena.live_packets(), live.size());
  }
  EXPECT_GT(carried, 10000u);
  EXPECT_GT(refused, 0u);  // the arena did fill up now and then
}

}  // namespace
}  // namespace braid::bench
