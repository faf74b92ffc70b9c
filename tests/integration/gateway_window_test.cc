// Flow windows that size themselves (issue 14), against real gateways:
//   - a busy flow's receive window grows past its small initial size while
//     it is window-limited, and goes back to it after the idle reset; the
//     data arrives whole (SHA-256);
//   - with many bulk flows at once, the windows' growth never exceeds the
//     gateway's and the tunnel's budgets, and every flow arrives whole;
//   - with tunnel.lanes = 0, a short link gets one lane per core.
// On loopback the round trip is short, so the tests start from the
// smallest window (64 KiB), which a bulk flow drains faster than two round
// trips of its lanes; the WAN bench (bench/wan) measures the same on long
// links.
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "nlohmann/json.hpp"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kInitialWindow = 64 * 1024;

class GatewayWindowTest : public GatewayPairTest {
 protected:
  void StartPairWithWindows(uint16_t target_port, uint64_t gateway_budget, uint64_t tunnel_budget) {
    ASSERT_TRUE(StartPair(target_port, [&](nlohmann::json& onprem, nlohmann::json& cloud) {
      for (nlohmann::json* c : {&onprem, &cloud}) {
        (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
        (*c)["tunnel"]["flow_window_bytes"] = kInitialWindow;
        (*c)["tunnel"]["flow_window_max_bytes"] = 32 * kMiB;
        (*c)["tunnel"]["window_budget_bytes"] = tunnel_budget;
        (*c)["limits"]["window_budget_bytes"] = gateway_budget;
      }
    }));
    cloud_admin_ = cloud_->AdminPort();
    ASSERT_NE(cloud_admin_, 0);
  }

  // The receive windows of gw-cloud's live flows (the receiving side of
  // source -> sink), from /flows.
  std::vector<uint64_t> CloudWindows() {
    std::vector<uint64_t> out;
    HttpReply r = HttpGet(cloud_admin_, "/flows");
    if (r.status != 200) return out;
    const nlohmann::json flows = nlohmann::json::parse(r.body, nullptr, false);
    if (!flows.is_object() || !flows.contains("flows")) return out;
    for (const auto& f : flows["flows"]) out.push_back(f.value("window_bytes", uint64_t{0}));
    return out;
  }

  uint16_t cloud_admin_ = 0;
};

TEST_F(GatewayWindowTest, BusyFlowGrowsItsWindowAndIdleShrinksIt) {
  constexpr uint64_t kSeed = 0x71d0;
  constexpr uint64_t kFirst = 256 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  // The sink reads the whole stream; the source sends a burst, pauses
  // past the idle reset, then ends, all on one flow.
  TcpServer sink(DrainHandler(&received, Millis(120'000), kSeed, &progress));
  ASSERT_NO_FATAL_FAILURE(StartPairWithWindows(sink.port(), 512 * kMiB, 256 * kMiB));

  Socket s = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(s.valid());
  PatternStream pattern(kSeed);
  Sha256 sent_digest;
  uint64_t sent = 0;
  uint64_t largest = 0;
  std::atomic<bool> sending{true};
  std::thread watcher([&] {
    while (sending.load()) {
      for (uint64_t w : CloudWindows()) largest = std::max(largest, w);
      std::this_thread::sleep_for(Millis(20));
    }
  });
  std::string chunk(256 * 1024, '\0');
  auto send_bytes = [&](uint64_t n) {
    const Deadline deadline = After(Millis(60'000));
    while (n > 0 && Clock::now() < deadline) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(n, chunk.size()));
      pattern.Fill(chunk.data(), len);
      size_t off = 0;
      while (off < len) {
        const ssize_t w = ::send(s.fd(), chunk.data() + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (w < 0) {
          pollfd p{.fd = s.fd(), .events = POLLOUT, .revents = 0};
          if (Clock::now() > deadline) return false;
          ::poll(&p, 1, 100);
          continue;
        }
        off += static_cast<size_t>(w);
      }
      sent_digest.Update(chunk.data(), len);
      sent += len;
      n -= len;
    }
    return n == 0;
  };
  const bool first_sent = send_bytes(kFirst) && WaitAtLeast(progress, kFirst, After(Millis(60'000)));
  sending.store(false);
  watcher.join();
  ASSERT_TRUE(first_sent) << "the first " << kFirst / kMiB << " MiB did not arrive";
  EXPECT_GT(largest, kInitialWindow) << "the window never grew during a " << kFirst / kMiB << " MiB burst";

  // Idle: back to the initial window within a few seconds of the reset.
  const Deadline idle_deadline = After(Millis(15'000));
  std::vector<uint64_t> windows;
  while (Clock::now() < idle_deadline) {
    windows = CloudWindows();
    if (windows.size() == 1 && windows[0] == kInitialWindow) break;
    std::this_thread::sleep_for(Millis(100));
  }
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0], kInitialWindow) << "the window did not shrink back when the flow went idle";

  // The same flow carries on, and everything arrives.
  ASSERT_TRUE(send_bytes(8 * kMiB));
  ASSERT_TRUE(s.ShutdownWrite());
  ASSERT_TRUE(received.WaitFor(1, After(Millis(60'000))));
  const ReceiveResult r = received.Values()[0];
  EXPECT_EQ(r.end, StreamEnd::kEof);
  EXPECT_EQ(r.bytes, sent);
  EXPECT_TRUE(r.pattern_ok) << "first bad byte at " << r.first_bad;
  EXPECT_EQ(r.sha256, sent_digest.Hex());
}

TEST_F(GatewayWindowTest, ManyBulkFlowsStayWithinTheWindowBudgets) {
  constexpr int kFlows = 12;
  constexpr uint64_t kSize = 48 * kMiB;
  constexpr uint64_t kGatewayBudget = 1 * kMiB;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(120'000)));
  // gw-cloud: 1 MiB of growth for the whole gateway (the tunnel's own
  // budget, 4 MiB, is larger, so the gateway's binds).
  ASSERT_NO_FATAL_FAILURE(StartPairWithWindows(sink.port(), kGatewayBudget, 4 * kMiB));

  std::atomic<bool> done{false};
  uint64_t worst_growth = 0;
  double worst_used = 0;
  std::thread watcher([&] {
    while (!done.load()) {
      uint64_t growth = 0;
      for (uint64_t w : CloudWindows()) growth += w > kInitialWindow ? w - kInitialWindow : 0;
      worst_growth = std::max(worst_growth, growth);
      const HttpReply m = HttpGet(cloud_admin_, "/metrics");
      worst_used = std::max(worst_used, Metric(m.body, "braid_flow_window_budget_used_bytes"));
      std::this_thread::sleep_for(Millis(20));
    }
  });
  std::vector<std::thread> sources;
  std::vector<OneWayResult> results(kFlows);
  for (int i = 0; i < kFlows; ++i) {
    sources.emplace_back([&, i] { results[i] = SendAndClose(service_port(), 0xb0d0 + i, kSize, Millis(120'000)); });
  }
  for (auto& t : sources) t.join();
  const bool all_received = received.WaitFor(kFlows, After(Millis(60'000)));
  done.store(true);
  watcher.join();
  ASSERT_TRUE(all_received);

  std::multiset<std::string> want, got;
  for (int i = 0; i < kFlows; ++i) {
    EXPECT_EQ(results[i].connect_error, 0);
    EXPECT_EQ(results[i].sent.bytes, kSize);
    want.insert(PatternDigest(0xb0d0 + i, kSize));
  }
  for (const ReceiveResult& r : received.Values()) {
    EXPECT_EQ(r.end, StreamEnd::kEof);
    got.insert(r.sha256);
  }
  EXPECT_EQ(got, want);
  EXPECT_LE(worst_growth, kGatewayBudget) << "flows grew their windows past the gateway's budget";
  EXPECT_LE(worst_used, static_cast<double>(kGatewayBudget));
  // The growth is given back once the flows have ended.
  const Deadline deadline = After(Millis(10'000));
  double used = -1;
  while (Clock::now() < deadline) {
    used = Metric(HttpGet(cloud_admin_, "/metrics").body, "braid_flow_window_budget_used_bytes");
    if (used == 0) break;
    std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_EQ(used, 0);
}

TEST_F(GatewayWindowTest, DefaultLanesOnAShortLinkAreOnePerCore) {
  // tunnel.lanes = 0: the dialer's first lane measures the round trip, and
  // on loopback (a short link) the tunnel gets one lane per core, not the
  // eight a long link gets (LaneCount).
  constexpr uint64_t kSeed = 0x1a9e;
  constexpr uint64_t kSize = 16 * kMiB;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    onprem["tunnel"]["lanes"] = 0;
    cloud["admin"] = {{"listen", "127.0.0.1:0"}};
  }));
  cloud_admin_ = cloud_->AdminPort();
  const OneWayResult sent = SendAndClose(service_port(), kSeed, kSize, Millis(60'000));
  ASSERT_EQ(sent.connect_error, 0);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(30'000))));
  EXPECT_EQ(received.Values()[0].sha256, PatternDigest(kSeed, kSize));
  EXPECT_TRUE(onprem_->WaitForLog("first lane's round trip", Millis(5'000)));
  const nlohmann::json tunnels = nlohmann::json::parse(HttpGet(cloud_admin_, "/tunnels").body, nullptr, false);
  ASSERT_TRUE(tunnels.is_object() && tunnels["tunnels"].size() == 1) << tunnels.dump();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(tunnels["tunnels"][0]["lanes"].size(), std::min(cores, 256u));
}

}  // namespace
}  // namespace braid::integration
