#include "proxy/stripe/reassembly_buffer.h"

#include <algorithm>
#include <deque>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "braid/wire.h"
#include "gtest/gtest.h"

namespace braid::proxy {
namespace {

using Status = ReassemblyBuffer::Status;

// A byte stream with position-dependent content (no two frames alike), cut
// into frames of random sizes.
struct Stream {
  std::string bytes;
  std::vector<std::string> frames;
};

Stream MakeStream(std::mt19937* rng, size_t total, size_t max_frame) {
  Stream s;
  s.bytes.resize(total);
  for (size_t i = 0; i < total; ++i) s.bytes[i] = static_cast<char>((i * 131 + (i >> 8)) ^ (*rng)());
  for (size_t pos = 0; pos < total;) {
    const size_t len = std::min<size_t>(total - pos, 1 + (*rng)() % max_frame);
    s.frames.push_back(s.bytes.substr(pos, len));
    pos += len;
  }
  return s;
}

std::string ReadAll(ReassemblyBuffer* rx) {
  std::string out(rx->readable_bytes(), '\0');
  EXPECT_EQ(rx->Read(out), out.size());
  return out;
}

void ExpectBounded(const ReassemblyBuffer& rx) {
  EXPECT_LE(rx.buffered_bytes(), rx.limits().window_bytes);
  EXPECT_LT(rx.pending_frames(), rx.limits().window_frames);
}

TEST(ReassemblyBufferTest, InOrderIsTheFastPath) {
  ReassemblyBuffer rx({.window_bytes = 1 << 20, .window_frames = 64});
  std::string want;
  for (uint64_t seq = 0; seq < 50; ++seq) {
    const std::string payload(1 + seq * 10, static_cast<char>('a' + seq % 26));
    ASSERT_EQ(rx.OnData(seq, payload), Status::kOk);
    EXPECT_EQ(rx.pending_frames(), 0u);  // never touches the map
    want += payload;
  }
  EXPECT_EQ(rx.next_seq(), 50u);
  EXPECT_EQ(ReadAll(&rx), want);
  EXPECT_EQ(rx.buffered_bytes(), 0u);
}

TEST(ReassemblyBufferTest, SmallFramesAreCoalesced) {
  ReassemblyBuffer rx({});
  for (uint64_t seq = 0; seq < 100; ++seq) ASSERT_EQ(rx.OnData(seq, "z"), Status::kOk);
  std::string_view regions[4];
  EXPECT_EQ(rx.GetReadableRegions(regions), 1u);
  EXPECT_EQ(regions[0], std::string(100, 'z'));
}

TEST(ReassemblyBufferTest, RandomPermutationsRebuildTheStream) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const Stream s = MakeStream(&rng, 200000 + seed * 1000, seed % 2 ? 300 : wire::kMaxPayload);
    ReassemblyBuffer rx({.window_bytes = 1 << 20, .window_frames = 1 << 16});
    std::vector<uint64_t> order(s.frames.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::string out;
    for (uint64_t seq : order) {
      ASSERT_EQ(rx.OnData(seq, s.frames[seq]), Status::kOk) << "seed " << seed;
      if (rng() % 8 == 0) out += ReadAll(&rx);  // read at random moments
    }
    ASSERT_EQ(rx.OnFin(s.frames.size()), Status::kOk);
    EXPECT_FALSE(rx.IsFinished() && rx.readable_bytes() > 0);
    out += ReadAll(&rx);
    EXPECT_TRUE(rx.IsFinished());
    EXPECT_EQ(rx.pending_frames(), 0u);
    ASSERT_EQ(out.size(), s.bytes.size()) << "seed " << seed;
    EXPECT_TRUE(out == s.bytes) << "seed " << seed;
  }
}

// Lanes: the sender deals frames to N FIFO lanes within the credit the
// receiver grants; the receiver takes the head of a random lane, consumes a
// random amount now and then, and grants credit. The memory bound must hold
// at every step, whatever the interleaving.
TEST(ReassemblyBufferTest, StripedOverLanesWithCreditStaysBounded) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    std::mt19937 rng(seed);
    const Stream s = MakeStream(&rng, 3 << 20, wire::kMaxPayload);
    const ReassemblyBuffer::Limits limits{.window_bytes = 256 * 1024, .window_frames = 32};
    ReassemblyBuffer rx(limits);
    uint64_t byte_limit = rx.advertised_byte_limit(), seq_limit = rx.advertised_seq_limit();
    const size_t lanes = 1 + seed % 4;
    std::vector<std::deque<uint64_t>> lane(lanes);
    uint64_t next_to_send = 0, bytes_sent = 0;
    bool fin_sent = false;
    std::string out;
    while (!rx.IsFinished()) {
      // Sender: as much as the credit allows, random lanes.
      while (next_to_send < s.frames.size() && next_to_send < seq_limit &&
             bytes_sent + s.frames[next_to_send].size() <= byte_limit) {
        lane[rng() % lanes].push_back(next_to_send);
        bytes_sent += s.frames[next_to_send++].size();
      }
      std::vector<size_t> busy;
      for (size_t i = 0; i < lanes; ++i) {
        if (!lane[i].empty()) busy.push_back(i);
      }
      if (!busy.empty()) {
        std::deque<uint64_t>& l = lane[busy[rng() % busy.size()]];
        ASSERT_EQ(rx.OnData(l.front(), s.frames[l.front()]), Status::kOk);
        l.pop_front();
      } else if (next_to_send == s.frames.size() && !fin_sent) {
        ASSERT_EQ(rx.OnFin(next_to_send), Status::kOk);
        fin_sent = true;
      }
      ExpectBounded(rx);
      ASSERT_LE(rx.buffered_bytes(), limits.window_bytes);
      if (rng() % 3 == 0 || busy.empty()) {
        std::string chunk(std::min<size_t>(rx.readable_bytes(), rng() % 100000), '\0');
        rx.Read(chunk);
        out += chunk;
      }
      uint64_t b, q;
      if (rx.MaybeGrantCredit(&b, &q)) {
        EXPECT_GE(b, byte_limit);
        EXPECT_GE(q, seq_limit);
        byte_limit = b;
        seq_limit = q;
      }
    }
    EXPECT_EQ(rx.received_bytes(), s.bytes.size());
    EXPECT_TRUE(out == s.bytes) << "seed " << seed;
  }
}

TEST(ReassemblyBufferTest, DuplicatesAreDroppedAndChangeNothing) {
  ReassemblyBuffer rx({.window_bytes = 1000, .window_frames = 10});
  ASSERT_EQ(rx.OnData(0, "ab"), Status::kOk);
  ASSERT_EQ(rx.OnData(2, "ef"), Status::kOk);
  EXPECT_EQ(rx.OnData(0, "ab"), Status::kDuplicate);  // already read-ready
  EXPECT_EQ(rx.OnData(2, "ef"), Status::kDuplicate);  // pending, the same bytes
  EXPECT_EQ(rx.OnData(2, "xx"), Status::kInconsistentDuplicate);  // pending, other bytes
  std::string owned = "xy";
  EXPECT_EQ(rx.OnDataOwned(2, std::move(owned)), Status::kInconsistentDuplicate);
  EXPECT_EQ(owned, "xy") << "refused: the string is left as it was";
  EXPECT_EQ(rx.buffered_bytes(), 4u);
  EXPECT_EQ(rx.received_bytes(), 4u);
  EXPECT_EQ(rx.pending_frames(), 1u);
  ASSERT_EQ(rx.OnDataOwned(1, std::string("cd")), Status::kOk);
  EXPECT_EQ(ReadAll(&rx), "abcdef");
  EXPECT_EQ(rx.OnData(1, "cd"), Status::kDuplicate);  // consumed
}

TEST(ReassemblyBufferTest, EmptyPayloadIsAnError) {
  ReassemblyBuffer rx({});
  EXPECT_EQ(rx.OnData(0, ""), Status::kEmptyPayload);
  EXPECT_EQ(rx.next_seq(), 0u);
}

TEST(ReassemblyBufferTest, SequenceWindow) {
  ReassemblyBuffer rx({.window_bytes = 1 << 20, .window_frames = 4});
  EXPECT_EQ(rx.OnData(4, "x"), Status::kBeyondSeqWindow);
  EXPECT_EQ(rx.OnData(~0ULL, "x"), Status::kBeyondSeqWindow);
  ASSERT_EQ(rx.OnData(3, "d"), Status::kOk);
  ASSERT_EQ(rx.OnData(0, "a"), Status::kOk);
  ASSERT_EQ(rx.OnData(1, "b"), Status::kOk);
  // next_seq is 2 but the limit the sender knows is still 4.
  EXPECT_EQ(rx.OnData(4, "e"), Status::kBeyondSeqWindow);
  uint64_t bytes, seq;
  ASSERT_TRUE(rx.MaybeGrantCredit(&bytes, &seq));
  EXPECT_EQ(seq, 6u);
  EXPECT_EQ(rx.OnData(4, "e"), Status::kOk);
  EXPECT_EQ(rx.OnData(6, "g"), Status::kBeyondSeqWindow);
}

TEST(ReassemblyBufferTest, ByteWindowHoldsAgainstAGreedySender) {
  ReassemblyBuffer rx({.window_bytes = 100, .window_frames = 1000});
  const std::string ten(10, 't');
  uint64_t seq = 0;
  for (; seq < 10; ++seq) ASSERT_EQ(rx.OnData(seq + 1, ten), Status::kOk);  // all out of order
  EXPECT_EQ(rx.buffered_bytes(), 100u);
  EXPECT_EQ(rx.OnData(0, "x"), Status::kBeyondByteWindow);
  EXPECT_EQ(rx.OnData(50, "x"), Status::kBeyondByteWindow);
  EXPECT_EQ(rx.buffered_bytes(), 100u);
  // Reading does not open the window by itself: only an advertised grant does.
  ReassemblyBuffer rx2({.window_bytes = 100, .window_frames = 1000});
  ASSERT_EQ(rx2.OnData(0, std::string(100, 'a')), Status::kOk);
  ReadAll(&rx2);
  EXPECT_EQ(rx2.OnData(1, "b"), Status::kBeyondByteWindow);
  uint64_t bytes, frames;
  ASSERT_TRUE(rx2.MaybeGrantCredit(&bytes, &frames));
  EXPECT_EQ(bytes, 200u);
  EXPECT_EQ(rx2.OnData(1, "b"), Status::kOk);
}

TEST(ReassemblyBufferTest, CreditGrantsAtHalfWindow) {
  ReassemblyBuffer rx({.window_bytes = 100, .window_frames = 10});
  EXPECT_EQ(rx.advertised_byte_limit(), 100u);
  EXPECT_EQ(rx.advertised_seq_limit(), 10u);
  uint64_t bytes, seq;
  EXPECT_FALSE(rx.MaybeGrantCredit(&bytes, &seq));
  ASSERT_EQ(rx.OnData(0, std::string(49, 'a')), Status::kOk);
  ReadAll(&rx);
  EXPECT_FALSE(rx.MaybeGrantCredit(&bytes, &seq));  // 49 < 50, 1 frame < 5
  ASSERT_EQ(rx.OnData(1, "b"), Status::kOk);
  rx.MarkConsumed(1);
  ASSERT_TRUE(rx.MaybeGrantCredit(&bytes, &seq));
  EXPECT_EQ(bytes, 150u);
  EXPECT_EQ(seq, 12u);
  EXPECT_EQ(rx.advertised_byte_limit(), 150u);
  EXPECT_FALSE(rx.MaybeGrantCredit(&bytes, &seq));
  ASSERT_EQ(rx.OnFin(2), Status::kOk);
  rx.MarkConsumed(1000);
  EXPECT_FALSE(rx.MaybeGrantCredit(&bytes, &seq));  // nothing more after FIN
}

TEST(ReassemblyBufferTest, AfterFin) {
  ReassemblyBuffer rx({});
  ASSERT_EQ(rx.OnFin(3), Status::kOk);
  EXPECT_EQ(rx.OnData(3, "x"), Status::kAfterFin);
  EXPECT_EQ(rx.OnData(5, "x"), Status::kAfterFin);
  EXPECT_EQ(rx.OnFin(3), Status::kDuplicateFin);
  EXPECT_EQ(rx.OnData(2, "c"), Status::kOk);
  EXPECT_EQ(rx.OnData(0, "a"), Status::kOk);
  EXPECT_FALSE(rx.IsFinished());  // frame 1 is missing: no EOF yet
  EXPECT_EQ(ReadAll(&rx), "a");
  EXPECT_FALSE(rx.IsFinished());
  EXPECT_EQ(rx.OnData(1, "b"), Status::kOk);
  EXPECT_FALSE(rx.IsFinished());  // bytes not consumed yet
  EXPECT_EQ(ReadAll(&rx), "bc");
  EXPECT_TRUE(rx.IsFinished());
}

TEST(ReassemblyBufferTest, FinInconsistentWithWhatArrived) {
  {
    ReassemblyBuffer rx({});
    ASSERT_EQ(rx.OnData(0, "a"), Status::kOk);
    ASSERT_EQ(rx.OnData(1, "b"), Status::kOk);
    EXPECT_EQ(rx.OnFin(1), Status::kFinInconsistent);  // frame 1 exists
    EXPECT_EQ(rx.OnFin(0), Status::kFinInconsistent);
    EXPECT_FALSE(rx.fin_received());
    EXPECT_EQ(rx.OnFin(2), Status::kOk);
  }
  {
    ReassemblyBuffer rx({});
    ASSERT_EQ(rx.OnData(5, "f"), Status::kOk);
    EXPECT_EQ(rx.OnFin(5), Status::kFinInconsistent);  // pending frame 5
    EXPECT_EQ(rx.OnFin(3), Status::kFinInconsistent);
    EXPECT_EQ(rx.OnFin(6), Status::kOk);
  }
  {
    ReassemblyBuffer rx({.window_bytes = 10, .window_frames = 8});
    EXPECT_EQ(rx.OnFin(9), Status::kFinInconsistent);  // more than it could send
    EXPECT_EQ(rx.OnFin(8), Status::kOk);
  }
  {
    ReassemblyBuffer rx({});
    EXPECT_EQ(rx.OnFin(0), Status::kOk);  // an empty direction
    EXPECT_TRUE(rx.IsFinished());
  }
}

TEST(ReassemblyBufferTest, ReadableRegionsAndPartialConsumption) {
  ReassemblyBuffer rx({});
  const std::string big1(5000, '1'), big2(6000, '2');
  ASSERT_EQ(rx.OnData(1, big2), Status::kOk);
  ASSERT_EQ(rx.OnData(0, big1), Status::kOk);
  ASSERT_EQ(rx.OnData(2, "tail"), Status::kOk);
  std::string_view regions[8];
  size_t n = rx.GetReadableRegions(std::span(regions, 1));
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(regions[0], big1);
  rx.MarkConsumed(4999);
  n = rx.GetReadableRegions(regions);
  ASSERT_EQ(n, 3u);  // big frames are not coalesced
  EXPECT_EQ(regions[0], "1");
  EXPECT_EQ(regions[1], big2);
  EXPECT_EQ(regions[2], "tail");
  rx.MarkConsumed(3);
  n = rx.GetReadableRegions(regions);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(regions[0].size(), 5998u);
  ASSERT_EQ(rx.OnData(3, "more"), Status::kOk);  // small: joins "tail"
  n = rx.GetReadableRegions(regions);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(regions[1], "tailmore");
  rx.MarkConsumed(1 << 20);  // clamped
  EXPECT_EQ(rx.readable_bytes(), 0u);
  EXPECT_EQ(rx.consumed_bytes(), 11008u);
  EXPECT_EQ(rx.GetReadableRegions(regions), 0u);
}

// TakeReady hands out owned chunks: they stay intact while more frames
// arrive (and coalesce) behind them, which is how the gateway writes to the
// host while its lanes go on delivering.
TEST(ReassemblyBufferTest, TakeReadyMovesWholeChunksInOrder) {
  ReassemblyBuffer rx({.window_bytes = 1 << 20, .window_frames = 64});
  const std::string big1(9000, 'a'), big2(7000, 'b');
  ASSERT_EQ(rx.OnDataOwned(0, std::string(big1)), Status::kOk);
  ASSERT_EQ(rx.OnData(1, "xy"), Status::kOk);
  ASSERT_EQ(rx.OnDataOwned(2, std::string(big2)), Status::kOk);
  rx.MarkConsumed(8999);  // a partial consumption first: the head is trimmed

  std::vector<std::string> chunks;
  EXPECT_EQ(rx.TakeReady(&chunks, 2), 3u);  // at least max_bytes, whole chunks
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], "a");
  EXPECT_EQ(chunks[1], "xy");
  ASSERT_EQ(rx.OnData(3, "z"), Status::kOk);  // never changes a chunk already taken
  EXPECT_EQ(chunks[1], "xy");
  EXPECT_EQ(rx.readable_bytes(), 7001u);

  EXPECT_EQ(rx.TakeReady(&chunks, 1 << 20), 7001u);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[2], big2);
  EXPECT_EQ(chunks[3], "z");
  EXPECT_EQ(rx.readable_bytes(), 0u);
  EXPECT_EQ(rx.consumed_bytes(), 9000u + 2 + 7000 + 1);
  EXPECT_EQ(rx.TakeReady(&chunks, 1 << 20), 0u);
}

TEST(ReassemblyBufferTest, StatusNames) {
  for (int s = 0; s <= static_cast<int>(Status::kFinInconsistent); ++s) {
    EXPECT_NE(ReassemblyStatusName(Status(s)), "unknown");
  }
}

}  // namespace
}  // namespace braid::proxy
