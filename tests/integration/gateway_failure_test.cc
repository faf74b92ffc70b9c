// Failures in the middle of a transfer must reach the hosts as a reset,
// never as a clean end of stream (a truncated stream must not look
// finished), never as corrupted data, and never as a hang:
//   - the peer gateway is killed with SIGKILL: the source sees a reset; a
//     restarted peer serves the next flow;
//   - one lane's TCP connection is reset (as `ss -K` would), through a
//     relay between the gateways: the lane's frames are recovered on the
//     other lane and the flow arrives whole (docs/protocol.md, "Lane loss");
//   - one lane goes silent (a black hole: nothing lost on either socket,
//     nothing delivered): the keepalive timeout must declare it dead, and
//     the flow survives it too;
//   - one lane stalls for less than the keepalive timeout and resumes: the
//     flow arrives whole and ends cleanly, not as a false lane death;
//   - the peer gateway is frozen (SIGSTOP) with flows running both ways:
//     the other gateway's memory stays within its flows' windows, keepalive
//     and lane_loss_grace reset every flow in time, and once the peer is resumed
//     (SIGCONT) it resets its side too and carries new flows.
#include <signal.h>
#include <sys/socket.h>

#include <cstring>
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
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) (*c)["tunnel"]["lane_loss_grace"] = "1s";
  }));

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
  // Its lanes gone and its redials refused, the tunnel gives up after
  // lane_loss_grace.
  EXPECT_EQ(onprem_->Flows()[0].end, "lanes_lost");

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
// gateways recover the lane's frames on the other lane and redial it: the
// destination gets the whole stream and a clean end, and nothing hangs.
// Then a new flow works.
TEST_F(GatewayFailureTest, LaneResetMidTransferLosesNothing) {
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
  EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end) << " after " << got.bytes / kMiB << " MiB";
  EXPECT_EQ(got.bytes, kSize) << "a truncated stream ended like a complete one";
  EXPECT_EQ(got.sha256, r.sent.sha256);
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
  EXPECT_TRUE(onprem_->WaitForLog("recovered:", Millis(5'000)));

  // The gateways are still usable.
  OneWayResult again = SendAndClose(service_port(), 8, 4 * kMiB, Millis(20'000));
  EXPECT_EQ(again.sent.bytes, 4 * kMiB);
  EXPECT_EQ(again.reply.end, StreamEnd::kEof) << StreamEndName(again.reply.end);
  ASSERT_TRUE(received.WaitFor(2, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[1].sha256, again.sent.sha256);
}

// A lane that silently stops delivering (its TCP connections stay up) must
// be declared dead after keepalive_timeout (1s and 3s here), its frames
// recovered on the other lane and the lane redialed: the flow pauses and
// then arrives whole, with a clean end.
TEST_F(GatewayFailureTest, SilentLaneIsDeclaredDeadAndTheFlowSurvives) {
  constexpr uint64_t kSeed = 0x51e, kSize = 128 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  StartWithRelay(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["keepalive_interval"] = "1s";
      (*c)["tunnel"]["keepalive_timeout"] = "3s";
    }
  });
  ASSERT_FALSE(HasFatalFailure());

  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kSize, Millis(60'000)); });
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const bool lanes_up = relay_->WaitForConnections(2, After(Millis(10'000)));
  if (lanes_up) relay_->Blackhole(1);
  source.join();
  ASSERT_TRUE(flowing && lanes_up) << "transfer or lanes never came up";

  EXPECT_FALSE(r.sent.timed_out) << "the source hung for 60s behind a dead lane";
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  const ReceiveResult got = received.Values()[0];
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end) << " after " << got.bytes / kMiB << " MiB";
  EXPECT_EQ(got.sha256, r.sent.sha256);
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  // Either end may notice first; at least one says why.
  EXPECT_GE(onprem_->CountInLog("keepalive timeout") + cloud_->CountInLog("keepalive timeout"), 1);
  EXPECT_GE(relay_->connections(), 3u) << "lane 1 was not redialed";
}

// Lane 1 stops delivering in both directions for 2 s (its TCP connections
// stay up), then goes on from where it stopped, while keepalive_timeout is
// 5 s: a stall shorter than the timeout is not a lane death. The flow may
// pause (its frames on lane 1 hold back in-order delivery until the lane
// moves again) but must arrive whole, in order, with a clean end.
TEST_F(GatewayFailureTest, LaneStalledShorterThanKeepaliveTimeoutLosesNothing) {
  constexpr uint64_t kSeed = 0x57a1, kSize = 96 * kMiB;
  constexpr Millis kStall(2'000);
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  StartWithRelay(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["keepalive_interval"] = "1s";
      (*c)["tunnel"]["keepalive_timeout"] = "5s";
    }
  });
  ASSERT_FALSE(HasFatalFailure());

  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kSize, Millis(60'000)); });
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const bool lanes_up = relay_->WaitForConnections(2, After(Millis(10'000)));
  uint64_t stalled_at = 0, forwarded_before = 0, forwarded_after = 0;
  if (flowing && lanes_up) {
    relay_->Blackhole(1);
    forwarded_before = relay_->forwarded(1);
    stalled_at = progress.load();
    std::this_thread::sleep_for(kStall);  // the stall itself, not a wait for a condition
    forwarded_after = relay_->forwarded(1);
    relay_->Resume(1);
  }
  source.join();
  ASSERT_TRUE(flowing && lanes_up) << "transfer or lanes never came up";
  // The relay's pump may finish passing on what it had read when the black
  // hole began; anything more means the stall did not happen.
  EXPECT_LE(forwarded_after - forwarded_before, TcpRelay::kMaxInFlight)
      << "the black hole forwarded bytes: the stall did not happen";
  EXPECT_LT(stalled_at, kSize) << "the transfer ended before the stall: make it larger";

  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  const ReceiveResult got = received.Values()[0];
  EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end);
  EXPECT_EQ(got.bytes, kSize);
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_EQ(got.sha256, r.sent.sha256);
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
  EXPECT_EQ(onprem_->CountInLog("keepalive timeout") + cloud_->CountInLog("keepalive timeout"), 0);
  std::cerr << "lane 1 stalled for " << kStall.count() << " ms after " << stalled_at / kMiB
            << " MiB had arrived; the flow finished whole\n";
}

// gw-cloud is frozen (SIGSTOP) while an upload and a download run through
// the pair: its sockets stay open, it reads and answers nothing. gw-onprem
// must
//   - keep its memory within what its flows' windows allow (the sources
//     keep pushing; credit must stop them),
//   - reset both flows' sources within keepalive_timeout (plus one check
//     tick and scheduling slack), never end them cleanly,
// and once gw-cloud is resumed (SIGCONT) it must reset its own side of the
// flows (the destinations see resets, with a correct prefix before them)
// and carry a new flow, both ways, intact.
TEST_F(GatewayFailureTest, FrozenPeerIsDetectedByKeepaliveAndServesAgainAfterResume) {
  constexpr uint64_t kUp = 0xf0, kDown = 0xf1;
  constexpr uint64_t kWindow = 4 * kMiB;  // flow_window_bytes, set explicitly below
  constexpr int kLanes = 2;
  constexpr Millis kInterval(1'000), kTimeout(3'000), kGrace(1'000);
  // The lane checks for silence every interval / 4 (Lane::KeepaliveLoop),
  // then the tunnel waits lane_loss_grace for a lane to come back; beyond
  // that only scheduling on a loaded 2-core machine.
  constexpr Millis kDetectBound = kTimeout + kInterval / 4 + kGrace + Millis(2'000);
  Collector<ReceiveResult> uploads;
  std::atomic<uint64_t> up_progress{0};
  Collector<SendResult> downloads_sent;
  TcpServer sink([&](Socket& s) {
    // The first byte says which flow this is: 'u' upload, 'd' download.
    char kind = 0;
    if (!ReceiveExact(s, &kind, 1, After(Millis(10'000)))) return;
    if (kind == 'u') {
      const uint64_t seed = kUp;
      uploads.Add(ReceiveAll(s, After(Millis(60'000)), &seed, &up_progress));
    } else {
      SendOptions options;
      options.seed = kDown;
      options.size = UINT64_MAX;
      downloads_sent.Add(SendPattern(s, options, After(Millis(60'000))));
    }
  });
  ASSERT_TRUE(StartPair(sink.port(), [&](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = kLanes;
      (*c)["tunnel"]["flow_window_bytes"] = kWindow;
      (*c)["tunnel"]["flow_window_max_bytes"] = kWindow;  // fixed, for the memory bound below
      (*c)["tunnel"]["keepalive_interval"] = "1s";
      (*c)["tunnel"]["keepalive_timeout"] = "3s";
      (*c)["tunnel"]["lane_loss_grace"] = "1s";
    }
  }));
  const long onprem_base = onprem_->RssKiB().value_or(0);

  // The upload: the source pushes without end.
  Socket up = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(up.valid());
  ASSERT_EQ(::send(up.fd(), "u", 1, MSG_NOSIGNAL), 1);
  SendResult up_sent;
  Deadline up_reset_at{};
  std::thread up_thread([&] {
    SendOptions options;
    options.seed = kUp;
    options.size = UINT64_MAX;
    up_sent = SendPattern(up, options, After(Millis(30'000)));
    up_reset_at = Clock::now();
  });
  // The download: the source reads what the destination pushes.
  Socket down = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(down.valid());
  ASSERT_EQ(::send(down.fd(), "d", 1, MSG_NOSIGNAL), 1);
  std::atomic<uint64_t> down_progress{0};
  ReceiveResult down_got;
  Deadline down_reset_at{};
  std::thread down_thread([&] {
    const uint64_t seed = kDown;
    down_got = ReceiveAll(down, After(Millis(30'000)), &seed, &down_progress);
    down_reset_at = Clock::now();
  });

  const bool flowing = WaitAtLeast(up_progress, 16 * kMiB, After(Millis(20'000))) &&
                       WaitAtLeast(down_progress, 16 * kMiB, After(Millis(20'000)));
  PeakRss peak({onprem_->pid()});
  const Deadline frozen_at = Clock::now();
  ASSERT_TRUE(cloud_->Signal(SIGSTOP));
  up_thread.join();
  down_thread.join();
  peak.Stop();
  const long onprem_peak = peak.peak(0);
  ASSERT_TRUE(cloud_->Signal(SIGCONT));
  ASSERT_TRUE(flowing) << "the transfers never got going";

  // Both sources: a reset, not a clean end, within the keepalive bound.
  EXPECT_TRUE(SawReset(up_sent)) << "upload source: error " << up_sent.error << " (" << strerror(up_sent.error)
                                 << "), peer_eof " << up_sent.peer_eof << ", timed out " << up_sent.timed_out;
  EXPECT_EQ(down_got.end, StreamEnd::kReset) << "download source: " << StreamEndName(down_got.end);
  EXPECT_TRUE(down_got.pattern_ok) << "download corrupted at " << down_got.first_bad;
  const auto up_ms = std::chrono::duration_cast<Millis>(up_reset_at - frozen_at);
  const auto down_ms = std::chrono::duration_cast<Millis>(down_reset_at - frozen_at);
  EXPECT_LE(up_ms, kDetectBound) << "the upload was reset " << up_ms.count() << " ms after the freeze";
  EXPECT_LE(down_ms, kDetectBound) << "the download was reset " << down_ms.count() << " ms after the freeze";
  EXPECT_TRUE(onprem_->WaitForLog("keepalive timeout", Millis(5'000)));

  // Memory bound: each flow holds at most its window per direction on this
  // gateway (sent but not yet credited; received but not yet released),
  // each lane its TLS buffers (256 KiB in, up to 256 KiB of sealed records
  // out) and a send queue a little past Tunnel::kLaneHighWatermark (1 MiB).
  // Twice that for the allocator (16 KiB frames freed on other threads'
  // arenas), plus 16 MiB for everything else a busy gateway touches
  // (checked where RSS measures braid, not a sanitizer).
  constexpr long kBoundKiB = (2 * (2 * 2 * kWindow + kLanes * 2 * kMiB) + 16 * kMiB) / 1024;
  if (kRssMeasuresBraid) {
    EXPECT_LT(onprem_peak - onprem_base, kBoundKiB)
        << "gw-onprem RSS " << onprem_base << " -> " << onprem_peak << " KiB while its peer was frozen";
  }
  std::cerr << "frozen peer: upload reset after " << up_ms.count() << " ms, download after " << down_ms.count()
            << " ms (keepalive_timeout " << kTimeout.count() << " ms); gw-onprem RSS " << onprem_base << " -> "
            << onprem_peak << " KiB (bound +" << kBoundKiB << " KiB)\n";

  // Resumed, gw-cloud finds its lanes gone and resets its side: the
  // destinations see resets, never a clean end.
  ASSERT_TRUE(uploads.WaitFor(1, After(Millis(15'000)))) << "the upload's destination was never released";
  EXPECT_EQ(uploads.Values()[0].end, StreamEnd::kReset) << StreamEndName(uploads.Values()[0].end);
  EXPECT_TRUE(uploads.Values()[0].pattern_ok) << "upload corrupted at " << uploads.Values()[0].first_bad;
  ASSERT_TRUE(downloads_sent.WaitFor(1, After(Millis(15'000)))) << "the download's destination was never released";
  EXPECT_TRUE(SawReset(downloads_sent.Values()[0])) << "download destination: error "
                                                    << downloads_sent.Values()[0].error;
  ASSERT_TRUE(onprem_->WaitForFlows(2, Millis(10'000)));
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_EQ(f.end, "lanes_lost") << "flow " << f.id;
  ASSERT_TRUE(cloud_->WaitForFlows(2, Millis(10'000)));
  for (const FlowRecord& f : cloud_->Flows()) EXPECT_EQ(f.end, "lanes_lost") << "flow " << f.id;

  // And it serves again: a new tunnel, a new upload, intact.
  Socket again = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(again.valid());
  ASSERT_EQ(::send(again.fd(), "u", 1, MSG_NOSIGNAL), 1);
  SendOptions options;
  options.seed = kUp;
  options.size = 8 * kMiB;
  options.shutdown_write = true;
  const SendResult sent = SendPattern(again, options, After(Millis(20'000)));
  EXPECT_EQ(sent.bytes, 8 * kMiB) << strerror(sent.error);
  EXPECT_EQ(ReceiveAll(again, After(Millis(20'000))).end, StreamEnd::kEof);
  ASSERT_TRUE(uploads.WaitFor(2, After(Millis(10'000))));
  EXPECT_EQ(uploads.Values()[1].end, StreamEnd::kEof);
  EXPECT_EQ(uploads.Values()[1].sha256, sent.sha256);
  EXPECT_EQ(onprem_->CountInLog("dialing"), 2);
}

}  // namespace
}  // namespace braid::integration
