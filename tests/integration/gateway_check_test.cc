// `braid-proxy --check` and start-up refusals, with the real binary:
//   - a good config (with its PKI and policy) exits 0 and says so;
//   - each kind of bad config exits 1 with a precise message naming the file
//     and the key (table-driven), including unknown keys;
//   - --check binds no port, so it works beside a live gateway;
//   - a gateway that cannot bind a port exits 1 before listening on any.
#include <netinet/in.h>
#include <sys/socket.h>

#include <functional>
#include <ostream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class GatewayCheckTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    GatewayPairTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(WriteDefaultPolicies(target_port_));
  }
  // A config that passes: gw-onprem's usual one.
  nlohmann::json Good() const { return OnpremConfig(4433, target_port_); }
  // Check writes `config` (or raw text) to check.json and runs --check on it.
  RunResult Check(const std::string& text) {
    EXPECT_TRUE(WriteFileAtomically(Path("check.json"), text));
    return RunToExit({kBraidProxy, "--config", Path("check.json"), "--check"}, dir_.path());
  }
  RunResult Check(const nlohmann::json& config) { return Check(config.dump(2)); }

  const uint16_t target_port_ = 5432;
};

TEST_F(GatewayCheckTest, GoodConfigPasses) {
  RunResult r = Check(Good());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("configuration, policy and identity are valid"));
  EXPECT_THAT(r.err, IsEmpty());
}

struct BadConfig {
  const char* name;
  std::function<void(nlohmann::json&)> edit;
  const char* message;  // must appear in stderr
};

void PrintTo(const BadConfig& config, std::ostream* os) { *os << config.name; }

class GatewayCheckBadConfigTest : public GatewayCheckTest, public ::testing::WithParamInterface<BadConfig> {};

TEST_P(GatewayCheckBadConfigTest, ExitsOneWithAPreciseMessage) {
  nlohmann::json config = Good();
  GetParam().edit(config);
  RunResult r = Check(config);
  EXPECT_EQ(r.exit_code, 1) << "stdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_THAT(r.err, HasSubstr(GetParam().message));
  EXPECT_THAT(r.err, HasSubstr("check.json"));
  EXPECT_THAT(r.out, Not(HasSubstr("valid")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GatewayCheckBadConfigTest,
    ::testing::Values(
        BadConfig{"UnknownTopLevelKey",
                  [](nlohmann::json& c) {
                    c["tunel"] = c["tunnel"];
                    c.erase("tunnel");
                  },
                  R"(unknown key "tunel" (did you mean "tunnel"?))"},
        BadConfig{"UnknownNestedKey", [](nlohmann::json& c) { c["tunnel"]["lane"] = 2; },
                  R"(tunnel: unknown key "lane" (did you mean "lanes"?))"},
        BadConfig{"LanesAsString", [](nlohmann::json& c) { c["tunnel"]["lanes"] = "2"; },
                  "tunnel.lanes: expected a number, got string"},
        BadConfig{"FractionalDuration", [](nlohmann::json& c) { c["tunnel"]["idle_timeout"] = "1.5s"; },
                  "tunnel.idle_timeout"},
        BadConfig{"KeyUpdateRecordsZero", [](nlohmann::json& c) { c["tunnel"]["key_update_records"] = 0; },
                  "tunnel.key_update_records"},
        BadConfig{"ServiceToUnknownPeer", [](nlohmann::json& c) { c["services"][0]["peer"] = "gw-x"; },
                  R"(services[0].peer: "gw-x" is not a configured peer)"},
        BadConfig{"BadTarget", [](nlohmann::json& c) { c["services"][0]["target"] = "db:99999"; },
                  "services[0].target"},
        BadConfig{"MissingCertFile", [](nlohmann::json& c) { c["identity"]["cert"] = "pki/nope.crt"; },
                  "identity.cert: cannot read"},
        BadConfig{"CertOfAnotherGateway",
                  [](nlohmann::json& c) {
                    c["identity"]["cert"] = "pki/gw-cloud.crt";
                    c["identity"]["key"] = "pki/gw-cloud.key";
                  },
                  R"(identity.cert names gateway "gw-cloud", but this gateway is "gw-onprem")"},
        BadConfig{"KeyDoesNotMatchCert", [](nlohmann::json& c) { c["identity"]["key"] = "pki/gw-cloud.key"; },
                  "gw-cloud.key does not match certificate"},
        BadConfig{"MissingPolicy", [](nlohmann::json& c) { c.erase("policy"); }, "policy: required"}),
    [](const ::testing::TestParamInfo<BadConfig>& param_info) { return std::string(param_info.param.name); });

TEST_F(GatewayCheckTest, SyntaxErrorGivesLineAndColumn) {
  RunResult r = Check(std::string("{\n  \"name\": \"gw-onprem\",\n  ]\n}\n"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("line 3"));
}

TEST_F(GatewayCheckTest, BadPolicyFileIsReported) {
  ASSERT_TRUE(WriteFileAtomically(Path(kOnpremPolicy), R"({"rules": [{"id": "a", "action": "allow"}]})"));
  RunResult r = Check(Good());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr(R"(onprem-policy.json: rule #1 (id "a"): action: "allow" must be "permit" or "deny")"));
}

TEST_F(GatewayCheckTest, CheckBindsNoPort) {
  // The config's tunnel port is held by a live listener: --check must still
  // pass, since it must be safe to run beside the running gateway.
  Socket holder(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(holder.fd(), 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(holder.fd(), reinterpret_cast<sockaddr*>(&addr), &len);
  nlohmann::json config = Good();
  config["tunnel"]["listen"] = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  RunResult r = Check(config);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Started for real on the same config, the gateway refuses to start: exit
  // 1, a message naming the port, and no listener ever announced.
  ASSERT_TRUE(WriteFileAtomically(Path("busy.json"), config.dump(2)));
  RunResult start = RunToExit({kBraidProxy, "--config", Path("busy.json")}, dir_.path(), Millis(20'000));
  EXPECT_EQ(start.exit_code, 1) << start.err;
  EXPECT_THAT(start.err, HasSubstr("tunnel.listen: cannot listen on"));
  EXPECT_THAT(start.err, Not(HasSubstr("tunnel listener on")));
}

}  // namespace
}  // namespace braid::integration
