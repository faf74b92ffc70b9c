// A lost lane is not a lost flow (docs/protocol.md, "Lane loss"):
//   - one flow of 2 GiB over 8 lanes while lanes are killed one after
//     another, on either gateway, the flow's control lane among them: the
//     data arrives whole (SHA-256), the flow ends cleanly on both sides,
//     and /metrics counts the lanes lost, the connections redialed and the
//     frames resent;
//   - every lane lost and the peer gone for longer than lane_loss_grace:
//     every flow is reset with its own reason (lanes_lost), nothing hangs,
//     and the gateway's flow memory returns to idle;
//   - a lane whose peer stops reading it keeps at most the flow's credit
//     unacknowledged, however long it stays stuck.
#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "nlohmann/json.hpp"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// Under a sanitizer every byte costs several times more: the same kills
// over less data.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kBulk = 512 * kMiB;
#else
constexpr uint64_t kBulk = 2048 * kMiB;
#endif

class GatewayLaneLossTest : public GatewayPairTest {
 protected:
  // WaitAllUp waits until every lane of gw's tunnel is up (not recovering).
  static bool WaitAllUp(GatewayProcess& gw, size_t lanes, Deadline deadline) {
    while (Clock::now() < deadline) {
      nlohmann::json all = TunnelLanes(gw);
      size_t up = 0;
      for (const auto& lane : all) up += lane.value("state", "") == "up";
      if (all.size() == lanes && up == lanes) return true;
      std::this_thread::sleep_for(Millis(20));
    }
    return false;
  }

  static double Sum(GatewayProcess& a, GatewayProcess& b, const std::string& series) {
    return AdminMetric(a, series) + AdminMetric(b, series);
  }
};

TEST_F(GatewayLaneLossTest, FlowSurvivesSixLaneKillsIncludingItsControlLane) {
  constexpr uint64_t kSeed = 0x1a7e;
  static constexpr size_t kLanes = 8;
  constexpr int kKills = 7;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(600'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = kLanes;
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
    }
  }));

  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kBulk, Millis(600'000)); });
  ASSERT_TRUE(WaitAtLeast(progress, 32 * kMiB, After(Millis(30'000)))) << "the transfer never got going";

  int kills = 0, control_lane_kills = 0;
  const Deadline give_up = After(Millis(300'000));
  for (int i = 0; i < kKills && Clock::now() < give_up;) {
    // The kills alternate between the gateways (the dialer redials its own
    // lanes, and notices the acceptor's from the connection's reset), and
    // every other one takes the flow's control lane on that gateway (where
    // its FIN and CREDIT go), wherever recoveries have moved it; the others
    // another lane that is up there.
    GatewayProcess& at = i % 3 == 1 ? *cloud_ : *onprem_;
    nlohmann::json flows = AdminJson(at, "/flows");
    if (!flows.is_object() || flows["flows"].size() != 1) break;  // done already
    const nlohmann::json& flow = flows["flows"][0];
    const uint64_t tunnel = flow["tunnel"].get<uint64_t>();
    const int control = flow["control_lane"].get<int>();
    std::vector<int> up;
    for (const auto& lane : TunnelLanes(at)) {
      if (lane.value("state", "") == "up" && lane["index"].get<int>() != control) up.push_back(lane["index"]);
    }
    const bool take_control = i % 2 == 0;
    const int lane = take_control ? control : up.empty() ? -1 : up[static_cast<size_t>(i) % up.size()];
    HttpReply killed =
        lane < 0 ? HttpReply{}
                 : HttpPost(at.AdminPort(), "/tunnels/" + std::to_string(tunnel) + "/lanes/" + std::to_string(lane) +
                                                "/kill");
    if (killed.status != 200) {
      // Not up at this moment (being recovered or redialed): again shortly.
      std::this_thread::sleep_for(Millis(10));
      continue;
    }
    ++i;
    ++kills;
    control_lane_kills += take_control;
    const uint64_t at_kill = progress.load();
    if (!WaitAtLeast(progress, std::min(kBulk, at_kill + kBulk / 32), After(Millis(60'000)))) {
      ADD_FAILURE() << "no progress after kill " << i << " (lane " << lane << " at " << at.name() << ")";
      break;
    }
  }
  source.join();

  EXPECT_GE(kills, 6) << "the transfer ended before six kills";
  EXPECT_GE(control_lane_kills, 3);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(30'000))));
  const ReceiveResult got = received.Values()[0];
  EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end) << " after " << got.bytes / kMiB << " MiB";
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_EQ(got.bytes, kBulk);
  EXPECT_EQ(got.sha256, r.sent.sha256);
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  ASSERT_TRUE(cloud_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
  EXPECT_EQ(cloud_->Flows()[0].end, "completed");

  // Each kill loses the lane on both gateways; the dialer redials each (the
  // last perhaps only after the flow ended).
  EXPECT_TRUE(WaitAllUp(*onprem_, kLanes, After(Millis(30'000)))) << TunnelLanes(*onprem_).dump();
  EXPECT_GE(Sum(*onprem_, *cloud_, "braid_lanes_lost_total{peer=\"gw-cloud\"}") +
                Sum(*onprem_, *cloud_, "braid_lanes_lost_total{peer=\"gw-onprem\"}"),
            2.0 * kills);
  EXPECT_GE(Metric(HttpGet(onprem_->AdminPort(), "/metrics").body, "braid_lanes_redialed_total{peer=\"gw-cloud\"}"),
            kills);
  // On loopback the peer has usually read everything a lane wrote by the
  // time it is killed, so few or no frames need resending here; the stuck
  // lane below always needs some.
  std::cerr << "frames resent: "
            << Sum(*onprem_, *cloud_, "braid_frames_resent_total{peer=\"gw-cloud\"}") +
                   Sum(*onprem_, *cloud_, "braid_frames_resent_total{peer=\"gw-onprem\"}")
            << "\n";
  EXPECT_EQ(onprem_->CountInLog("lanes_lost"), 0);
  EXPECT_GE(onprem_->CountInLog("recovered:"), 1);
}

// Every lane is lost and the peer stays away (killed) past lane_loss_grace:
// the dialer's redials fail, and every flow is reset with lanes_lost, on
// time, and nothing of the flows stays in memory.
TEST_F(GatewayLaneLossTest, NoLaneForTheGracePeriodResetsEveryFlow) {
  constexpr uint64_t kSeed = 0x9ace;
  constexpr Millis kGrace(2'000);
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  ASSERT_TRUE(StartPair(sink.port(), [&](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = 2;
      (*c)["tunnel"]["lane_loss_grace"] = "2s";
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
    }
  }));
  const std::optional<int> idle_fds = onprem_->OpenFds();

  Socket s[2];
  SendResult sent[2];
  Deadline reset_at[2];
  std::thread sources[2];
  for (int i = 0; i < 2; ++i) {
    s[i] = Connect(service_port(), After(Millis(10'000)));
    ASSERT_TRUE(s[i].valid());
    sources[i] = std::thread([&, i] {
      SendOptions options;
      options.seed = kSeed;
      options.size = UINT64_MAX;
      sent[i] = SendPattern(s[i], options, After(Millis(30'000)));
      reset_at[i] = Clock::now();
    });
  }
  const bool flowing = WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000)));
  const Deadline lost_at = Clock::now();
  cloud_->Kill();
  for (std::thread& t : sources) t.join();
  ASSERT_TRUE(flowing) << "the transfers never got going";

  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(SawReset(sent[i])) << "source " << i << ": error " << sent[i].error << ", timed out "
                                   << sent[i].timed_out;
    const auto after = std::chrono::duration_cast<Millis>(reset_at[i] - lost_at);
    // The grace period, then scheduling slack; never before the grace.
    EXPECT_GE(after, kGrace - Millis(100)) << "source " << i << " reset before the grace period ran out";
    EXPECT_LE(after, kGrace + Millis(5'000)) << "source " << i << " reset " << after.count() << " ms after the loss";
  }
  ASSERT_TRUE(onprem_->WaitForFlows(2, Millis(10'000)));
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_EQ(f.end, "lanes_lost") << "flow " << f.id;
  EXPECT_TRUE(onprem_->WaitForLog("no lane up for 2000 ms (tunnel.lane_loss_grace)", Millis(5'000)));
  EXPECT_GE(onprem_->CountInLog("next attempt in"), 1) << "the dialer did not try to redial its lanes";

  // Memory back to idle: no tunnel, no flow, nothing buffered or granted,
  // the descriptors of the flows and lanes closed.
  const std::string metrics = HttpGet(onprem_->AdminPort(), "/metrics").body;
  EXPECT_EQ(Metric(metrics, "braid_flows_live"), 0);
  EXPECT_EQ(Metric(metrics, "braid_reassembly_buffered_bytes"), 0);
  EXPECT_EQ(Metric(metrics, "braid_flow_window_budget_used_bytes"), 0);
  EXPECT_EQ(AdminJson(*onprem_, "/tunnels")["tunnels"].size(), 0u);
  if (idle_fds) {
    const Deadline deadline = After(Millis(10'000));
    while (onprem_->OpenFds().value_or(0) > *idle_fds && Clock::now() < deadline) std::this_thread::sleep_for(Millis(50));
    EXPECT_LE(onprem_->OpenFds().value_or(0), *idle_fds);
  }
}

// Lane 1's connection goes through a relay that stops forwarding it (the
// peer reads nothing of it, its TCP connection stays up) while one flow
// pushes without end. What the gateway keeps for the lane, sent and not
// acknowledged, stays within the flow's credit (a fixed 4 MiB window).
// Then the operator kills the stuck lane: the peer, which still sees it up,
// takes it down on the gateway's LANE_LOST, the frames it never got are
// resent on lane 0, and the flow moves again.
TEST_F(GatewayLaneLossTest, StuckLaneKeepsAtMostTheFlowsCredit) {
  constexpr uint64_t kSeed = 0x57c;
  constexpr uint64_t kWindow = 4 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  ASSERT_TRUE(WriteDefaultPolicies(sink.port()));
  nlohmann::json cloud = CloudConfig(), onprem = OnpremConfig(1, sink.port());
  for (nlohmann::json* c : {&onprem, &cloud}) {
    (*c)["tunnel"]["lanes"] = 2;
    (*c)["tunnel"]["flow_window_bytes"] = kWindow;
    (*c)["tunnel"]["flow_window_max_bytes"] = kWindow;
    (*c)["tunnel"]["keepalive_interval"] = "1s";
    (*c)["tunnel"]["keepalive_timeout"] = "60s";  // stuck, not dead, for the whole test
    (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
  }
  ASSERT_TRUE(StartCloud(std::move(cloud)));
  TcpRelay relay(cloud_->tunnel_port());
  onprem["peers"][0]["address"] = "127.0.0.1:" + std::to_string(relay.port());
  ASSERT_TRUE(StartOnprem(std::move(onprem)));

  Socket s = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(s.valid());
  SendResult sent;
  std::thread source([&] {
    SendOptions options;
    options.seed = kSeed;
    options.size = UINT64_MAX;
    sent = SendPattern(s, options, After(Millis(20'000)));
  });
  ASSERT_TRUE(WaitAtLeast(progress, 16 * kMiB, After(Millis(20'000))));
  ASSERT_TRUE(relay.WaitForConnections(2, After(Millis(10'000))));
  relay.Blackhole(1);
  // The flow stalls on the hole lane 1 leaves; sample what lane 1 keeps
  // for a few seconds.
  uint64_t most = 0;
  const Deadline until = After(Millis(4'000));
  while (Clock::now() < until) {
    for (const auto& lane : TunnelLanes(*onprem_)) {
      if (lane["index"] == 1) most = std::max<uint64_t>(most, lane.value("unacked_bytes", uint64_t{0}));
    }
    std::this_thread::sleep_for(Millis(50));
  }
  const uint64_t stuck_at = progress.load();
  const std::string tunnel = std::to_string(AdminJson(*onprem_, "/flows")["flows"][0]["tunnel"].get<uint64_t>());
  HttpReply killed = HttpPost(onprem_->AdminPort(), "/tunnels/" + tunnel + "/lanes/1/kill");
  EXPECT_EQ(killed.status, 200) << killed.body;
  EXPECT_TRUE(WaitAtLeast(progress, stuck_at + 8 * kMiB, After(Millis(10'000))))
      << "the flow did not move again after the stuck lane was killed";
  const double resent =
      Metric(HttpGet(onprem_->AdminPort(), "/metrics").body, "braid_frames_resent_total{peer=\"gw-cloud\"}");
  EXPECT_GE(resent, 1) << "the frames stuck on lane 1 were not resent";
  EXPECT_TRUE(cloud_->WaitForLog("lane 1 lost (the peer lost it)", Millis(5'000)));
  ::shutdown(s.fd(), SHUT_RDWR);  // ends the source with an error; the test is about the bound
  source.join();
  // The credit, plus one acknowledgement's worth of frames that may already
  // have been consumed (LaneLedger::kAckEveryFrames full frames) and frame
  // headers.
  constexpr uint64_t kBound = kWindow + 16 * 16384 + kWindow / 1000;
  EXPECT_GT(most, 0u) << "lane 1 never had anything unacknowledged: the relay did not hold it: "
                       << TunnelLanes(*onprem_).dump();
  EXPECT_LE(most, kBound) << "lane 1 kept " << most << " bytes unacknowledged";
  std::cerr << "stuck lane: at most " << most / 1024 << " KiB unacknowledged (bound " << kBound / 1024
            << " KiB); " << resent << " frames resent after the kill\n";
}

}  // namespace
}  // namespace braid::integration
