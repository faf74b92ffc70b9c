// Retiring a lane replaces its connection make-before-break
// (docs/protocol.md, "Lane loss", "Retiring"):
//   - one flow over a tunnel of ONE lane, whose connection is retired five
//     times, on either gateway (the dialer dials the new one itself, the
//     acceptor asks it to with ROTATE), while data is on its way: each
//     time a new connection takes over, the data arrives whole (SHA-256),
//     the flow ends cleanly, and /metrics counts the connections retired
//     and no lane lost or redialed;
//   - tunnel.key_limit "rotate": lanes are replaced before their key usage
//     limit instead of sending TLS KeyUpdate: many rotations in one
//     transfer, no KeyUpdate, no lane lost, every byte where it belongs;
//     and with a limit so small that connections reach it before their
//     replacement is up (they fail, and are recovered as lost ones, some
//     while the connection they replaced still drains), still every byte.
#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "nlohmann/json.hpp"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kBulk = 128 * kMiB;
#else
constexpr uint64_t kBulk = 512 * kMiB;
#endif

class GatewayLaneRotationTest : public GatewayPairTest {
 protected:
  // The id of the one tunnel `gw` has (0 if none).
  static uint64_t TunnelId(GatewayProcess& gw) {
    const nlohmann::json t = OnlyTunnel(gw);
    return t.is_object() ? t["id"].get<uint64_t>() : 0;
  }

  // WaitForGeneration waits until lane 0 of gw's tunnel is up on a
  // connection above `above`; -1 at the deadline, else that generation.
  static int64_t WaitForGeneration(GatewayProcess& gw, int64_t above, Deadline deadline) {
    while (Clock::now() < deadline) {
      nlohmann::json lanes = TunnelLanes(gw);
      if (lanes.size() == 1 && lanes[0].value("state", "") == "up" && lanes[0]["generation"].get<int64_t>() > above) {
        return lanes[0]["generation"].get<int64_t>();
      }
      std::this_thread::sleep_for(Millis(10));
    }
    return -1;
  }

  // ExpectWholeAndCompleted: the sink got exactly the `size` bytes sent,
  // and both gateways ended the flow as completed.
  void ExpectWholeAndCompleted(Collector<ReceiveResult>& received, const OneWayResult& r, uint64_t size = kBulk) {
    ASSERT_TRUE(received.WaitFor(1, After(Millis(60'000))));
    const ReceiveResult got = received.Values()[0];
    EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end) << " after " << got.bytes << " bytes";
    EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
    EXPECT_EQ(got.bytes, size);
    EXPECT_EQ(got.sha256, r.sent.sha256);
    EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
    ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
    ASSERT_TRUE(cloud_->WaitForFlows(1, Millis(10'000)));
    EXPECT_EQ(onprem_->Flows()[0].end, "completed");
    EXPECT_EQ(cloud_->Flows()[0].end, "completed");
  }
};

const std::string kLostAtOnprem = R"(braid_lanes_lost_total{peer="gw-cloud"})";
const std::string kLostAtCloud = R"(braid_lanes_lost_total{peer="gw-onprem"})";
const std::string kRetiredAtOnprem = R"(braid_lanes_retired_total{peer="gw-cloud"})";
const std::string kRetiredAtCloud = R"(braid_lanes_retired_total{peer="gw-onprem"})";
const std::string kRedialedAtOnprem = R"(braid_lanes_redialed_total{peer="gw-cloud"})";

TEST_F(GatewayLaneRotationTest, RetiringTheOnlyLaneReplacesItWhileTheFlowGoesOn) {
  constexpr uint64_t kSeed = 0x0207a7e;
  constexpr int kRetirements = 5;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(300'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = 1;
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
    }
  }));

  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kBulk, Millis(300'000)); });
  ASSERT_TRUE(WaitAtLeast(progress, 16 * kMiB, After(Millis(30'000)))) << "the transfer never got going";

  int64_t generation = 0;
  int done = 0;
  for (int i = 0; i < kRetirements; ++i) {
    // Alternately on the dialer (gw-onprem) and the acceptor (gw-cloud):
    // the acceptor's retirement goes through the dialer (ROTATE).
    GatewayProcess& at = i % 2 == 0 ? *onprem_ : *cloud_;
    const uint64_t tunnel = TunnelId(at);
    if (tunnel == 0 || progress.load() >= kBulk) break;  // done already
    const HttpReply retired = HttpPost(at.AdminPort(), "/tunnels/" + std::to_string(tunnel) + "/lanes/0/retire");
    ASSERT_EQ(retired.status, 200) << at.name() << ": " << retired.body;
    EXPECT_EQ(retired.body, "retiring\n");
    const uint64_t at_retire = progress.load();
    // Both ends take the new connection in.
    const int64_t onprem_gen = WaitForGeneration(*onprem_, generation, After(Millis(20'000)));
    ASSERT_GT(onprem_gen, generation) << "gw-onprem's lane 0 was not replaced after retirement " << i << " at "
                                      << at.name() << ": " << TunnelLanes(*onprem_).dump();
    ASSERT_EQ(WaitForGeneration(*cloud_, onprem_gen - 1, After(Millis(20'000))), onprem_gen)
        << TunnelLanes(*cloud_).dump();
    generation = onprem_gen;
    ++done;
    std::cout << "retirement " << i << " at " << at.name() << " with " << at_retire / kMiB
              << " MiB delivered: connection " << generation << "\n";
    if (!WaitAtLeast(progress, std::min(kBulk, at_retire + kBulk / 8), After(Millis(60'000)))) {
      ADD_FAILURE() << "no progress after retirement " << i;
      break;
    }
  }
  source.join();

  EXPECT_GE(done, 3) << "the transfer ended before three retirements";
  ASSERT_NO_FATAL_FAILURE(ExpectWholeAndCompleted(received, r));
  // Each retirement replaced the connection on both ends, and nothing was
  // lost or redialed.
  EXPECT_GE(AdminMetric(*onprem_, kRetiredAtOnprem), done);
  EXPECT_GE(AdminMetric(*cloud_, kRetiredAtCloud), done);
  EXPECT_EQ(AdminMetric(*onprem_, kLostAtOnprem), 0);
  EXPECT_EQ(AdminMetric(*cloud_, kLostAtCloud), 0);
  EXPECT_EQ(AdminMetric(*onprem_, kRedialedAtOnprem), 0);
}

TEST_F(GatewayLaneRotationTest, KeyLimitRotateReplacesLanesInsteadOfKeyUpdate) {
  constexpr uint64_t kSeed = 0x0207a7f;
  // Full records are 16 KiB: a connection is retired after 32 MiB and
  // would fail at 64 MiB, so the transfer rotates each lane many times.
  static constexpr uint64_t kRecords = 4096;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(300'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = 2;
      (*c)["tunnel"]["key_update_records"] = kRecords;
      (*c)["tunnel"]["key_limit"] = "rotate";
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
    }
  }));
  const OneWayResult r = SendAndClose(service_port(), kSeed, kBulk, Millis(300'000));
  ASSERT_NO_FATAL_FAILURE(ExpectWholeAndCompleted(received, r));

  // About kBulk / 32 MiB rotations in all, spread over the two lanes.
  const double rotations = AdminMetric(*onprem_, kRetiredAtOnprem);
  std::cout << "connections retired at their key limit: " << rotations << "\n";
  EXPECT_GE(rotations, static_cast<double>(kBulk / (32 * kMiB)) - 2);
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    EXPECT_EQ(AdminMetric(*gw, "braid_tls_key_updates_total"), 0) << gw->name();
  }
  EXPECT_EQ(AdminMetric(*onprem_, kLostAtOnprem), 0);
  EXPECT_EQ(AdminMetric(*cloud_, kLostAtCloud), 0);
}

TEST_F(GatewayLaneRotationTest, ConnectionsThatReachTheKeyLimitFirstAreRecoveredWhole) {
  constexpr uint64_t kSeed = 0x0207a80;
  // 64 records: each connection is retired after 512 KiB and fails at
  // 1 MiB, sooner than its replacement is dialed more often than not. On a
  // tunnel of one lane, a connection then fails while the one it replaced
  // is still draining: two recoveries of one lane at once.
  static constexpr uint64_t kRecords = 64;
  static constexpr uint64_t kBytes = 32 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(300'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = 1;
      (*c)["tunnel"]["key_update_records"] = kRecords;
      (*c)["tunnel"]["key_limit"] = "rotate";
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
    }
  }));
  const OneWayResult r = SendAndClose(service_port(), kSeed, kBytes, Millis(300'000));
  ASSERT_NO_FATAL_FAILURE(ExpectWholeAndCompleted(received, r, kBytes));

  const double retired = AdminMetric(*onprem_, kRetiredAtOnprem), lost = AdminMetric(*onprem_, kLostAtOnprem);
  std::cout << "connections retired: " << retired << ", failed at the key limit: " << lost << "\n";
  // Every connection carried at most 1 MiB of the flow.
  EXPECT_GE(retired + lost, static_cast<double>(kBytes / kMiB) - 1);
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    EXPECT_EQ(AdminMetric(*gw, "braid_tls_key_updates_total"), 0) << gw->name();
  }
}

}  // namespace
}  // namespace braid::integration
