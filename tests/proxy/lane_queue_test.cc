#include "proxy/stripe/lane_queue.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "braid/wire.h"
#include "gtest/gtest.h"
#include "proxy/wire/big_endian.h"

namespace braid::proxy {
namespace {

// A frame of `type` for `flow` with `payload` bytes; the payload's first
// bytes number it so that the tests can check the order.
std::string Frame(wire::FrameType type, uint32_t flow, size_t payload, uint32_t number = 0) {
  std::string f(wire::kHeaderSize + payload, '\0');
  f[0] = static_cast<char>(type);
  be::Store16(f.data() + 2, static_cast<uint16_t>(payload));
  be::Store32(f.data() + 4, flow);
  be::Store32(f.data() + 8, number);
  return f;
}

std::string Data(uint32_t flow, size_t payload, uint32_t number = 0) {
  return Frame(wire::FrameType::kData, flow, payload, number);
}

uint32_t FlowOf(const std::string& f) { return be::Load32(f.data() + 4); }
uint32_t NumberOf(const std::string& f) { return be::Load32(f.data() + 8); }

TEST(LaneQueueTest, OneFlowLeavesInOrder) {
  LaneQueue q;
  for (uint32_t i = 0; i < 100; ++i) q.Push(Data(7, 1 + i * 100, i));
  EXPECT_EQ(q.frames(), 100u);
  for (uint32_t i = 0; i < 100; ++i) {
    ASSERT_FALSE(q.empty());
    const std::string f = q.Pop();
    EXPECT_EQ(NumberOf(f), i);
    EXPECT_EQ(f.size(), wire::kHeaderSize + 1 + i * 100);
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.flow_queues(), 0u);
}

TEST(LaneQueueTest, SparseFlowGoesAheadOfABacklog) {
  LaneQueue q;
  // A bulk flow's backlog: 64 full frames (1 MiB), of which one is sent.
  for (uint32_t i = 0; i < 64; ++i) q.Push(Data(1, wire::kMaxPayload, i));
  EXPECT_EQ(FlowOf(q.Pop()), 1u);
  EXPECT_EQ(FlowOf(q.Pop()), 1u);  // bulk's second turn (it is now old)
  // A request of an interactive flow, and a PING, arrive.
  q.Push(Data(3, 64));
  q.Push(Frame(wire::FrameType::kPing, 0, 8));
  EXPECT_EQ(FlowOf(q.Pop()), 3u);
  EXPECT_EQ(static_cast<wire::FrameType>(q.Pop()[0]), wire::FrameType::kPing);
  // Then the backlog, in order.
  for (uint32_t i = 2; i < 64; ++i) EXPECT_EQ(NumberOf(q.Pop()), i);
  EXPECT_TRUE(q.empty());
}

TEST(LaneQueueTest, BackloggedFlowsShareBytesEquallyWhateverTheirFrameSizes) {
  LaneQueue q;
  // Flow 1 sends full frames, flow 2 frames of 1 KiB, both far more than
  // is popped.
  for (uint32_t i = 0; i < 400; ++i) q.Push(Data(1, wire::kMaxPayload, i));
  for (uint32_t i = 0; i < 6400; ++i) q.Push(Data(2, 1024 - wire::kHeaderSize, i));
  std::map<uint32_t, size_t> bytes;
  size_t popped = 0;
  while (popped < 4u << 20) {
    const std::string f = q.Pop();
    bytes[FlowOf(f)] += f.size();
    popped += f.size();
  }
  // Each gets half, to within one quantum.
  EXPECT_NEAR(static_cast<double>(bytes[1]), static_cast<double>(bytes[2]), LaneQueue::kQuantum);
}

TEST(LaneQueueTest, EachFlowKeepsItsOrderUnderRandomInterleaving) {
  std::mt19937 rng(42);
  LaneQueue q;
  std::map<uint64_t, uint32_t> pushed, popped;  // per queue key: next number
  auto key = [](wire::FrameType t, uint32_t flow) -> uint64_t {
    return t == wire::FrameType::kPing || t == wire::FrameType::kGoaway ? 1ull << 32 : flow;
  };
  const wire::FrameType types[] = {wire::FrameType::kData, wire::FrameType::kData, wire::FrameType::kCredit,
                                   wire::FrameType::kFin,  wire::FrameType::kPing, wire::FrameType::kGoaway};
  size_t expect_bytes = 0;
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 3 != 0 || q.empty()) {
      const auto type = types[rng() % std::size(types)];
      const uint32_t flow = 1 + rng() % 9;
      const size_t len = rng() % 2 ? wire::kMaxPayload : rng() % 200;
      std::string f = Frame(type, flow, len, pushed[key(type, flow)]++);
      expect_bytes += f.size();
      q.Push(std::move(f));
    } else {
      const std::string f = q.Pop();
      expect_bytes -= f.size();
      const auto type = static_cast<wire::FrameType>(f[0]);
      EXPECT_EQ(NumberOf(f), popped[key(type, FlowOf(f))]++) << "queue " << key(type, FlowOf(f));
    }
    ASSERT_EQ(q.bytes(), expect_bytes);
  }
  while (!q.empty()) {
    const std::string f = q.Pop();
    const auto type = static_cast<wire::FrameType>(f[0]);
    EXPECT_EQ(NumberOf(f), popped[key(type, FlowOf(f))]++);
  }
  EXPECT_EQ(pushed, popped);
  EXPECT_EQ(q.flow_queues(), 0u);
}

TEST(LaneQueueTest, AFlowCannotStayNewByTrickling) {
  LaneQueue q;
  for (uint32_t i = 0; i < 100; ++i) q.Push(Data(1, wire::kMaxPayload, i));
  q.Pop();  // the bulk flow has had its first turn
  // Flow 2 pushes one full frame before every pop, so its queue empties at
  // every pop it wins. Were an emptied queue simply removed, each frame
  // would make it new again and it would win every pop; kept on the old
  // list, it takes turns with flow 1.
  std::map<uint32_t, int> count;
  for (int i = 0; i < 40; ++i) {
    q.Push(Data(2, wire::kMaxPayload));
    ++count[FlowOf(q.Pop())];
  }
  EXPECT_GE(count[1], 18);
  EXPECT_GE(count[2], 18);
}

TEST(LaneQueueTest, GoawayIsATunnelFrameWhateverItsFlowIdField) {
  LaneQueue q;
  q.Push(Data(5, 10, 0));
  q.Push(Frame(wire::FrameType::kGoaway, 5, 4));  // flow id field = last_flow_id
  q.Push(Data(5, 10, 1));
  EXPECT_EQ(q.flow_queues(), 2u);
}

}  // namespace
}  // namespace braid::proxy
