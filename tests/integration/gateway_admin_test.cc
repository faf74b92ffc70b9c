// The admin endpoint, reloads and drain, against real gateways:
//   - /metrics counts a completed, a refused and a reset flow as such, and
//     the live-flow gauge returns to 0; /flows and /tunnels show a live
//     transfer; /healthz and /readyz answer; braidctl status reads it;
//   - SIGHUP with a service added and one removed while a transfer runs on
//     a third: the transfer arrives whole, the new service carries, the
//     removed one no longer accepts;
//   - SIGTERM with a live flow: the gateway stops accepting, /readyz says
//     draining, the flow finishes intact, and the gateway exits 0;
//   - JSON access lines with log.json;
//   - 40 abortive closes from either side; the per-source limit; a flood
//     of idle connections on the tunnel and service ports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;

// RunCommand runs argv to its end (30 s at most), with stdout and stderr
// in *out; returns its exit status, -1 if it did not exit normally.
int RunCommand(const std::vector<std::string>& argv, std::string* out, const std::string& scratch) {
  std::string error;
  const std::string path = scratch + "/command.out";
  std::unique_ptr<Process> p = Process::Start(argv, path, path, &error);
  if (!p) {
    *out = error;
    return -1;
  }
  std::optional<int> status = p->WaitForExit(Millis(30'000));
  std::ifstream in(path);
  *out = std::string(std::istreambuf_iterator<char>(in), {});
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

bool WaitAccepted(const TcpServer& server, int count, Deadline deadline) {
  while (server.accepted() < count) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class GatewayAdminTest : public GatewayPairTest {
 protected:
  // StartPairWithAdmin starts the pair with an admin endpoint on each.
  void StartPairWithAdmin(uint16_t target_port, const Customize& more = nullptr) {
    ASSERT_TRUE(StartPair(target_port, [&](nlohmann::json& onprem, nlohmann::json& cloud) {
      onprem["admin"] = {{"listen", "127.0.0.1:0"}};
      cloud["admin"] = {{"listen", "127.0.0.1:0"}};
      if (more) more(onprem, cloud);
    }));
    onprem_admin_ = onprem_->AdminPort();
    cloud_admin_ = cloud_->AdminPort();
    ASSERT_NE(onprem_admin_, 0);
    ASSERT_NE(cloud_admin_, 0);
  }
  std::string Metrics(uint16_t admin) {
    HttpReply r = HttpGet(admin, "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  uint16_t onprem_admin_ = 0, cloud_admin_ = 0;
};

TEST_F(GatewayAdminTest, MetricsCountCompletedRefusedAndResetFlows) {
  constexpr uint64_t kSeed = 0xad01;
  constexpr uint64_t kSize = 3 * 1024 * 1024 + 17;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000), kSeed));
  // gw-cloud refuses sources from 127.0.0.9 (rule "no-nine") and permits
  // the rest to the sink.
  nlohmann::json cloud_policy = PermitPolicy(sink.port());
  const nlohmann::json no_nine = {{"id", "no-nine"}, {"action", "deny"}, {"src", nlohmann::json::array({"127.0.0.9/32"})}};
  cloud_policy["rules"].insert(cloud_policy["rules"].begin(), no_nine);
  WritePolicy(kCloudPolicy, cloud_policy);
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port()));

  EXPECT_EQ(HttpGet(onprem_admin_, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(onprem_admin_, "/readyz").status, 200);
  EXPECT_EQ(HttpGet(onprem_admin_, "/nothing").status, 404);

  // Completed.
  OneWayResult done = SendAndClose(service_port(), kSeed, kSize, Millis(30'000));
  ASSERT_EQ(done.connect_error, 0);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[0].sha256, PatternDigest(kSeed, kSize));
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  // Refused by gw-cloud's rule.
  {
    int error = 0;
    Socket s = ConnectFrom("127.0.0.9", service_port(), After(Millis(5'000)), &error);
    if (s.valid()) {
      ReceiveResult r = ReceiveAll(s, After(Millis(10'000)));
      EXPECT_EQ(r.end, StreamEnd::kReset) << StreamEndName(r.end);
    } else {
      // The refusal can travel both tunnel hops and reset the connection
      // before this thread, descheduled on a loaded machine, has seen its
      // connect complete: the reset then shows as the connect's error.
      EXPECT_EQ(error, ECONNRESET) << strerror(error);
    }
  }
  ASSERT_TRUE(onprem_->WaitForFlows(2, Millis(10'000)));
  // Reset by the source in the middle: once the flow has reached the sink
  // and gw-onprem has sent what the source wrote (a reset before then is
  // another case: FortyAbortiveClosesLeaveNoLiveFlows).
  {
    int error = 0;
    Socket s = Connect(service_port(), After(Millis(5'000)), &error);
    ASSERT_TRUE(s.valid());
    const std::string some(64 * 1024, 'x');
    ASSERT_EQ(::send(s.fd(), some.data(), some.size(), MSG_NOSIGNAL), static_cast<ssize_t>(some.size()));
    ASSERT_TRUE(WaitAccepted(sink, 2, After(Millis(10'000))));
    const Deadline deadline = After(Millis(10'000));
    while (Metric(Metrics(onprem_admin_), R"(braid_peer_bytes_total{peer="gw-cloud",direction="sent"})") <
               kSize + some.size() - 1 &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    struct linger lg{1, 0};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  ASSERT_TRUE(onprem_->WaitForFlows(3, Millis(10'000)));
  ASSERT_TRUE(cloud_->WaitForFlows(3, Millis(10'000)));

  const std::string on = Metrics(onprem_admin_);
  EXPECT_EQ(Metric(on, R"(braid_flows_ended_total{side="ingress",reason="completed",rule=""})"), 1) << on;
  EXPECT_EQ(Metric(on, R"(braid_flows_ended_total{side="ingress",reason="denied_egress",rule="no-nine"})"), 1) << on;
  EXPECT_EQ(Metric(on, R"(braid_flows_ended_total{side="ingress",reason="host_reset",rule=""})"), 1) << on;
  EXPECT_EQ(Metric(on, "braid_flows_live"), 0);
  EXPECT_EQ(Metric(on, R"(braid_sft_decisions_total{side="ingress",action="permit",rule="permit-sink"})"), 3) << on;
  EXPECT_GE(Metric(on, R"(braid_peer_bytes_total{peer="gw-cloud",direction="sent"})"), kSize + 64 * 1024 - 1)
      << on;
  EXPECT_EQ(Metric(on, R"(braid_tunnels_up{peer="gw-cloud"})"), 1);
  EXPECT_EQ(Metric(on, R"(braid_lanes_up{peer="gw-cloud"})"), 2);
  EXPECT_EQ(Metric(on, "braid_flow_duration_seconds_count"), 3);
  EXPECT_EQ(Metric(on, "braid_tunnel_setup_seconds_count"), 1);
  EXPECT_GE(Metric(on, R"(braid_tls_handshakes_total{side="dial",result="ok",resumed="yes"})"), 1) << on;

  const std::string cl = Metrics(cloud_admin_);
  EXPECT_EQ(Metric(cl, R"(braid_sft_decisions_total{side="egress",action="deny",rule="no-nine"})"), 1) << cl;
  EXPECT_EQ(Metric(cl, R"(braid_flows_ended_total{side="egress",reason="denied_ingress",rule="no-nine"})"), 1) << cl;
  EXPECT_EQ(Metric(cl, R"(braid_flows_ended_total{side="egress",reason="completed",rule=""})"), 1) << cl;
  EXPECT_EQ(Metric(cl, "braid_flows_live"), 0);
  EXPECT_GE(Metric(cl, R"(braid_peer_bytes_total{peer="gw-onprem",direction="received"})"), kSize) << cl;

  // The access line names the rule that admitted or refused each flow.
  std::vector<FlowRecord> flows = onprem_->Flows();
  ASSERT_EQ(flows.size(), 3u);
  EXPECT_EQ(flows[0].rule, "permit-sink");
  EXPECT_EQ(flows[1].rule, "no-nine");
}

TEST_F(GatewayAdminTest, FlowsTunnelsAndBraidctlStatusShowALiveTransfer) {
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(30'000), std::nullopt, &progress));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port()));
  int error = 0;
  Socket s = Connect(service_port(), After(Millis(5'000)), &error);
  ASSERT_TRUE(s.valid());
  const std::string some(100'000, 'y');
  ASSERT_EQ(::send(s.fd(), some.data(), some.size(), MSG_NOSIGNAL), static_cast<ssize_t>(some.size()));
  ASSERT_TRUE(WaitAtLeast(progress, some.size(), After(Millis(10'000))));

  HttpReply flows = HttpGet(onprem_admin_, "/flows");
  ASSERT_EQ(flows.status, 200);
  nlohmann::json f = nlohmann::json::parse(flows.body);
  ASSERT_EQ(f["flows"].size(), 1u) << flows.body;
  EXPECT_EQ(f["flows"][0]["peer"], "gw-cloud");
  EXPECT_EQ(f["flows"][0]["state"], "open");
  EXPECT_EQ(f["flows"][0]["bytes_sent"], some.size());
  EXPECT_EQ(f["flows"][0]["rule"], "permit-sink");

  HttpReply tunnels = HttpGet(onprem_admin_, "/tunnels");
  ASSERT_EQ(tunnels.status, 200);
  nlohmann::json t = nlohmann::json::parse(tunnels.body);
  ASSERT_EQ(t["tunnels"].size(), 1u) << tunnels.body;
  EXPECT_EQ(t["tunnels"][0]["peer"], "gw-cloud");
  EXPECT_EQ(t["tunnels"][0]["flows"], 1);
  ASSERT_EQ(t["tunnels"][0]["lanes"].size(), 2u);
  uint64_t lane_bytes = 0;
  for (const auto& lane : t["tunnels"][0]["lanes"]) lane_bytes += lane["bytes_sent"].get<uint64_t>();
  EXPECT_GE(lane_bytes, some.size());

  // braidctl status shows the same, as a table and as JSON.
  const std::string admin = "127.0.0.1:" + std::to_string(onprem_admin_);
  std::string out;
  ASSERT_EQ(RunCommand({kBraidctl, "status", "--admin", admin}, &out, dir_.path()), 0) << out;
  EXPECT_THAT(out, HasSubstr("ready"));
  EXPECT_THAT(out, HasSubstr("gw-cloud"));
  EXPECT_THAT(out, HasSubstr("1 tunnels, 1 live flows"));
  ASSERT_EQ(RunCommand({kBraidctl, "status", "--admin", admin, "--json"}, &out, dir_.path()), 0) << out;
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["flows"].size(), 1u);
  // An address where nothing listens: a clear error, exit 1.
  ASSERT_EQ(RunCommand({kBraidctl, "status", "--admin", "127.0.0.1:" + std::to_string(FreePort())}, &out, dir_.path()), 1);
  EXPECT_THAT(out, HasSubstr("cannot read /readyz"));
}

TEST_F(GatewayAdminTest, ReloadAddsAndRemovesServicesWhileATransferRunsOnAThird) {
  constexpr uint64_t kSeed = 0xad03;
  constexpr uint64_t kSize = 64 * 1024 * 1024;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed, &progress));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port(), [&](nlohmann::json& onprem, nlohmann::json&) {
    nlohmann::json old = onprem["services"][0];
    old["name"] = "old";
    onprem["services"].push_back(old);
  }));
  const uint16_t old_port = onprem_->ServicePort("old");
  ASSERT_NE(old_port, 0);

  // A slow transfer on "sink": the sink's reads are not slowed, the source
  // sends in a thread while the reload happens.
  OneWayResult r;
  std::thread source([&] { r = SendAndClose(service_port(), kSeed, kSize, Millis(60'000)); });
  ASSERT_TRUE(WaitAtLeast(progress, 1, After(Millis(10'000))));

  nlohmann::json next = onprem_->config();
  next["services"].erase(1);  // "old"
  nlohmann::json added = next["services"][0];
  added["name"] = "new";
  next["services"].push_back(added);
  ASSERT_TRUE(WriteFileAtomically(onprem_->config_path(), next.dump(2)));
  ASSERT_TRUE(onprem_->Signal(SIGHUP));
  ASSERT_TRUE(onprem_->WaitForLog("reload of ", Millis(10'000)));
  EXPECT_TRUE(onprem_->WaitForLog("reload: service old removed", Millis(1'000)));
  ASSERT_TRUE(onprem_->WaitForLog("reload: service new added on 127.0.0.1:", Millis(1'000)));
  static const std::regex kNew(R"(service new added on 127\.0\.0\.1:(\d+))");
  std::smatch m;
  const std::string log = onprem_->Log();
  ASSERT_TRUE(std::regex_search(log, m, kNew));
  const uint16_t new_port = static_cast<uint16_t>(std::stoi(m[1]));

  // The removed service accepts nothing; the new one carries.
  int error = 0;
  Socket refused = Connect(old_port, After(Millis(2'000)), &error);
  EXPECT_FALSE(refused.valid());
  EXPECT_EQ(error, ECONNREFUSED) << strerror(error);
  OneWayResult via_new = SendAndClose(new_port, kSeed, 1024 * 1024, Millis(30'000));
  EXPECT_EQ(via_new.connect_error, 0);
  EXPECT_EQ(via_new.reply.end, StreamEnd::kEof);

  source.join();
  EXPECT_EQ(r.sent.bytes, kSize);
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(received.WaitFor(2, After(Millis(30'000))));
  bool big_intact = false;
  for (const ReceiveResult& got : received.Values()) {
    if (got.bytes == kSize) big_intact = got.sha256 == PatternDigest(kSeed, kSize) && got.end == StreamEnd::kEof;
  }
  EXPECT_TRUE(big_intact);

  // A bad config is refused and changes nothing.
  ASSERT_TRUE(WriteFileAtomically(onprem_->config_path(), R"({"name": "gw-onprem", "bogus": 1})"));
  ASSERT_TRUE(onprem_->Signal(SIGHUP));
  EXPECT_TRUE(onprem_->WaitForLog("refused, the running configuration stays", Millis(10'000)));
  OneWayResult after = SendAndClose(new_port, kSeed, 1024, Millis(30'000));
  EXPECT_EQ(after.reply.end, StreamEnd::kEof) << DescribeOneWay(after);
  EXPECT_EQ(Metric(Metrics(onprem_admin_), R"(braid_reloads_total{result="refused"})"), 1);
}

TEST_F(GatewayAdminTest, SigtermDrainsALiveFlowThenExitsZero) {
  constexpr uint64_t kSeed = 0xad04;
  Collector<ReceiveResult> received;
  std::atomic<uint64_t> progress{0};
  TcpServer sink(DrainHandler(&received, Millis(30'000), kSeed, &progress));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port(), [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["limits"]["drain_timeout"] = "20s";
  }));
  constexpr size_t kHalf = 1024 * 1024;
  std::string data(2 * kHalf, '\0');
  PatternStream(kSeed).Fill(data.data(), data.size());
  int error = 0;
  Socket s = Connect(service_port(), After(Millis(5'000)), &error);
  ASSERT_TRUE(s.valid());
  auto send_all = [&](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(s.fd(), p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  ASSERT_TRUE(send_all(data.data(), kHalf));
  ASSERT_TRUE(WaitAtLeast(progress, kHalf, After(Millis(10'000))));

  ASSERT_TRUE(onprem_->Signal(SIGTERM));
  ASSERT_TRUE(onprem_->WaitForLog("draining for up to 20000ms", Millis(5'000)));
  // Not ready, and no new host connections.
  EXPECT_EQ(HttpGet(onprem_admin_, "/readyz").status, 503);
  Socket late = Connect(service_port(), After(Millis(2'000)), &error);
  EXPECT_FALSE(late.valid());
  // The live flow goes on and finishes whole.
  ASSERT_TRUE(send_all(data.data() + kHalf, kHalf));
  ::shutdown(s.fd(), SHUT_WR);
  ReceiveResult reply = ReceiveAll(s, After(Millis(10'000)));
  EXPECT_EQ(reply.end, StreamEnd::kEof) << StreamEndName(reply.end);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[0].bytes, data.size());
  EXPECT_EQ(received.Values()[0].sha256, PatternDigest(kSeed, data.size()));

  ASSERT_TRUE(onprem_->WaitForLog("drained: no live flows left", Millis(10'000)));
  ASSERT_TRUE(onprem_->WaitForLog("gateway gw-onprem stopped", Millis(10'000)));
}

TEST_F(GatewayAdminTest, JsonLogsWriteAccessLinesAsObjects) {
  constexpr uint64_t kSeed = 0xad05;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000), kSeed));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["log"] = {{"json", true}};
  }));
  OneWayResult r = SendAndClose(service_port(), kSeed, 1000, Millis(30'000));
  ASSERT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(onprem_->WaitForLog(R"("log":"access")", Millis(10'000)));
  bool found = false;
  std::istringstream in(onprem_->Log());
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("time") && j.contains("level")) << line;
    if (j.value("log", "") != "access") continue;
    found = true;
    EXPECT_EQ(j["end"], "completed");
    EXPECT_EQ(j["rule"], "permit-sink");
    EXPECT_EQ(j["sent"], 1000);
    EXPECT_EQ(j["peer"], "gw-cloud");
  }
  EXPECT_TRUE(found);
}

// 40 abortive closes by sources: every flow is counted as reset, none
// stays live, and a new flow works. Each source resets its flow once the
// flow has reached the sink: a reset while the connection still waits in
// gw-onprem's accept queue (a loaded machine, a sanitizer build) is a
// different case, logged as host_reset before admission with no flow on
// gw-cloud (the connect storm in gateway_noise_test covers it).
TEST_F(GatewayAdminTest, FortyAbortiveClosesLeaveNoLiveFlows) {
  constexpr uint64_t kSeed = 0xad06;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000)));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port()));
  for (int i = 0; i < 40; ++i) {
    int error = 0;
    Socket s = Connect(service_port(), After(Millis(5'000)), &error);
    ASSERT_TRUE(s.valid()) << strerror(error);
    const std::string bytes(1000, 'x');
    ASSERT_EQ(::send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    ASSERT_TRUE(WaitAccepted(sink, i + 1, After(Millis(10'000)))) << "flow " << i << " never reached the sink";
    s.Reset();
  }
  ASSERT_TRUE(onprem_->WaitForFlows(40, Millis(20'000)));
  ASSERT_TRUE(cloud_->WaitForFlows(40, Millis(20'000)));
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_EQ(f.end, "host_reset") << f.id;
  for (const FlowRecord& f : cloud_->Flows()) EXPECT_EQ(f.end, "peer_reset") << f.id;
  // The sink saw each of them reset, never a clean end.
  ASSERT_TRUE(received.WaitFor(40, After(Millis(10'000))));
  for (const ReceiveResult& got : received.Values()) EXPECT_EQ(got.end, StreamEnd::kReset) << StreamEndName(got.end);
  EXPECT_EQ(Metric(Metrics(onprem_admin_), "braid_flows_live"), 0);
  EXPECT_EQ(Metric(Metrics(cloud_admin_), "braid_flows_live"), 0);
  EXPECT_EQ(Metric(Metrics(onprem_admin_), R"(braid_flows_ended_total{side="ingress",reason="host_reset",rule=""})"), 40);

  OneWayResult after = SendAndClose(service_port(), kSeed, 100'000, Millis(30'000));
  EXPECT_EQ(after.reply.end, StreamEnd::kEof) << DescribeOneWay(after);
}

// The other direction: a destination that resets its connection right
// after reading the flow's first bytes must reach the source as a reset.
// (With Asio's io_uring backend that reset used to read as a clean end of
// stream 3 to 6 times in 20: Flow::HostWasReset.)
TEST_F(GatewayAdminTest, DestinationResetsReachTheSourceAsResets) {
  constexpr uint64_t kSeed = 0xad06;
  std::atomic<int> sink_resets{0};
  // The sink resets every connection whose first byte is 'R', and drains
  // the others.
  Collector<ReceiveResult> received;
  TcpServer::Handler drain = DrainHandler(&received, Millis(30'000), kSeed);
  TcpServer sink([&](Socket& s) {
    char first = 0;
    if (!WaitReadable(s, After(Millis(10'000))) || ::recv(s.fd(), &first, 1, MSG_PEEK) != 1) return;
    if (first != 'R') return drain(s);
    char buf[4096];
    (void)::recv(s.fd(), buf, sizeof(buf), 0);
    struct linger lg{1, 0};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    // Counted before the reset is sent: the source can see the reset, and
    // the test read the count, before this thread runs again.
    ++sink_resets;
    s.Close();
  });
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port()));
  for (int i = 0; i < 40; ++i) {
    int error = 0;
    Socket s = Connect(service_port(), After(Millis(5'000)), &error);
    ASSERT_TRUE(s.valid()) << strerror(error);
    const std::string bytes(1000, i % 2 == 0 ? 'x' : 'R');
    ASSERT_EQ(::send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    if (i % 2 == 0) {
      // Reset once the flow is through to the sink (as in
      // FortyAbortiveClosesLeaveNoLiveFlows).
      ASSERT_TRUE(WaitAccepted(sink, i + 1, After(Millis(10'000)))) << "flow " << i << " never reached the sink";
      struct linger lg{1, 0};
      ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else {
      // The destination's reset comes back to the source as a reset.
      ReceiveResult r = ReceiveAll(s, After(Millis(10'000)));
      EXPECT_EQ(r.end, StreamEnd::kReset) << i << ": " << StreamEndName(r.end);
    }
  }
  ASSERT_TRUE(onprem_->WaitForFlows(40, Millis(20'000)));
  ASSERT_TRUE(cloud_->WaitForFlows(40, Millis(20'000)));
  EXPECT_EQ(sink_resets.load(), 20);
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_NE(f.end, "completed") << f.id;
  EXPECT_EQ(Metric(Metrics(onprem_admin_), "braid_flows_live"), 0);
  EXPECT_EQ(Metric(Metrics(cloud_admin_), "braid_flows_live"), 0);
  const std::string on = Metrics(onprem_admin_);
  EXPECT_EQ(Metric(on, R"(braid_flows_ended_total{side="ingress",reason="host_reset",rule=""})") +
                Metric(on, R"(braid_flows_ended_total{side="ingress",reason="peer_reset",rule=""})"),
            40)
      << on;

  OneWayResult after = SendAndClose(service_port(), kSeed, 100'000, Millis(30'000));
  EXPECT_EQ(after.reply.end, StreamEnd::kEof) << DescribeOneWay(after);
  bool intact = false;
  const Deadline deadline = After(Millis(10'000));
  while (!intact && Clock::now() < deadline) {
    for (const ReceiveResult& got : received.Values()) intact |= got.sha256 == PatternDigest(kSeed, 100'000);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(intact);
}

TEST_F(GatewayAdminTest, PerSourceLimitRefusesTheFlowOverIt) {
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000)));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port(), [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["limits"]["max_flows_per_source"] = 2;
  }));
  int error = 0;
  Socket a = ConnectFrom("127.0.0.1", service_port(), After(Millis(5'000)), &error);
  Socket b = ConnectFrom("127.0.0.1", service_port(), After(Millis(5'000)), &error);
  ASSERT_TRUE(a.valid() && b.valid());
  ASSERT_TRUE(WaitAccepted(sink, 2, After(Millis(10'000))));
  // The third from the same address is reset; another address still works.
  Socket c = ConnectFrom("127.0.0.1", service_port(), After(Millis(5'000)), &error);
  if (c.valid()) {
    ReceiveResult r = ReceiveAll(c, After(Millis(10'000)));
    EXPECT_EQ(r.end, StreamEnd::kReset) << StreamEndName(r.end);
  }
  Socket d = ConnectFrom("127.0.0.2", service_port(), After(Millis(5'000)), &error);
  ASSERT_TRUE(d.valid());
  EXPECT_TRUE(WaitAccepted(sink, 3, After(Millis(10'000))));
  EXPECT_TRUE(onprem_->WaitForLog("limit of 2 live flows from 127.0.0.1 reached", Millis(5'000)));
  const std::string on = Metrics(onprem_admin_);
  EXPECT_EQ(Metric(on, R"(braid_limit_hits_total{limit="max_flows_per_source"})"), 1) << on;
  EXPECT_EQ(Metric(on, "braid_flows_live"), 3);
}

// Hundreds of connections that send nothing, on the tunnel port and the
// service port, while a transfer runs: the gateway's memory stays bounded
// and the transfer arrives whole.
TEST_F(GatewayAdminTest, FloodOfIdleConnectionsCostsBoundedMemory) {
  constexpr uint64_t kSeed = 0xad08;
  constexpr uint64_t kSize = 32 * 1024 * 1024;
  constexpr int kIdle = 1000;
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(60'000), kSeed));
  ASSERT_NO_FATAL_FAILURE(StartPairWithAdmin(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    onprem["limits"]["max_flows_per_source"] = 200;
    cloud["limits"]["max_handshakes"] = 100;
  }));
  const long cloud_before = cloud_->RssKiB().value_or(0);
  const long onprem_before = onprem_->RssKiB().value_or(0);
  std::vector<Socket> idle;
  int error = 0;
  for (int i = 0; i < kIdle; ++i) {
    Socket s = ConnectFrom("127.0.0.4", cloud_->tunnel_port(), After(Millis(5'000)), &error);
    if (s.valid()) idle.push_back(std::move(s));
  }
  for (int i = 0; i < kIdle / 2; ++i) {
    Socket s = ConnectFrom("127.0.0.3", service_port(), After(Millis(5'000)), &error);
    if (s.valid()) idle.push_back(std::move(s));
  }
  OneWayResult r = SendAndClose(service_port(), kSeed, kSize, Millis(60'000));
  EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
  ASSERT_TRUE(received.WaitFor(1, After(Millis(30'000))));
  bool intact = false;
  for (const ReceiveResult& got : received.Values()) intact |= got.sha256 == PatternDigest(kSeed, kSize);
  EXPECT_TRUE(intact);

  const std::string cl = Metrics(cloud_admin_);
  EXPECT_GT(Metric(cl, R"(braid_limit_hits_total{limit="max_handshakes"})"), 0) << cl;
  EXPECT_GT(Metric(Metrics(onprem_admin_), R"(braid_limit_hits_total{limit="max_flows_per_source"})"), 0);
  const long cloud_growth = cloud_->RssKiB().value_or(0) - cloud_before;
  const long onprem_growth = onprem_->RssKiB().value_or(0) - onprem_before;
  std::cerr << "RSS growth with " << kIdle << " idle tunnel-port and " << kIdle / 2
            << " idle service-port connections: gw-cloud " << cloud_growth << " KiB, gw-onprem " << onprem_growth
            << " KiB\n";
  // 100 handshakes of ~40 KiB, 200 idle flows with a frame each, and the
  // transfer's windows: far below these bounds (in builds where RSS
  // measures braid, not a sanitizer; the limits above hold in all).
  if (kRssMeasuresBraid) {
    EXPECT_LT(cloud_growth, 96 * 1024);
    EXPECT_LT(onprem_growth, 96 * 1024);
  }
}

}  // namespace
}  // namespace braid::integration
