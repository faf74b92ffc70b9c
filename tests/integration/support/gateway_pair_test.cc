#include "integration/support/gateway_pair_test.h"

#include <sys/stat.h>

#include <cstring>
#include <iostream>
#include <thread>

namespace braid::integration {

void GatewayPairTest::SetUp() {
  ASSERT_FALSE(dir_.path().empty()) << "cannot make a scratch directory";
  const std::string pki = Path("pki");
  ASSERT_TRUE(MakeCa(pki, dir_.path()));
  ASSERT_TRUE(IssueCert(pki, kOnprem, dir_.path()));
  ASSERT_TRUE(IssueCert(pki, kCloud, dir_.path()));
}

void GatewayPairTest::TearDown() {
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    if (gw == nullptr) continue;
    if (std::string why = gw->UnexpectedExit(); !why.empty()) ADD_FAILURE() << why;
  }
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    if (gw != nullptr && !gw->Stop()) ADD_FAILURE() << gw->name() << " did not stop within 5s of SIGTERM";
  }
  if (HasFailure()) {
    std::cerr << "scratch directory: " << dir_.path() << " (BRAID_KEEP_TEST_DIRS=1 keeps it)\n";
    for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
      if (gw != nullptr) std::cerr << "---- " << gw->name() << " log (tail) ----\n" << gw->LogTail(40);
    }
  }
  onprem_.reset();
  cloud_.reset();
}

nlohmann::json GatewayPairTest::CloudConfig() const {
  return {
      {"name", kCloud},
      {"identity", {{"cert", "pki/gw-cloud.crt"}, {"key", "pki/gw-cloud.key"}, {"ca", "pki/ca.crt"}}},
      {"tunnel", {{"listen", "127.0.0.1:0"}, {"lanes", 2}}},
      {"policy", {{"file", kCloudPolicy}}},
  };
}

nlohmann::json GatewayPairTest::OnpremConfig(uint16_t peer_port, uint16_t target_port) const {
  return {
      {"name", kOnprem},
      {"identity", {{"cert", "pki/gw-onprem.crt"}, {"key", "pki/gw-onprem.key"}, {"ca", "pki/ca.crt"}}},
      {"tunnel", {{"listen", "127.0.0.1:0"}, {"lanes", 2}}},
      {"peers", {{{"name", kCloud}, {"address", "127.0.0.1:" + std::to_string(peer_port)}}}},
      {"services",
       {{{"name", kService},
         {"listen", "127.0.0.1:0"},
         {"peer", kCloud},
         {"target", "127.0.0.1:" + std::to_string(target_port)}}}},
      {"policy", {{"file", kOnpremPolicy}}},
  };
}

nlohmann::json GatewayPairTest::PermitPolicy(uint16_t target_port) {
  return {{"name", "integration"},
          {"default", "deny"},
          {"rules",
           {{{"id", "permit-sink"},
             {"action", "permit"},
             {"proto", "tcp"},
             {"dst", {"127.0.0.1"}},
             {"dst_ports", {target_port}}}}}};
}

nlohmann::json GatewayPairTest::DenyPolicy(uint16_t target_port, const std::string& rule_id) {
  nlohmann::json policy = PermitPolicy(target_port);
  nlohmann::json deny = {{"id", rule_id}, {"action", "deny"}, {"proto", "tcp"}, {"dst_ports", {target_port}}};
  policy["rules"].insert(policy["rules"].begin(), std::move(deny));
  return policy;
}

void GatewayPairTest::WritePolicy(const std::string& file, const nlohmann::json& policy) {
  ASSERT_TRUE(WriteFileAtomically(Path(file), policy.dump(2))) << Path(file);
}

::testing::AssertionResult GatewayPairTest::StartCloud(nlohmann::json config) {
  cloud_ = std::make_unique<GatewayProcess>(kCloud, dir_.path(), std::move(config));
  return cloud_->Start();
}

::testing::AssertionResult GatewayPairTest::StartOnprem(nlohmann::json config) {
  onprem_ = std::make_unique<GatewayProcess>(kOnprem, dir_.path(), std::move(config));
  auto started = onprem_->Start();
  if (started && service_port() == 0) return ::testing::AssertionFailure() << "no service port in gw-onprem's log";
  return started;
}

::testing::AssertionResult GatewayPairTest::WriteDefaultPolicies(uint16_t target_port) {
  struct stat st;
  for (const char* file : {kOnpremPolicy, kCloudPolicy}) {
    if (stat(Path(file).c_str(), &st) != 0 &&
        !WriteFileAtomically(Path(file), PermitPolicy(target_port).dump(2))) {
      return ::testing::AssertionFailure() << "cannot write " << file;
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult GatewayPairTest::StartPair(uint16_t target_port, const Customize& customize) {
  if (auto r = WriteDefaultPolicies(target_port); !r) return r;
  nlohmann::json cloud = CloudConfig();
  // The onprem config needs the cloud's port: customize a placeholder first,
  // then put the real port in.
  nlohmann::json onprem = OnpremConfig(1, target_port);
  if (customize) customize(onprem, cloud);
  if (auto r = StartCloud(std::move(cloud)); !r) return r;
  for (auto& peer : onprem["peers"]) {
    if (peer["address"] == "127.0.0.1:1") peer["address"] = "127.0.0.1:" + std::to_string(cloud_->tunnel_port());
  }
  return StartOnprem(std::move(onprem));
}

TcpServer::Handler DrainHandler(Collector<ReceiveResult>* out, Millis timeout, std::optional<uint64_t> expect_seed,
                                std::atomic<uint64_t>* progress) {
  return [out, timeout, expect_seed, progress](Socket& s) {
    const uint64_t seed = expect_seed.value_or(0);
    out->Add(ReceiveAll(s, After(timeout), expect_seed ? &seed : nullptr, progress));
  };
}

bool WaitAtLeast(const std::atomic<uint64_t>& value, uint64_t target, Deadline deadline) {
  while (value.load() < target) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(5));
  }
  return true;
}

OneWayResult SendAndClose(uint16_t port, uint64_t seed, uint64_t size, Millis timeout) {
  OneWayResult r;
  const Deadline deadline = After(timeout);
  Socket s = Connect(port, deadline, &r.connect_error);
  if (!s.valid()) return r;
  SendOptions options;
  options.seed = seed;
  options.size = size;
  options.shutdown_write = true;
  r.sent = SendPattern(s, options, deadline);
  r.reply = ReceiveAll(s, deadline);
  return r;
}

std::string DescribeOneWay(const OneWayResult& r) {
  return std::string("connect: ") + (r.connect_error == 0 ? "ok" : strerror(r.connect_error)) + "; sent " +
         std::to_string(r.sent.bytes) + " bytes (" + (r.sent.error == 0 ? "no error" : strerror(r.sent.error)) +
         (r.sent.peer_eof ? ", peer EOF" : "") + "); then " + StreamEndName(r.reply.end) +
         (r.reply.error == 0 ? "" : std::string(" (") + strerror(r.reply.error) + ")");
}

nlohmann::json GatewayPairTest::AdminJson(GatewayProcess& gw, const std::string& path) {
  const HttpReply r = HttpGet(gw.AdminPort(), path);
  if (r.status != 200) return nullptr;
  return nlohmann::json::parse(r.body, nullptr, false);
}

nlohmann::json GatewayPairTest::OnlyTunnel(GatewayProcess& gw) {
  nlohmann::json t = AdminJson(gw, "/tunnels");
  if (!t.is_object() || !t["tunnels"].is_array() || t["tunnels"].size() != 1) return nullptr;
  return t["tunnels"][0];
}

nlohmann::json GatewayPairTest::TunnelLanes(GatewayProcess& gw) {
  const nlohmann::json t = OnlyTunnel(gw);
  return t.is_object() ? t["lanes"] : nlohmann::json::array();
}

double GatewayPairTest::AdminMetric(GatewayProcess& gw, const std::string& series) {
  const double v = Metric(HttpGet(gw.AdminPort(), "/metrics").body, series);
  return v < 0 ? 0 : v;
}

}  // namespace braid::integration
