// LinkModel against a model clock: delay, order, loss, link rate, queue
// bound, the per-connection policer, and packets the policer cannot read.
#include "bench/wan/link_model.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "tests/bench/wan/packet_builder.h"

namespace braid::bench {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using testing::kAddrA;
using testing::kAddrB;
using testing::MakeIpv4;

std::vector<uint8_t> Tcp(uint16_t src_port, size_t size) { return MakeIpv4(kAddrA, kAddrB, src_port, 5201, size); }

TEST(LinkModelTest, ReleasesExactlyTheDelayAfterArrival) {
  LinkModel link({.delay = milliseconds(10)});
  EXPECT_FALSE(link.NextRelease().has_value());
  ASSERT_EQ(link.Offer(7, Tcp(1000, 1500), milliseconds(5)), LinkModel::Verdict::kQueued);
  EXPECT_EQ(link.NextRelease(), milliseconds(15));
  EXPECT_EQ(link.in_flight_packets(), 1u);
  EXPECT_EQ(link.in_flight_bytes(), 1500u);
  EXPECT_FALSE(link.PopReleased(milliseconds(15) - nanoseconds(1)).has_value());
  const auto p = link.PopReleased(milliseconds(15));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->tag, 7u);
  EXPECT_EQ(p->size, 1500u);
  EXPECT_FALSE(link.PopReleased(milliseconds(100)).has_value());
  EXPECT_EQ(link.counters().forwarded_packets, 1u);
  EXPECT_EQ(link.counters().forwarded_bytes, 1500u);
  EXPECT_EQ(link.in_flight_bytes(), 0u);
}

TEST(LinkModelTest, ZeroDelayReleasesAtOnce) {
  LinkModel link({});
  ASSERT_EQ(link.Offer(1, Tcp(1000, 60), milliseconds(3)), LinkModel::Verdict::kQueued);
  EXPECT_TRUE(link.PopReleased(milliseconds(3)).has_value());
}

TEST(LinkModelTest, KeepsOrderAndNeverReleasesEarlier) {
  // Packets of mixed sizes through a rate-limited, delayed link, in far
  // more than the ring's initial size: they come out in offer order, and
  // release times never go down.
  LinkModel link({.delay = milliseconds(20), .rate_bytes_per_s = 125'000'000, .queue_bytes = 1u << 30});
  constexpr uint64_t kPackets = 5000;
  for (uint64_t i = 0; i < kPackets; ++i) {
    ASSERT_EQ(link.Offer(i, Tcp(1000, 40 + (i * 7919) % 9000), microseconds(i * 3)), LinkModel::Verdict::kQueued);
  }
  nanoseconds last{0};
  for (uint64_t i = 0; i < kPackets; ++i) {
    const auto next = link.NextRelease();
    ASSERT_TRUE(next.has_value());
    EXPECT_GE(*next, last);
    last = *next;
    const auto p = link.PopReleased(*next);
    ASSERT_TRUE(p.has_value());
    ASSERT_EQ(p->tag, i);
  }
  EXPECT_EQ(link.in_flight_packets(), 0u);
}

TEST(LinkModelTest, SerializesAtTheLinkRate) {
  // 1,000,000 bytes/s: a 1000-byte packet takes exactly 1 ms on the wire.
  LinkModel link({.delay = milliseconds(5), .rate_bytes_per_s = 1'000'000, .queue_bytes = 100'000});
  for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(link.Offer(i, Tcp(1000, 1000), nanoseconds(0)), LinkModel::Verdict::kQueued);
  EXPECT_EQ(link.BacklogBytes(nanoseconds(0)), 3000u);
  EXPECT_EQ(link.BacklogBytes(microseconds(1500)), 1500u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(link.NextRelease(), milliseconds(5 + i));
    ASSERT_TRUE(link.PopReleased(milliseconds(5 + i)).has_value());
  }
  // After the link has gone idle, a packet starts at once.
  ASSERT_EQ(link.Offer(9, Tcp(1000, 500), milliseconds(10)), LinkModel::Verdict::kQueued);
  EXPECT_EQ(link.NextRelease(), milliseconds(10) + microseconds(500) + milliseconds(5));
}

TEST(LinkModelTest, TailDropsPastTheQueueBound) {
  LinkModel link({.rate_bytes_per_s = 1'000'000, .queue_bytes = 3000});
  int queued = 0;
  for (uint64_t i = 0; i < 10; ++i) queued += link.Offer(i, Tcp(1000, 1000), nanoseconds(0)) == LinkModel::Verdict::kQueued;
  EXPECT_EQ(queued, 3);
  EXPECT_EQ(link.counters().dropped_queue_full, 7u);
  EXPECT_EQ(link.BacklogBytes(nanoseconds(0)), 3000u);
  // One packet's worth has left after 1 ms: room for exactly one more.
  EXPECT_EQ(link.Offer(10, Tcp(1000, 1000), milliseconds(1)), LinkModel::Verdict::kQueued);
  EXPECT_EQ(link.Offer(11, Tcp(1000, 1), milliseconds(1)), LinkModel::Verdict::kDroppedQueueFull);
  // An idle link takes one packet even if it is larger than the bound.
  LinkModel no_queue({.rate_bytes_per_s = 1'000'000, .queue_bytes = 0});
  EXPECT_EQ(no_queue.Offer(0, Tcp(1000, 1500), nanoseconds(0)), LinkModel::Verdict::kQueued);
  EXPECT_EQ(no_queue.Offer(1, Tcp(1000, 40), nanoseconds(0)), LinkModel::Verdict::kDroppedQueueFull);
}

// Offers n packets one microsecond apart and returns the verdicts.
std::vector<LinkModel::Verdict> OfferMany(LinkModel& link, int n) {
  std::vector<LinkModel::Verdict> verdicts;
  for (int i = 0; i < n; ++i) {
    verdicts.push_back(link.Offer(static_cast<uint64_t>(i), Tcp(1000, 100), microseconds(i)));
    while (link.PopReleased(microseconds(i))) {
    }
  }
  return verdicts;
}

TEST(LinkModelTest, LossRateIsPlausibleAndTheSeedRepeatsIt) {
  constexpr int kPackets = 200'000;
  LinkModel link({.loss = 0.01, .seed = 7});
  const std::vector<LinkModel::Verdict> first = OfferMany(link, kPackets);
  // Binomial(200000, 0.01): mean 2000, standard deviation about 44.5; the
  // bounds are over 6 deviations away.
  EXPECT_GT(link.counters().dropped_loss, 1730u);
  EXPECT_LT(link.counters().dropped_loss, 2270u);
  EXPECT_EQ(link.counters().forwarded_packets + link.counters().dropped_loss, uint64_t{kPackets});

  LinkModel again({.loss = 0.01, .seed = 7});
  EXPECT_EQ(OfferMany(again, kPackets), first);
  LinkModel other({.loss = 0.01, .seed = 8});
  EXPECT_NE(OfferMany(other, kPackets), first);
}

TEST(LinkModelTest, LossOfZeroAndOne) {
  LinkModel none({.loss = 0});
  OfferMany(none, 10'000);
  EXPECT_EQ(none.counters().dropped_loss, 0u);
  LinkModel all({.loss = 1});
  OfferMany(all, 1000);
  EXPECT_EQ(all.counters().dropped_loss, 1000u);
  EXPECT_EQ(all.counters().forwarded_packets, 0u);
}

TEST(LinkModelTest, LostPacketsStillTookTheirTimeOnTheWire) {
  LinkModel link({.loss = 1, .rate_bytes_per_s = 1'000'000, .queue_bytes = 10'000});
  EXPECT_EQ(link.Offer(0, Tcp(1000, 1000), nanoseconds(0)), LinkModel::Verdict::kDroppedLoss);
  EXPECT_EQ(link.BacklogBytes(nanoseconds(0)), 1000u);
}

TEST(LinkModelTest, PolicerDropsOnlyTheConnectionOverItsRate) {
  // 1,000,000 bytes/s per connection, a 10,000-byte bucket. Over one second
  // connection 1 offers 2,000,000 bytes (twice its rate) and connection 2
  // 500,000 bytes (half its rate), interleaved on the same link.
  LinkModel link({.per_conn_bytes_per_s = 1'000'000, .per_conn_burst_bytes = 10'000});
  uint64_t passed_fast = 0, passed_slow = 0, dropped_slow = 0;
  for (int i = 0; i < 2000; ++i) {  // one packet every 0.5 ms
    const nanoseconds now = microseconds(500 * i);
    passed_fast += link.Offer(1, Tcp(1, 1000), now) == LinkModel::Verdict::kQueued;
    if (i % 4 == 0) {  // one packet every 2 ms
      const bool passed = link.Offer(2, Tcp(2, 1000), now) == LinkModel::Verdict::kQueued;
      passed_slow += passed;
      dropped_slow += !passed;
    }
    while (link.PopReleased(now)) {
    }
  }
  EXPECT_EQ(dropped_slow, 0u);
  EXPECT_EQ(passed_slow, 500u);
  // The bucket plus one second at the rate: 1,010,000 bytes, 1010 packets
  // (give or take the last partial refill).
  EXPECT_GE(passed_fast, 1005u);
  EXPECT_LE(passed_fast, 1011u);
  EXPECT_EQ(link.counters().dropped_policer, 2000u - passed_fast);
  EXPECT_EQ(link.counters().unpoliced, 0u);
}

TEST(LinkModelTest, PolicerLetsWhatItCannotReadPassUnpoliced) {
  // A bucket smaller than any packet: every readable TCP packet is dropped,
  // so whatever passes was not policed.
  LinkModel link({.per_conn_bytes_per_s = 1, .per_conn_burst_bytes = 10});
  EXPECT_EQ(link.Offer(0, Tcp(1, 100), nanoseconds(0)), LinkModel::Verdict::kDroppedPolicer);

  std::vector<std::vector<uint8_t>> unreadable;
  unreadable.push_back(MakeIpv4(kAddrA, kAddrB, 1, 53, 100, testing::kProtoUdp));  // not TCP
  std::vector<uint8_t> v6 = Tcp(1, 100);
  v6[0] = 0x60;  // IPv6
  unreadable.push_back(v6);
  std::vector<uint8_t> fragment = Tcp(1, 100);
  fragment[7] = 0x10;  // fragment offset 16: no ports in it
  unreadable.push_back(fragment);
  std::vector<uint8_t> bad_ihl = Tcp(1, 100);
  bad_ihl[0] = 0x4f;  // a 60-byte header claimed...
  bad_ihl.resize(30);  // ...in a 30-byte packet
  bad_ihl[2] = 0;
  bad_ihl[3] = 30;
  unreadable.push_back(bad_ihl);
  std::vector<uint8_t> long_total = Tcp(1, 100);
  long_total[2] = 0xff;  // total length beyond the bytes
  unreadable.push_back(long_total);
  unreadable.push_back({0x45, 0x00});  // cut short
  unreadable.push_back({});            // empty
  for (size_t i = 0; i < unreadable.size(); ++i) {
    EXPECT_EQ(link.Offer(i + 1, unreadable[i], nanoseconds(0)), LinkModel::Verdict::kQueued) << "packet " << i;
  }
  EXPECT_EQ(link.counters().unpoliced, unreadable.size());
  EXPECT_EQ(link.counters().dropped_policer, 1u);
}

TEST(LinkConfigTest, CheckNamesWhatIsWrong) {
  EXPECT_TRUE(LinkConfig{}.Check().ok());
  EXPECT_FALSE(LinkConfig{.loss = 1.5}.Check().ok());
  EXPECT_FALSE(LinkConfig{.loss = -0.1}.Check().ok());
  EXPECT_FALSE(LinkConfig{.delay = milliseconds(-1)}.Check().ok());
  EXPECT_NE(LinkConfig{.per_conn_bytes_per_s = 1000}.Check().message().find("burst"), std::string::npos);
}

}  // namespace
}  // namespace braid::bench
