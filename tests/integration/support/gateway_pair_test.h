// GatewayPairTest: the fixture of the gateway integration tests. Each test
// gets a fresh directory and a fresh PKI made by the real braidctl (a CA,
// gw-onprem and gw-cloud), and can start the usual pair of real gateways:
//
//   source (test) -> gw-onprem service "sink" -> tunnel -> gw-cloud -> sink (test)
//
// Every listener is on port 0; ports are read back from the gateways' logs.
// Each side has its own policy file (onprem-policy.json, cloud-policy.json),
// by default permitting TCP to the sink's address and port only (rule
// "permit-sink"), so a test can change one side's policy alone.
//
// TearDown fails the test if a gateway exited on its own (a crash) or did not
// stop on SIGTERM, and prints the gateways' log tails when the test failed.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_PAIR_TEST_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_PAIR_TEST_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "integration/support/gateway.h"
#include "integration/support/net.h"
#include "integration/support/scratch_dir.h"
#include "nlohmann/json.hpp"

namespace braid::integration {

inline constexpr char kOnprem[] = "gw-onprem";
inline constexpr char kCloud[] = "gw-cloud";
inline constexpr char kService[] = "sink";
inline constexpr char kOnpremPolicy[] = "onprem-policy.json";
inline constexpr char kCloudPolicy[] = "cloud-policy.json";

class GatewayPairTest : public ::testing::Test {
 protected:
  using Customize = std::function<void(nlohmann::json& onprem, nlohmann::json& cloud)>;

  void SetUp() override;
  void TearDown() override;

  std::string Path(const std::string& name) const { return dir_.File(name); }

  // A gateway's admin endpoint (admin.listen must be set). AdminJson fetches
  // a JSON view (null on any failure); OnlyTunnel is the one tunnel of
  // /tunnels (null unless there is exactly one) and TunnelLanes its lanes
  // (empty without it); AdminMetric is one series of /metrics, 0 when
  // absent.
  static nlohmann::json AdminJson(GatewayProcess& gw, const std::string& path);
  static nlohmann::json OnlyTunnel(GatewayProcess& gw);
  static nlohmann::json TunnelLanes(GatewayProcess& gw);
  static double AdminMetric(GatewayProcess& gw, const std::string& series);

  // The default configs: loopback, port 0, 2 lanes.
  nlohmann::json CloudConfig() const;
  nlohmann::json OnpremConfig(uint16_t peer_port, uint16_t target_port) const;

  // PermitPolicy permits TCP to 127.0.0.1:target_port (rule "permit-sink")
  // and denies everything else.
  static nlohmann::json PermitPolicy(uint16_t target_port);
  // DenyPolicy puts a deny rule `rule_id` for that port before the permit.
  static nlohmann::json DenyPolicy(uint16_t target_port, const std::string& rule_id);
  void WritePolicy(const std::string& file, const nlohmann::json& policy);
  // WriteDefaultPolicies writes PermitPolicy to each side's policy file that
  // does not exist yet.
  ::testing::AssertionResult WriteDefaultPolicies(uint16_t target_port);

  ::testing::AssertionResult StartCloud(nlohmann::json config);
  ::testing::AssertionResult StartOnprem(nlohmann::json config);
  // StartPair writes permit policies (unless the files exist), lets
  // `customize` edit both configs, then starts gw-cloud and gw-onprem.
  ::testing::AssertionResult StartPair(uint16_t target_port, const Customize& customize = nullptr);
  // The port of gw-onprem's service "sink", where sources connect.
  uint16_t service_port() const { return onprem_ ? onprem_->ServicePort(kService) : 0; }

  ScratchDir dir_;
  std::unique_ptr<GatewayProcess> onprem_;
  std::unique_ptr<GatewayProcess> cloud_;
};

// DrainHandler returns a TcpServer handler that reads each connection to its
// end (within `timeout`), checking it against `expect_seed`'s pattern when
// given, and adds the result to `out`. `progress`, if given, follows the
// byte count as it goes.
TcpServer::Handler DrainHandler(Collector<ReceiveResult>* out, Millis timeout,
                                std::optional<uint64_t> expect_seed = std::nullopt,
                                std::atomic<uint64_t>* progress = nullptr);

// WaitAtLeast waits until `value` reaches `target`; false at the deadline.
bool WaitAtLeast(const std::atomic<uint64_t>& value, uint64_t target, Deadline deadline);

// SendAndClose connects to `port`, sends `size` bytes of `seed`'s pattern,
// half-closes, and waits for the far end to close: the result of a plain
// one-way transfer as the source host sees it.
struct OneWayResult {
  int connect_error = 0;
  SendResult sent;
  ReceiveResult reply;  // what came back: nothing, then EOF or a reset
};
OneWayResult SendAndClose(uint16_t port, uint64_t seed, uint64_t size, Millis timeout);

// SourceSawReset: the source host saw the flow reset, at whatever point it
// came: during connect (a gateway that accepts and resets at once can beat
// the connect's completion), while sending, or in place of a reply. Never a
// clean EOF.
inline bool SourceSawReset(const OneWayResult& r) {
  return r.connect_error == ECONNRESET || SawReset(r.sent) || r.reply.end == StreamEnd::kReset;
}
// DescribeOneWay says what the source saw, for failure messages.
std::string DescribeOneWay(const OneWayResult& r);

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_PAIR_TEST_H_
