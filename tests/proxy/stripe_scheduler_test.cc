#include "proxy/stripe/stripe_scheduler.h"

#include <chrono>
#include <random>
#include <vector>

#include "braid/wire.h"
#include "gtest/gtest.h"

namespace braid::proxy {
namespace {

using namespace std::chrono_literals;
using PickStatus = StripeScheduler::PickStatus;
using Clock = StripeScheduler::Clock;

constexpr uint64_t kLots = 1ULL << 50;
constexpr uint32_t kFull = wire::kMaxPayload;

std::vector<LaneLoad> Lanes(size_t n, uint32_t capacity = 1 << 20) {
  return std::vector<LaneLoad>(n, LaneLoad{.usable = true, .queued_bytes = 0,
                                           .capacity_bytes = capacity});
}

// Sends full frames until the flow is hot, at time t0.
void WarmUp(StripeScheduler* tx, const std::vector<LaneLoad>& lanes, Clock::time_point t0) {
  for (int i = 0; i < 100 && !tx->IsHot(t0); ++i) {
    ASSERT_EQ(tx->PickLane(kFull, lanes, t0).status, PickStatus::kOk);
  }
  ASSERT_TRUE(tx->IsHot(t0));
}

TEST(StripeSchedulerTest, ColdFlowStaysOnItsHomeLane) {
  StripeScheduler tx(2, kLots, kLots);
  const auto lanes = Lanes(4);
  Clock::time_point now{};
  for (int i = 0; i < 1000; ++i) {
    now += 1ms;
    const auto pick = tx.PickLane(100, lanes, now);  // 100 KB/s: never hot
    ASSERT_EQ(pick.status, PickStatus::kOk);
    EXPECT_EQ(pick.lane, 2);
    EXPECT_FALSE(pick.striped);
    EXPECT_EQ(pick.seq, static_cast<uint64_t>(i));
  }
  // A short burst of full frames stays home too.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(tx.PickLane(kFull, lanes, now).lane, 2);
}

TEST(StripeSchedulerTest, HotFlowSpreadsEvenlyOverEqualLanes) {
  StripeScheduler tx(1, kLots, kLots);
  const auto lanes = Lanes(4);
  const Clock::time_point t0{};
  WarmUp(&tx, lanes, t0);
  std::vector<int> count(4, 0);
  for (int i = 0; i < 400; ++i) {
    const auto pick = tx.PickLane(kFull, lanes, t0);
    ASSERT_EQ(pick.status, PickStatus::kOk);
    EXPECT_TRUE(pick.striped);
    ++count[pick.lane];
  }
  for (int c : count) EXPECT_EQ(c, 100);
}

TEST(StripeSchedulerTest, WeightsFollowFreeSpace) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(2, 400000);
  const Clock::time_point t0{};
  WarmUp(&tx, lanes, t0);
  lanes[0].queued_bytes = 100000;  // 300000 free
  lanes[1].queued_bytes = 300000;  // 100000 free
  std::vector<int> count(2, 0);
  for (int i = 0; i < 400; ++i) ++count[tx.PickLane(kFull, lanes, t0).lane];
  EXPECT_NEAR(count[0], 300, 2);
  EXPECT_NEAR(count[1], 100, 2);
}

TEST(StripeSchedulerTest, StalledAndDownLanesGetNothing) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(4, 100000);
  const Clock::time_point t0{};
  WarmUp(&tx, lanes, t0);
  lanes[1].queued_bytes = 100000;  // full: stalled
  lanes[2].usable = false;         // not up yet
  lanes[3].queued_bytes = 90000;   // 10000 free: no room for a full frame
  for (int i = 0; i < 100; ++i) {
    const auto pick = tx.PickLane(kFull, lanes, t0);
    ASSERT_EQ(pick.status, PickStatus::kOk);
    EXPECT_EQ(pick.lane, 0);
  }
  // Lane 3 still takes frames that fit in its free space.
  int on_three = 0;
  for (int i = 0; i < 100; ++i) on_three += tx.PickLane(9000, lanes, t0).lane == 3;
  EXPECT_GT(on_three, 0);
}

TEST(StripeSchedulerTest, IdleLaneTakesAFrameLargerThanItsWatermark) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(1, 1000);
  EXPECT_EQ(tx.PickLane(kFull, lanes, {}).status, PickStatus::kOk);
  lanes[0].queued_bytes = 1;
  EXPECT_EQ(tx.PickLane(kFull, lanes, {}).status, PickStatus::kBlockedOnLanes);
}

TEST(StripeSchedulerTest, HomeLaneFullOrDownFallsBackToAnother) {
  StripeScheduler tx(1, kLots, kLots);
  auto lanes = Lanes(3, 50000);
  lanes[1].queued_bytes = 50000;
  auto pick = tx.PickLane(10, lanes, {});
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_NE(pick.lane, 1);
  lanes[1].queued_bytes = 0;
  lanes[1].usable = false;
  pick = tx.PickLane(10, lanes, {});
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_NE(pick.lane, 1);
  // A home lane index past the lanes known so far also falls back.
  StripeScheduler far(7, kLots, kLots);
  EXPECT_EQ(far.PickLane(10, Lanes(2), {}).status, PickStatus::kOk);
}

TEST(StripeSchedulerTest, NoRoomAnywhereBlocksWithoutSpending) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(2, 1000);
  lanes[0].queued_bytes = 1000;
  lanes[1].usable = false;
  const auto pick = tx.PickLane(10, lanes, {});
  EXPECT_EQ(pick.status, PickStatus::kBlockedOnLanes);
  EXPECT_EQ(tx.next_seq(), 0u);
  EXPECT_EQ(tx.bytes_sent(), 0u);
  EXPECT_EQ(tx.PickLane(10, std::vector<LaneLoad>{}, {}).status, PickStatus::kBlockedOnLanes);
}

TEST(StripeSchedulerTest, SmallFramesOfAHotFlowStayHome) {
  StripeScheduler tx(3, kLots, kLots);
  const auto lanes = Lanes(4);
  const Clock::time_point t0{};
  WarmUp(&tx, lanes, t0);
  for (int i = 0; i < 20; ++i) {
    const auto pick = tx.PickLane(100, lanes, t0);
    EXPECT_EQ(pick.lane, 3);
    EXPECT_FALSE(pick.striped);
  }
}

TEST(StripeSchedulerTest, HotnessDecays) {
  StripeScheduler tx(0, kLots, kLots, {.hot_bytes = 100000, .half_life = 10ms});
  const auto lanes = Lanes(2);
  Clock::time_point now{};
  WarmUp(&tx, lanes, now);
  now += 5ms;
  EXPECT_TRUE(tx.IsHot(now));  // less than a half-life
  now += 100ms;                // ten half-lives
  EXPECT_FALSE(tx.IsHot(now));
  const auto pick = tx.PickLane(kFull, lanes, now);
  EXPECT_EQ(pick.lane, 0);
  EXPECT_FALSE(pick.striped);
}

TEST(StripeSchedulerTest, NeverSendsBeyondByteCredit) {
  StripeScheduler tx(0, 1000, kLots);
  const auto lanes = Lanes(1);
  EXPECT_EQ(tx.SendableBytes(), 1000u);
  EXPECT_EQ(tx.PickLane(1001, lanes, {}).status, PickStatus::kBlockedOnCredit);
  ASSERT_EQ(tx.PickLane(600, lanes, {}).status, PickStatus::kOk);
  EXPECT_EQ(tx.SendableBytes(), 400u);
  EXPECT_EQ(tx.PickLane(401, lanes, {}).status, PickStatus::kBlockedOnCredit);
  ASSERT_EQ(tx.PickLane(400, lanes, {}).status, PickStatus::kOk);
  EXPECT_EQ(tx.SendableBytes(), 0u);
  EXPECT_EQ(tx.PickLane(1, lanes, {}).status, PickStatus::kBlockedOnCredit);
  tx.OnCredit(500, kLots);  // stale, smaller: ignored
  EXPECT_EQ(tx.byte_limit(), 1000u);
  EXPECT_EQ(tx.SendableBytes(), 0u);
  tx.OnCredit(1000 + 100000, kLots);
  EXPECT_EQ(tx.SendableBytes(), wire::kMaxPayload);  // capped at one frame
  EXPECT_EQ(tx.bytes_sent(), 1000u);
}

TEST(StripeSchedulerTest, NeverSendsBeyondSequenceCredit) {
  StripeScheduler tx(0, kLots, 3);
  const auto lanes = Lanes(1);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(tx.PickLane(1, lanes, {}).status, PickStatus::kOk);
  EXPECT_EQ(tx.SendableBytes(), 0u);
  EXPECT_EQ(tx.PickLane(1, lanes, {}).status, PickStatus::kBlockedOnCredit);
  tx.OnCredit(0, 2);  // stale
  EXPECT_EQ(tx.PickLane(1, lanes, {}).status, PickStatus::kBlockedOnCredit);
  tx.OnCredit(0, 4);
  const auto pick = tx.PickLane(1, lanes, {});
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_EQ(pick.seq, 3u);
}

TEST(StripeSchedulerTest, BadSizesAndFinish) {
  StripeScheduler tx(0, kLots, kLots);
  const auto lanes = Lanes(1);
  EXPECT_EQ(tx.PickLane(0, lanes, {}).status, PickStatus::kBadSize);
  EXPECT_EQ(tx.PickLane(wire::kMaxPayload + 1, lanes, {}).status, PickStatus::kBadSize);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(tx.PickLane(10, lanes, {}).status, PickStatus::kOk);
  EXPECT_EQ(tx.Finish(), 5u);  // FIN carries the number of DATA frames
  EXPECT_TRUE(tx.finished());
  EXPECT_EQ(tx.Finish(), 5u);
  EXPECT_EQ(tx.PickLane(10, lanes, {}).status, PickStatus::kFinished);
  EXPECT_EQ(tx.SendableBytes(), 0u);
  EXPECT_EQ(PickStatusName(PickStatus::kBlockedOnLanes), "blocked on lanes");
}

TEST(StripeSchedulerTest, LanesAppearingLaterJoinTheStripe) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(4);
  lanes[2].usable = lanes[3].usable = false;
  const Clock::time_point t0{};
  WarmUp(&tx, lanes, t0);
  lanes[2].usable = lanes[3].usable = true;
  std::vector<int> count(4, 0);
  for (int i = 0; i < 400; ++i) ++count[tx.PickLane(kFull, lanes, t0).lane];
  for (int c : count) EXPECT_GT(c, 50);
}

// Queues a picked frame the way the tunnel does: header and payload.
void Queue(std::vector<LaneLoad>* lanes, const StripeScheduler::Pick& pick, uint32_t payload_len) {
  (*lanes)[pick.lane].queued_bytes += payload_len + static_cast<uint32_t>(wire::kHeaderSize);
}

TEST(StripeSchedulerTest, RoomCountsTheFrameHeader) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(1, 100000);
  lanes[0].queued_bytes = 100000 - kFull - wire::kHeaderSize + 1;  // one byte short
  EXPECT_EQ(StripeScheduler::FramesThatFit(kFull, lanes, 8), 0u);
  EXPECT_EQ(tx.PickLane(kFull, lanes, {}).status, PickStatus::kBlockedOnLanes);
  EXPECT_EQ(StripeScheduler::FramesThatFit(kFull - 1, lanes, 8), 1u);
  EXPECT_EQ(tx.PickLane(kFull - 1, lanes, {}).status, PickStatus::kOk);
}

TEST(StripeSchedulerTest, FramesThatFitAreExactlyTheFramesPickLanePlaces) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<LaneLoad> lanes(1 + rng() % 6);
    for (LaneLoad& lane : lanes) {
      lane.usable = rng() % 5 != 0;
      lane.capacity_bytes = 1000 + rng() % 300000;
      lane.queued_bytes = rng() % 3 == 0 ? 0 : rng() % 320000;
    }
    const uint32_t len = round % 2 == 0 ? kFull : 1 + rng() % kFull;
    const uint32_t fit = StripeScheduler::FramesThatFit(len, lanes, 1000);
    ASSERT_LT(fit, 1000u);
    EXPECT_EQ(StripeScheduler::FramesThatFit(len, lanes, 2), std::min(fit, 2u));
    StripeScheduler tx(static_cast<uint16_t>(rng() % lanes.size()), kLots, kLots);
    const Clock::time_point t0{};
    // Frames of `len` fill exactly `fit` slots; smaller ones at least as many.
    auto small = lanes;
    for (uint32_t i = 0; i < fit; ++i) {
      const auto pick = tx.PickLane(len, lanes, t0);
      ASSERT_EQ(pick.status, PickStatus::kOk) << "round " << round << " frame " << i << " of " << fit;
      Queue(&lanes, pick, len);
      const uint32_t shorter = 1 + rng() % len;
      const auto small_pick = tx.PickLane(shorter, small, t0);
      ASSERT_EQ(small_pick.status, PickStatus::kOk) << "round " << round << " frame " << i << " of " << fit;
      Queue(&small, small_pick, shorter);
    }
    EXPECT_EQ(tx.PickLane(len, lanes, t0).status, PickStatus::kBlockedOnLanes) << "round " << round;
    EXPECT_EQ(StripeScheduler::FramesThatFit(len, lanes, 1000), 0u);
  }
}

TEST(StripeSchedulerTest, OverflowPlacesAFrameAlreadyReadOnTheLaneWithMostRoom) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(3, 100000);
  lanes[0].queued_bytes = 120000;  // home, stalled and over its watermark
  lanes[1].queued_bytes = 99000;   // 1000 free: too little for the frame
  lanes[2].queued_bytes = 99500;
  ASSERT_EQ(StripeScheduler::FramesThatFit(kFull, lanes, 8), 0u);
  EXPECT_EQ(tx.PickLane(kFull, lanes, {}).status, PickStatus::kBlockedOnLanes);
  auto pick = tx.PickLane(kFull, lanes, {}, StripeScheduler::WhenFull::kOverflow);
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_TRUE(pick.overflow);
  EXPECT_EQ(pick.lane, 1);
  EXPECT_EQ(pick.seq, 0u);
  EXPECT_EQ(tx.bytes_sent(), kFull);
  // With room somewhere, kOverflow picks as usual.
  lanes[2].queued_bytes = 0;
  pick = tx.PickLane(kFull, lanes, {}, StripeScheduler::WhenFull::kOverflow);
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_FALSE(pick.overflow);
  EXPECT_EQ(pick.lane, 2);
  // No usable lane: home, where the tunnel holds it until the lane is up.
  for (LaneLoad& lane : lanes) lane.usable = false;
  pick = tx.PickLane(10, lanes, {}, StripeScheduler::WhenFull::kOverflow);
  ASSERT_EQ(pick.status, PickStatus::kOk);
  EXPECT_EQ(pick.lane, 0);
  EXPECT_EQ(pick.seq, 2u);
  // Credit still binds.
  StripeScheduler poor(0, 10, kLots);
  EXPECT_EQ(poor.PickLane(11, lanes, {}, StripeScheduler::WhenFull::kOverflow).status,
            PickStatus::kBlockedOnCredit);
}

TEST(StripeSchedulerTest, AStalledHomeLaneDoesNotHoldTheFlow) {
  StripeScheduler tx(0, kLots, kLots);
  auto lanes = Lanes(2, 100000);
  lanes[0].queued_bytes = 100000;  // never drains
  Clock::time_point now{};
  for (int i = 0; i < 50; ++i) {
    now += 1ms;
    const uint32_t len = i % 2 == 0 ? 100 : kFull;  // cold and hot alike
    ASSERT_GT(StripeScheduler::FramesThatFit(len, lanes, 8), 0u);
    const auto pick = tx.PickLane(len, lanes, now);
    ASSERT_EQ(pick.status, PickStatus::kOk);
    EXPECT_EQ(pick.lane, 1);
    lanes[1].queued_bytes = 0;  // lane 1 keeps draining
  }
}

}  // namespace
}  // namespace braid::proxy
