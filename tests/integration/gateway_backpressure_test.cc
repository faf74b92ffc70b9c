// A destination that never reads: flow control must push back all the way
// to the source host. The source keeps trying to send; it must stall after
// a bounded amount (the flow windows plus the kernel's socket buffers), stay
// stalled while it keeps trying for several seconds, and neither gateway's
// resident memory may grow with what the source tries to send. Without
// credit-based flow control the source would never stall and a gateway
// would buffer without bound.
#include <thread>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// flow_window_bytes on both gateways.
constexpr uint64_t kWindow = 1 * kMiB;
// Loopback socket buffers autotune to a few MiB each; four of them (source,
// gw-onprem's host socket, gw-cloud's host socket, sink) plus two windows
// stay far below this.
constexpr uint64_t kMaxInFlight = 64 * kMiB;
constexpr long kMaxRssGrowthKiB = 64 * 1024;
constexpr Millis kStallQuiet(1'000);  // no progress this long = stalled
constexpr Millis kHold(4'000);        // then keep trying this long

class GatewayBackpressureTest : public GatewayPairTest {};

TEST_F(GatewayBackpressureTest, DestinationThatNeverReadsPushesBackToSource) {
  Collector<bool> release;
  TcpServer sink([&](Socket&) { release.WaitFor(1, After(Millis(60'000))); });  // holds, never reads
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    onprem["tunnel"]["flow_window_bytes"] = kWindow;
    cloud["tunnel"]["flow_window_bytes"] = kWindow;
  }));
  const long onprem_base = onprem_->RssKiB().value_or(0);
  const long cloud_base = cloud_->RssKiB().value_or(0);

  Socket s = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(s.valid());
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> stop{false};
  SendResult result;
  std::thread source([&] {
    SendOptions options;
    options.size = UINT64_MAX;
    options.stop = &stop;
    options.progress = [&](uint64_t total) { sent.store(total); };
    result = SendPattern(s, options, After(Millis(60'000)));
  });

  // Wait for the stall: no byte accepted for kStallQuiet.
  const Deadline stall_deadline = After(Millis(30'000));
  uint64_t last = 0;
  auto last_change = Clock::now();
  bool stalled = false;
  while (Clock::now() < stall_deadline && !stalled) {
    std::this_thread::sleep_for(Millis(50));
    const uint64_t now = sent.load();
    if (now != last) {
      last = now;
      last_change = Clock::now();
    } else if (now > 0 && Clock::now() - last_change >= kStallQuiet) {
      stalled = true;
    }
  }
  const uint64_t at_stall = sent.load();
  EXPECT_TRUE(stalled) << "the source was never pushed back; it sent " << at_stall / kMiB << " MiB";
  EXPECT_LT(at_stall, kMaxInFlight) << "too much accepted before the source was pushed back";

  // Keep trying; watch memory.
  long onprem_peak = 0, cloud_peak = 0;
  const Deadline hold_end = After(kHold);
  while (Clock::now() < hold_end) {
    onprem_peak = std::max(onprem_peak, onprem_->RssKiB().value_or(0));
    cloud_peak = std::max(cloud_peak, cloud_->RssKiB().value_or(0));
    std::this_thread::sleep_for(Millis(100));
  }
  const uint64_t after_hold = sent.load();
  stop.store(true);
  source.join();
  release.Add(true);

  EXPECT_EQ(result.error, 0) << "the flow broke while pushed back: " << strerror(result.error);
  EXPECT_LT(after_hold - at_stall, kMiB) << "the source kept making progress while the destination read nothing";
  EXPECT_LT(onprem_peak - onprem_base, kMaxRssGrowthKiB) << "gw-onprem RSS " << onprem_base << " -> " << onprem_peak
                                                          << " KiB";
  EXPECT_LT(cloud_peak - cloud_base, kMaxRssGrowthKiB) << "gw-cloud RSS " << cloud_base << " -> " << cloud_peak
                                                        << " KiB";
  std::cerr << "source stalled after " << at_stall / 1024 << " KiB; RSS gw-onprem " << onprem_base << " -> "
            << onprem_peak << " KiB, gw-cloud " << cloud_base << " -> " << cloud_peak << " KiB\n";
}

}  // namespace
}  // namespace braid::integration
