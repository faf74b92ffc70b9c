// Failures in the middle of a transfer must reach the hosts as a reset,
// never as a clean end of stream (a truncated stream must not look
// finished), never as corrupted data, and never as a hang:
//   - the peer gateway is killed with SIGKILL: the source sees a reset; a
//     restarted peer serves the next flow;
//   - one lane's TCP connection is reset (as `ss -K` would), through a
//     relay between the gateways: intact data or a reset on both hosts;
//   - one lane goes silent (a black hole: nothing lost on either socket,
//     nothing delivered): the keepalive timeout must declare it dead.
#include <thread>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class GatewayFailureTest : public GatewayPairTest {
 protected:
  // StartWithRelay starts gw-cloud, a relay to it, and gw-onprem dialing the
  // relay; `customize` edits both configs.
  void StartWithRelay(uint16_t target_port, const Customize& customize = nullptr) {
    ASSERT_TRUE(WriteDefaultPolicies(target_port));
    nlohmann::json cloud = CloudConfig();
    nlohmann::json onprem = OnpremConfig(1, target_port);
    if (customize) customize(onprem, cloud);
    ASSERT_TRUE(StartCloud(std::move(cloud)));
    relay_ = std::make_unique<TcpRelay>(cloud_->tunnel_port());
    onprem["peers"][0]["address"] = "127.0.0.1:" + std::to_string(relay_->port());
    ASSERT_TRUE(StartOnprem(std::move(onprem)));
  }

  std::unique_ptr<TcpRelay> relay_;
};

TEST_F(GatewayFailureTest, PeerKilledMidTransferResetsSourceAndRestartedPeerServes) {
  constexpr uint64_t kSeed = 0xdead;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(30'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port()));

  Socket s = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(s.valid());
  SendResult sent;
  std::thread source([&] {
    SendOptions options;
    options.seed = kSeed;
    options.size = UINT64_MAX;
    sent = SendPattern(s, options, After(Millis(30'000)));
  });
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const uint16_t cloud_port = cloud_->tunnel_port();
  cloud_->Kill();
  source.join();

  ASSERT_TRUE(flowing) << "the transfer never got going";
  EXPECT_FALSE(sent.timed_out) << "the source hung after its peer gateway died";
  EXPECT_TRUE(SawReset(sent)) << "error " << sent.error << " (" << strerror(sent.error) << "), peer_eof "
                              << sent.peer_eof << ": the source must see a reset, not a clean end";
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  EXPECT_TRUE(received.Values()[0].pattern_ok) << "corrupted at " << received.Values()[0].first_bad;
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "tunnel_lost");

  // The peer comes back on the same address: the next flow builds a new
  // tunnel and is carried intact.
  nlohmann::json config = CloudConfig();
  config["tunnel"]["listen"] = "127.0.0.1:" + std::to_string(cloud_port);
  ASSERT_TRUE(StartCloud(std::move(config)));
  OneWayResult again = SendAndClose(service_port(), 7, 4 * kMiB, Millis(20'000));
  EXPECT_EQ(again.sent.bytes, 4 * kMiB);
  EXPECT_EQ(again.reply.end, StreamEnd::kEof) << StreamEndName(again.reply.end);
  ASSERT_TRUE(received.WaitFor(2, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[1].sha256, again.sent.sha256);
  EXPECT_EQ(onprem_->CountInLog("dialing"), 2);
}

// One lane's TCP connection is reset on both sides mid-transfer. The
// gateways may recover the data or reset the flow, but each host must see
// either the whole stream and a clean end, or a reset; bytes received must
// be a correct prefix; nothing may hang. Then a new flow works.
TEST_F(GatewayFailureTest, LaneResetMidTransferGivesIntactDataOrReset) {
  constexpr uint64_t kSeed = 0xc07, kSize = 256 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  StartWithRelay(sink.port());
  ASSERT_FALSE(HasFatalFailure());

  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kSize, Millis(60'000)); });
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const bool lanes_up = relay_->WaitForConnections(2, After(Millis(10'000)));
  if (lanes_up) relay_->Cut(1);
  source.join();
  ASSERT_TRUE(flowing && lanes_up) << "transfer or lanes never came up";

  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  const ReceiveResult got = received.Values()[0];
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_NE(got.end, StreamEnd::kTimeout) << "the destination hung";
  EXPECT_FALSE(r.sent.timed_out) << "the source hung";
  EXPECT_NE(r.reply.end, StreamEnd::kTimeout) << "the source hung";
  if (got.end == StreamEnd::kEof) {
    // Recovered: everything, exactly.
    EXPECT_EQ(got.bytes, kSize) << "a truncated stream ended like a complete one";
    EXPECT_EQ(got.sha256, r.sent.sha256);
    EXPECT_EQ(r.reply.end, StreamEnd::kEof);
  } else {
    EXPECT_EQ(got.end, StreamEnd::kReset) << StreamEndName(got.end);
    EXPECT_TRUE(SourceSawReset(r)) << "the source saw no reset: " << DescribeOneWay(r);
  }
  std::cerr << "after the lane reset: destination " << StreamEndName(got.end) << " after " << got.bytes / kMiB
            << " MiB\n";

  // The gateways are still usable: a new flow builds a new tunnel.
  OneWayResult again = SendAndClose(service_port(), 8, 4 * kMiB, Millis(20'000));
  EXPECT_EQ(again.sent.bytes, 4 * kMiB);
  EXPECT_EQ(again.reply.end, StreamEnd::kEof) << StreamEndName(again.reply.end);
  ASSERT_TRUE(received.WaitFor(2, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[1].sha256, again.sent.sha256);
}

// A lane that silently stops delivering (its TCP connections stay up) must
// be declared dead after keepalive_timeout, and the flows on its tunnel
// reset. With keepalive_interval 1s and keepalive_timeout 3s, the hosts
// must see a reset well within 15s.
TEST_F(GatewayFailureTest, SilentLaneIsDeclaredDeadAndFlowsReset) {
  constexpr uint64_t kSeed = 0x51e;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(20'000), kSeed, &progress));
  StartWithRelay(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["keepalive_interval"] = "1s";
      (*c)["tunnel"]["keepalive_timeout"] = "3s";
    }
  });
  ASSERT_FALSE(HasFatalFailure());

  Socket s = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(s.valid());
  SendResult sent;
  std::thread source([&] {
    SendOptions options;
    options.seed = kSeed;
    options.size = UINT64_MAX;
    sent = SendPattern(s, options, After(Millis(20'000)));
  });
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const bool lanes_up = relay_->WaitForConnections(2, After(Millis(10'000)));
  if (lanes_up) relay_->Blackhole(1);
  source.join();
  ASSERT_TRUE(flowing && lanes_up) << "transfer or lanes never came up";

  EXPECT_FALSE(sent.timed_out) << "the source hung for 20s behind a dead lane: no keepalive timeout";
  EXPECT_TRUE(SawReset(sent)) << "error " << sent.error << ", peer_eof " << sent.peer_eof;
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  const ReceiveResult got = received.Values()[0];
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_EQ(got.end, StreamEnd::kReset) << StreamEndName(got.end);
  // Either end may notice first; at least one says why.
  EXPECT_GE(onprem_->CountInLog("keepalive timeout") + cloud_->CountInLog("keepalive timeout"), 1);
}

}  // namespace
}  // namespace braid::integration
