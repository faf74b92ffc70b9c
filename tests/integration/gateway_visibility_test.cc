// Per-lane and per-flow visibility, against real gateways: after a
// transfer through the pair, with the flow still open,
//   - /tunnels shows each lane up with its TCP round trip, congestion
//     window, retransmits and delivery rate, and the tunnel's round trip
//     and window budget (the configured one);
//   - /metrics has the per-lane series (peer, role, lane) for every lane on
//     both gateways, and the flow-window gauges;
//   - /flows shows each flow's receive window (at least the configured
//     tunnel.flow_window_bytes) on both sides;
//   - braidctl status prints the lanes table and the flows' windows, and
//     passes the new fields through with --json;
// and once the tunnel is gone (idle_timeout), its lanes' series are gone
// from /metrics rather than left with their last values.
#include <sys/socket.h>

#include <regex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "integration/support/process.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// Distinct values, so that the endpoints can be seen to report these.
constexpr uint64_t kFlowWindow = 1 * kMiB;
constexpr uint64_t kTunnelBudget = 48 * kMiB;
constexpr uint64_t kGatewayBudget = 96 * kMiB;

class GatewayVisibilityTest : public GatewayPairTest {
 protected:
  // StartPairWithAdmin starts the pair with an admin endpoint on each and
  // the windows above; `idle_timeout` on gw-onprem, the dialer.
  void StartPairWithAdmin(uint16_t target_port, const std::string& idle_timeout = "60s") {
    ASSERT_TRUE(StartPair(target_port, [&](nlohmann::json& onprem, nlohmann::json& cloud) {
      for (nlohmann::json* c : {&onprem, &cloud}) {
        (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
        (*c)["tunnel"]["flow_window_bytes"] = kFlowWindow;
        (*c)["tunnel"]["window_budget_bytes"] = kTunnelBudget;
        (*c)["limits"]["window_budget_bytes"] = kGatewayBudget;
      }
      onprem["tunnel"]["idle_timeout"] = idle_timeout;
    }));
    onprem_admin_ = onprem_->AdminPort();
    cloud_admin_ = cloud_->AdminPort();
    ASSERT_NE(onprem_admin_, 0);
    ASSERT_NE(cloud_admin_, 0);
  }

  static nlohmann::json GetJson(uint16_t admin, const std::string& path) {
    HttpReply r = HttpGet(admin, path);
    EXPECT_EQ(r.status, 200) << path;
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  static std::string Metrics(uint16_t admin) {
    HttpReply r = HttpGet(admin, "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  // WaitForTunnels waits until /tunnels lists `count` tunnels, each with
  // every lane up when count > 0; false at the deadline.
  static bool WaitForTunnels(uint16_t admin, size_t count, Deadline deadline) {
    for (;;) {
      const nlohmann::json t = GetJson(admin, "/tunnels");
      bool done = t.contains("tunnels") && t["tunnels"].size() == count;
      for (const auto& tunnel : done ? t["tunnels"] : nlohmann::json::array()) {
        for (const auto& lane : tunnel["lanes"]) done = done && lane["up"] == true;
      }
      if (done) return true;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(Millis(20));
    }
  }

  uint16_t onprem_admin_ = 0, cloud_admin_ = 0;
};

// ExpectLaneTcpState checks one tunnel's /tunnels object: every lane up,
// with its TCP state measured.
void ExpectLaneTcpState(const nlohmann::json& tunnel) {
  EXPECT_GT(tunnel["round_trip_ms"].get<double>(), 0) << tunnel;
  EXPECT_EQ(tunnel["window_budget"]["limit_bytes"], kTunnelBudget) << tunnel;
  EXPECT_TRUE(tunnel["window_budget"]["used_bytes"].is_number_unsigned()) << tunnel;
  ASSERT_EQ(tunnel["lanes"].size(), 2u) << tunnel;
  for (const auto& lane : tunnel["lanes"]) {
    EXPECT_EQ(lane["up"], true) << lane;
    EXPECT_GT(lane["tcp_rtt_ms"].get<double>(), 0) << lane;
    EXPECT_GT(lane["tcp_min_rtt_ms"].get<double>(), 0) << lane;
    EXPECT_GT(lane["cwnd_bytes"].get<uint64_t>(), 0u) << lane;
    EXPECT_TRUE(lane["retransmits"].is_number_unsigned()) << lane;
    EXPECT_TRUE(lane["delivery_rate_bps"].is_number_unsigned()) << lane;
  }
}

// ExpectLaneSeries checks that /metrics has every per-lane series of
// `peer`'s two lanes, with values that fit.
void ExpectLaneSeries(const std::string& metrics, const std::string& peer, const std::string& role) {
  for (int lane = 0; lane < 2; ++lane) {
    const std::string labels = "{peer=\"" + peer + "\",role=\"" + role + "\",lane=\"" + std::to_string(lane) + "\"}";
    EXPECT_GT(Metric(metrics, "braid_lane_rtt_seconds" + labels), 0) << labels << "\n" << metrics;
    EXPECT_GT(Metric(metrics, "braid_lane_min_rtt_seconds" + labels), 0) << labels;
    EXPECT_GT(Metric(metrics, "braid_lane_cwnd_bytes" + labels), 0) << labels;
    EXPECT_GE(Metric(metrics, "braid_lane_retransmits_total" + labels), 0) << labels;
    EXPECT_GE(Metric(metrics, "braid_lane_delivery_rate_bytes" + labels), 0) << labels;
    // -1 when absent: present, and never below zero.
    EXPECT_GE(Metric(metrics, "braid_lane_unacked_bytes" + labels), 0) << labels;
  }
  EXPECT_THAT(metrics, HasSubstr("# TYPE braid_lane_retransmits_total counter\n"));
  EXPECT_EQ(Metric(metrics, "braid_flow_window_budget_limit_bytes"), static_cast<double>(kGatewayBudget));
  EXPECT_GE(Metric(metrics, "braid_flow_window_budget_used_bytes"), 0);
}

// ExpectFlowWindow checks the one live flow of a /flows answer.
void ExpectFlowWindow(const nlohmann::json& flows, const std::string& side) {
  ASSERT_EQ(flows["flows"].size(), 1u) << flows;
  const nlohmann::json& f = flows["flows"][0];
  EXPECT_EQ(f["side"], side);
  EXPECT_GE(f["window_bytes"].get<uint64_t>(), kFlowWindow) << f;
  EXPECT_EQ(f["window_initial_bytes"], kFlowWindow) << f;
  EXPECT_GT(f["credit_ahead_bytes"].get<uint64_t>(), 0u) << f;
}

TEST_F(GatewayVisibilityTest, LanesAndFlowsShowTheirStateInTheEndpointsAndBraidctlStatus) {
  constexpr uint64_t kSeed = 0x5151;
  constexpr uint64_t kSize = 8 * kMiB;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(30'000), kSeed, &progress));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port()));

  // A transfer that stays open: its flow is live on both gateways.
  int error = 0;
  Socket s = Connect(service_port(), After(Millis(5'000)), &error);
  ASSERT_TRUE(s.valid()) << strerror(error);
  SendOptions options;
  options.seed = kSeed;
  options.size = kSize;
  const SendResult sent = SendPattern(s, options, After(Millis(20'000)));
  ASSERT_EQ(sent.bytes, kSize) << "send error " << sent.error;
  ASSERT_TRUE(WaitAtLeast(progress, kSize, After(Millis(20'000))));
  ASSERT_TRUE(WaitForTunnels(onprem_admin_, 1, After(Millis(10'000))));
  ASSERT_TRUE(WaitForTunnels(cloud_admin_, 1, After(Millis(10'000))));

  // /tunnels, on the dialer and on the acceptor.
  const nlohmann::json on_tunnels = GetJson(onprem_admin_, "/tunnels");
  ExpectLaneTcpState(on_tunnels["tunnels"][0]);
  EXPECT_EQ(on_tunnels["window_budget"]["limit_bytes"], kGatewayBudget) << on_tunnels;
  ExpectLaneTcpState(GetJson(cloud_admin_, "/tunnels")["tunnels"][0]);
  uint64_t lane_bytes = 0;
  for (const auto& lane : on_tunnels["tunnels"][0]["lanes"]) lane_bytes += lane["bytes_sent"].get<uint64_t>();
  EXPECT_GE(lane_bytes, kSize);

  // /metrics: every lane of the peer, on both gateways.
  const std::string on = Metrics(onprem_admin_);
  ExpectLaneSeries(on, kCloud, "dialer");
  EXPECT_GE(Metric(on, "braid_flow_window_max_bytes"), static_cast<double>(kFlowWindow)) << on;
  const std::string cl = Metrics(cloud_admin_);
  ExpectLaneSeries(cl, kOnprem, "acceptor");
  EXPECT_GE(Metric(cl, "braid_flow_window_max_bytes"), static_cast<double>(kFlowWindow)) << cl;

  // /flows: the receive window on each side. gw-cloud's is the one that
  // paces this transfer (it receives the data).
  ExpectFlowWindow(GetJson(onprem_admin_, "/flows"), "ingress");
  ExpectFlowWindow(GetJson(cloud_admin_, "/flows"), "egress");

  // braidctl status: the lanes table and the flows' windows.
  const std::string admin = "127.0.0.1:" + std::to_string(cloud_admin_);
  RunResult table = RunToExit({kBraidctl, "status", "--admin", admin}, dir_.path(), Millis(30'000));
  ASSERT_EQ(table.exit_code, 0) << table.out << table.err;
  for (const char* column : {"RTT", "MIN RTT", "PING RTT", "CWND", "RETRANS", "RATE", "QUEUED", "WINDOW",
                             "WINDOW BUDGET", "flow window growth: "}) {
    EXPECT_THAT(table.out, HasSubstr(column)) << table.out;
  }
  // Both lane rows: tunnel id, lane index, up, then a measured RTT.
  static const std::regex kLaneRow(R"(\n\d+ +[01] +yes +\d+\.\d\dms +\d+\.\d\dms )");
  EXPECT_EQ(std::distance(std::sregex_iterator(table.out.begin(), table.out.end(), kLaneRow), std::sregex_iterator()),
            2)
      << table.out;
  EXPECT_THAT(table.out, HasSubstr("1 tunnels, 1 live flows"));

  RunResult as_json = RunToExit({kBraidctl, "status", "--admin", admin, "--json"}, dir_.path(), Millis(30'000));
  ASSERT_EQ(as_json.exit_code, 0) << as_json.out << as_json.err;
  const nlohmann::json j = nlohmann::json::parse(as_json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << as_json.out;
  EXPECT_GT(j["tunnels"][0]["lanes"][0]["tcp_rtt_ms"].get<double>(), 0) << j;
  EXPECT_GT(j["tunnels"][0]["lanes"][1]["cwnd_bytes"].get<uint64_t>(), 0u) << j;
  EXPECT_GE(j["flows"][0]["window_bytes"].get<uint64_t>(), kFlowWindow) << j;
  EXPECT_EQ(j["window_budget"]["limit_bytes"], kGatewayBudget) << j;

  // The transfer ends whole.
  ::shutdown(s.fd(), SHUT_WR);
  EXPECT_EQ(ReceiveAll(s, After(Millis(10'000))).end, StreamEnd::kEof);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[0].sha256, PatternDigest(kSeed, kSize));
}

TEST_F(GatewayVisibilityTest, LaneSeriesLeaveMetricsWithTheirTunnel) {
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000)));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port(), "1s"));
  OneWayResult r = SendAndClose(service_port(), 7, 256 * 1024, Millis(20'000));
  ASSERT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  const std::string lane0 = R"(braid_lane_rtt_seconds{peer="gw-cloud",role="dialer",lane="0"})";
  // The tunnel is up until idle_timeout after its flow ended: its lanes
  // have series (unless this thread was descheduled for all of that time).
  const std::string before = Metrics(onprem_admin_);
  if (GetJson(onprem_admin_, "/tunnels")["tunnels"].size() == 1) {
    EXPECT_GT(Metric(before, lane0), 0) << before;
  }

  ASSERT_TRUE(WaitForTunnels(onprem_admin_, 0, After(Millis(20'000))));
  ASSERT_TRUE(WaitForTunnels(cloud_admin_, 0, After(Millis(20'000))));
  for (uint16_t admin : {onprem_admin_, cloud_admin_}) {
    const std::string after = Metrics(admin);
    EXPECT_THAT(after, HasSubstr("# TYPE braid_lane_rtt_seconds gauge\n"));
    for (const char* name : {"braid_lane_rtt_seconds{", "braid_lane_cwnd_bytes{", "braid_lane_retransmits_total{"}) {
      EXPECT_THAT(after, Not(HasSubstr(name))) << after;
    }
    EXPECT_EQ(Metric(after, "braid_flow_window_max_bytes"), 0);
    EXPECT_EQ(Metric(after, "braid_flow_window_budget_used_bytes"), 0);
  }
}

}  // namespace
}  // namespace braid::integration
