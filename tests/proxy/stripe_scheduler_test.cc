#include "proxy/stripe/stripe_scheduler.h"

#include <chrono>
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

}  // namespace
}  // namespace braid::proxy
