// Tests of ParseGatewayConfig (proxy/config/gateway_config.h): every
// validation error with its exact message, defaults, path resolution, a
// managed gateway's keys, and that every error of a text is reported at
// once. Durations and endpoints: config_values_test.cc; files on disk:
// load_gateway_config_test.cc.
#include "proxy/config/gateway_config.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proxy/config/example_config.h"

namespace braid::proxy {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

using testing::Example;
using testing::kExample;
using testing::Message;
using testing::Patched;

constexpr char kSource[] = "gw.json";
constexpr char kBaseDir[] = "/etc/braid";

absl::StatusOr<GatewayConfig> Parse(const std::string& text) { return ParseGatewayConfig(text, kSource, kBaseDir); }

// ErrorLines parses `text` and returns its error lines; a config that parses
// is a test failure.
std::vector<std::string> ErrorLines(const std::string& text) {
  absl::StatusOr<GatewayConfig> config = Parse(text);
  if (config.ok()) {
    ADD_FAILURE() << "parsed, but should not have:\n" << text;
    return {};
  }
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  std::vector<std::string> lines = absl::StrSplit(Message(config), '\n');
  for (const std::string& line : lines) EXPECT_THAT(line, StartsWith("gw.json: ")) << "every error names the file";
  return lines;
}

TEST(GatewayConfigTest, ExampleFromTheIssueParses) {
  absl::StatusOr<GatewayConfig> config = Parse(kExample);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "gw-onprem");
  EXPECT_EQ(config->source_path, "gw.json");
  EXPECT_EQ(config->identity.cert, "/etc/braid/pki/gw-onprem.crt");
  EXPECT_EQ(config->identity.key, "/etc/braid/pki/gw-onprem.key");
  EXPECT_EQ(config->identity.ca, "/etc/braid/pki/ca.crt");
  EXPECT_EQ(config->tunnel.listen, (Endpoint{"0.0.0.0", 4433}));
  EXPECT_EQ(config->tunnel.lanes, 0u);
  EXPECT_EQ(config->tunnel.idle_timeout, 60s);
  EXPECT_THAT(config->peers, ElementsAre(PeerConfig{"gw-cloud", {"198.51.100.7", 4433}}));
  EXPECT_THAT(config->services,
              ElementsAre(ServiceConfig{"pg", {"127.0.0.1", 15432}, "gw-cloud", {"10.2.0.9", 5432}}));
  EXPECT_EQ(config->policy.file, "/etc/braid/policies/db-replication.json");
  EXPECT_EQ(config->admin.listen, (Endpoint{"127.0.0.1", 9901}));
  ASSERT_NE(config->FindPeer("gw-cloud"), nullptr);
  EXPECT_EQ(config->FindPeer("gw-cloud")->address.port, 4433);
  EXPECT_EQ(config->FindPeer("gw-nowhere"), nullptr);
}

TEST(GatewayConfigTest, DefaultsOfAMinimalConfig) {
  // The cloud side: no peers, no services, nothing optional.
  absl::StatusOr<GatewayConfig> config = Parse(R"({
    "name": "gw-cloud",
    "identity": {"cert": "c.crt", "key": "c.key", "ca": "ca.crt"},
    "tunnel": {"listen": "[::]:4433"},
    "policy": {"file": "p.json"}
  })");
  ASSERT_TRUE(config.ok()) << config.status();
  const GatewayConfig defaults;
  EXPECT_EQ(config->tunnel.listen, (Endpoint{"::", 4433}));
  EXPECT_EQ(config->tunnel.lanes, 0u);
  EXPECT_EQ(config->tunnel.idle_timeout, 60s);
  EXPECT_EQ(config->tunnel.handshake_timeout, 10s);
  EXPECT_EQ(config->tunnel.keepalive_interval, 5s);
  EXPECT_EQ(config->tunnel.keepalive_timeout, 15s);
  EXPECT_EQ(config->tunnel.lane_loss_grace, 10s);
  EXPECT_EQ(config->tunnel.key_update_records, uint64_t{1} << 23);
  EXPECT_EQ(config->tunnel.key_limit, TunnelConfig::KeyLimit::kKeyUpdate);
  EXPECT_EQ(config->tunnel.flow_window_bytes, 4u << 20);
  EXPECT_EQ(config->tunnel.flow_window_max_bytes, 128u << 20);
  EXPECT_EQ(config->tunnel.window_budget_bytes, uint64_t{256} << 20);
  EXPECT_EQ(config->limits.window_budget_bytes, uint64_t{512} << 20);
  EXPECT_TRUE(config->peers.empty());
  EXPECT_TRUE(config->services.empty());
  EXPECT_FALSE(config->admin.listen.has_value());
  EXPECT_EQ(config->limits.max_flows, 10'000u);
  EXPECT_EQ(config->limits.max_flows_per_source, 1'000u);
  EXPECT_EQ(config->limits.connect_timeout, 10s);
  EXPECT_EQ(config->limits.open_timeout, 15s);
  EXPECT_EQ(config->log.level, "info");
  EXPECT_FALSE(config->log.json);
  // The documented defaults are the struct's.
  EXPECT_EQ(config->tunnel.idle_timeout, defaults.tunnel.idle_timeout);
  EXPECT_EQ(config->limits.max_flows, defaults.limits.max_flows);
}

TEST(GatewayConfigTest, EveryKeySet) {
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({
    "tunnel": {"listen": "[2001:db8::1]:0", "lanes": 256, "idle_timeout": "2m", "handshake_timeout": "500ms",
               "keepalive_interval": "1s", "keepalive_timeout": "1h", "lane_loss_grace": "90s", "key_update_records": 1,
               "key_limit": "rotate", "flow_window_bytes": 65536, "flow_window_max_bytes": 131072, "window_budget_bytes": 0},
    "peers": [{"name": "gw-cloud", "address": "gw-cloud.example.net:4433"},
              {"name": "gw-dr", "address": "[2001:db8::9]:4433"}],
    "services": [{"name": "pg", "listen": "127.0.0.1:0", "peer": "gw-cloud", "target": "db.internal:5432"},
                 {"name": "pg-dr", "listen": "[::1]:15432", "peer": "gw-dr", "target": "[2001:db8::10]:5432"}],
    "admin": {"listen": "[::1]:9901"},
    "limits": {"max_flows": 1, "max_flows_per_source": 4294967295, "connect_timeout": "3s", "open_timeout": "1m",
               "window_budget_bytes": 1099511627776},
    "log": {"level": "debug", "json": true}
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tunnel.listen, (Endpoint{"2001:db8::1", 0}));
  EXPECT_EQ(config->tunnel.lanes, 256u);
  EXPECT_EQ(config->tunnel.idle_timeout, 2min);
  EXPECT_EQ(config->tunnel.handshake_timeout, 500ms);
  EXPECT_EQ(config->tunnel.keepalive_interval, 1s);
  EXPECT_EQ(config->tunnel.keepalive_timeout, 1h);
  EXPECT_EQ(config->tunnel.lane_loss_grace, 90s);
  EXPECT_EQ(config->tunnel.key_update_records, 1u);
  EXPECT_EQ(config->tunnel.key_limit, TunnelConfig::KeyLimit::kRotate);
  EXPECT_EQ(config->tunnel.flow_window_bytes, 65536u);
  EXPECT_EQ(config->tunnel.flow_window_max_bytes, 131072u);
  EXPECT_EQ(config->tunnel.window_budget_bytes, 0u);
  EXPECT_EQ(config->limits.window_budget_bytes, uint64_t{1} << 40);
  EXPECT_THAT(config->peers, ElementsAre(PeerConfig{"gw-cloud", {"gw-cloud.example.net", 4433}},
                                         PeerConfig{"gw-dr", {"2001:db8::9", 4433}}));
  EXPECT_THAT(config->services,
              ElementsAre(ServiceConfig{"pg", {"127.0.0.1", 0}, "gw-cloud", {"db.internal", 5432}},
                          ServiceConfig{"pg-dr", {"::1", 15432}, "gw-dr", {"2001:db8::10", 5432}}));
  EXPECT_EQ(config->admin.listen, (Endpoint{"::1", 9901}));
  EXPECT_EQ(config->limits.max_flows, 1u);
  EXPECT_EQ(config->limits.max_flows_per_source, 4294967295u);
  EXPECT_EQ(config->limits.connect_timeout, 3s);
  EXPECT_EQ(config->limits.open_timeout, 1min);
  EXPECT_EQ(config->log.level, "debug");
  EXPECT_TRUE(config->log.json);
}

TEST(GatewayConfigTest, UpperBoundsAccepted) {
  absl::StatusOr<GatewayConfig> config =
      Parse(Patched(R"({"tunnel": {"key_update_records": 16777216, "flow_window_bytes": 1073741824}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tunnel.key_update_records, uint64_t{1} << 24);
  EXPECT_EQ(config->tunnel.flow_window_bytes, 1u << 30);
  // A start above the default ceiling, with no ceiling given: a fixed window.
  EXPECT_EQ(config->tunnel.flow_window_max_bytes, 1u << 30);
}

TEST(GatewayConfigTest, LaneCountFollowsTheFirstLanesRoundTrip) {
  using std::chrono::microseconds;
  TunnelConfig t;
  // A short link: one lane per core.
  EXPECT_EQ(LaneCount(t, 2, microseconds(60)), 2u);
  EXPECT_EQ(LaneCount(t, 16, microseconds(999)), 16u);
  // A long one: at least 8, more with more cores.
  EXPECT_EQ(LaneCount(t, 2, microseconds(1'000)), 8u);
  EXPECT_EQ(LaneCount(t, 2, microseconds(80'000)), 8u);
  EXPECT_EQ(LaneCount(t, 16, microseconds(80'000)), 16u);
  EXPECT_EQ(LaneCount(t, 1024, microseconds(80'000)), 256u);
  EXPECT_EQ(MaxLaneCount(t, 2), 8u);
  // Set by hand: that, whatever the link.
  t.lanes = 3;
  EXPECT_EQ(LaneCount(t, 16, microseconds(80'000)), 3u);
  EXPECT_EQ(LaneCount(t, 16, microseconds(10)), 3u);
  EXPECT_EQ(MaxLaneCount(t, 16), 3u);
}

TEST(GatewayConfigTest, EveryLogLevel) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    absl::StatusOr<GatewayConfig> config = Parse(Patched(json{{"log", {{"level", level}}}}.dump()));
    ASSERT_TRUE(config.ok()) << level << ": " << config.status();
    EXPECT_EQ(config->log.level, level);
  }
}

TEST(GatewayConfigTest, AdminSectionWithoutListenMeansNoAdmin) {
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({"admin": {"listen": null}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->admin.listen.has_value());
}

// One error each: the merge patch applied to the example, and the whole
// message expected.
struct ErrorCase {
  const char* label;
  std::string patch;
  std::string error;
};

std::string LongName(size_t n) { return std::string(n, 'a'); }

const std::string kNotADuration = R"( is not a duration (an integer and a unit: ms, s, m or h, as in "60s"))";
const std::string kNotAGatewayName =
    " is not a gateway name (1-253 characters of A-Za-z0-9_.- in dot-separated labels of 1-63, no label starting "
    "or ending with '-')";

const std::vector<ErrorCase>& ErrorCases() {
  static const std::vector<ErrorCase> cases = {
      // Keys.
      {"unknown_top_key", R"({"tunel": {}})", R"(gw.json: unknown key "tunel" (did you mean "tunnel"?))"},
      {"unknown_key_no_hint", R"({"colour": 1})", R"(gw.json: unknown key "colour")"},
      {"unknown_tunnel_key", R"({"tunnel": {"lans": 2}})",
       R"(gw.json: tunnel: unknown key "lans" (did you mean "lanes"?))"},
      {"unknown_service_key", R"({"services": [{"name": "pg", "listen": "127.0.0.1:1", "peer": "gw-cloud",
                                  "target": "db:1", "tls": true}]})",
       R"(gw.json: services[0]: unknown key "tls")"},
      // name.
      {"name_missing", R"({"name": null})", "gw.json: name: required"},
      {"name_type", R"({"name": 7})", "gw.json: name: expected a string, got number"},
      {"name_empty", R"({"name": ""})",
       R"(gw.json: name: "")" + kNotAGatewayName},
      {"name_space", R"({"name": "gw onprem"})",
       R"(gw.json: name: "gw onprem")" + kNotAGatewayName},
      {"name_too_long",
       json{{"name", LongName(63) + "." + LongName(63) + "." + LongName(63) + "." + LongName(62)}}.dump(),
       "gw.json: name: \"" + LongName(63) + "." + LongName(63) + "." + LongName(63) + "." + LongName(62) +
           "\"" + kNotAGatewayName},
      {"name_dash_label", R"({"name": "-gw"})",
       R"(gw.json: name: "-gw")" + kNotAGatewayName},
      {"name_slash", R"({"name": "../gw"})",
       R"(gw.json: name: "../gw")" + kNotAGatewayName},
      // identity.
      {"identity_missing", R"({"identity": null})", "gw.json: identity: required"},
      {"identity_type", R"({"identity": ["a"]})", "gw.json: identity: expected an object, got list"},
      {"identity_cert_missing", R"({"identity": {"cert": null}})", "gw.json: identity.cert: required"},
      {"identity_key_missing", R"({"identity": {"key": null}})", "gw.json: identity.key: required"},
      {"identity_ca_missing", R"({"identity": {"ca": null}})", "gw.json: identity.ca: required"},
      {"identity_key_empty", R"({"identity": {"key": ""}})", "gw.json: identity.key: must not be empty"},
      {"identity_ca_type", R"({"identity": {"ca": true}})", "gw.json: identity.ca: expected a string, got boolean"},
      // tunnel.
      {"tunnel_missing", R"({"tunnel": null})", "gw.json: tunnel: required"},
      {"tunnel_type", R"({"tunnel": "0.0.0.0:4433"})", "gw.json: tunnel: expected an object, got string"},
      {"tunnel_listen_missing", R"({"tunnel": {"listen": null}})", "gw.json: tunnel.listen: required"},
      {"tunnel_listen_name", R"({"tunnel": {"listen": "localhost:4433"}})",
       R"(gw.json: tunnel.listen: "localhost:4433": the host must be an IP address here, not a name)"},
      {"tunnel_listen_no_port", R"({"tunnel": {"listen": "0.0.0.0"}})",
       R"(gw.json: tunnel.listen: "0.0.0.0" is not IP:port (port 0-65535; IPv6 as [addr]:port))"},
      {"tunnel_listen_v6_unbracketed", R"({"tunnel": {"listen": "::1:4433"}})",
       R"(gw.json: tunnel.listen: "::1:4433" is not IP:port (port 0-65535; IPv6 as [addr]:port))"},
      {"tunnel_listen_type", R"({"tunnel": {"listen": 4433}})",
       R"(gw.json: tunnel.listen: expected a string "host:port", got number)"},
      {"lanes_string", R"({"tunnel": {"lanes": "4"}})", "gw.json: tunnel.lanes: expected a number, got string"},
      {"lanes_too_many", R"({"tunnel": {"lanes": 257}})",
       "gw.json: tunnel.lanes: 257 is out of range (0-256, 0 = decided at start)"},
      {"lanes_negative", R"({"tunnel": {"lanes": -1}})",
       "gw.json: tunnel.lanes: -1 is out of range (0-256, 0 = decided at start)"},
      {"lanes_fraction", R"({"tunnel": {"lanes": 2.5}})",
       "gw.json: tunnel.lanes: 2.5 is not an integer (0-256, 0 = decided at start)"},
      {"idle_timeout_zero", R"({"tunnel": {"idle_timeout": "0s"}})",
       R"(gw.json: tunnel.idle_timeout: "0s": must be greater than zero)"},
      {"lane_loss_grace_zero", R"({"tunnel": {"lane_loss_grace": "0ms"}})",
       R"(gw.json: tunnel.lane_loss_grace: "0ms": must be greater than zero)"},
      {"idle_timeout_number", R"({"tunnel": {"idle_timeout": 60}})",
       R"(gw.json: tunnel.idle_timeout: expected a duration string such as "60s", got number)"},
      {"idle_timeout_no_unit", R"({"tunnel": {"idle_timeout": "60"}})",
       R"(gw.json: tunnel.idle_timeout: "60")" + kNotADuration},
      {"handshake_timeout_fraction", R"({"tunnel": {"handshake_timeout": "1.5s"}})",
       R"(gw.json: tunnel.handshake_timeout: "1.5s")" + kNotADuration},
      {"handshake_timeout_zero", R"({"tunnel": {"handshake_timeout": "0ms"}})",
       R"(gw.json: tunnel.handshake_timeout: "0ms": must be greater than zero)"},
      {"keepalive_interval_zero", R"({"tunnel": {"keepalive_interval": "0s"}})",
       R"(gw.json: tunnel.keepalive_interval: "0s": must be greater than zero)"},
      {"keepalive_timeout_bad", R"({"tunnel": {"keepalive_timeout": "15 s"}})",
       R"(gw.json: tunnel.keepalive_timeout: "15 s")" + kNotADuration},
      {"keepalive_timeout_not_longer", R"({"tunnel": {"keepalive_interval": "20s"}})",
       "gw.json: tunnel.keepalive_timeout: 15s must be longer than keepalive_interval (20s)"},
      {"keepalive_timeout_equal", R"({"tunnel": {"keepalive_interval": "1m", "keepalive_timeout": "60000ms"}})",
       "gw.json: tunnel.keepalive_timeout: 1m must be longer than keepalive_interval (1m)"},
      {"key_update_records_zero", R"({"tunnel": {"key_update_records": 0}})",
       "gw.json: tunnel.key_update_records: 0 is out of range (1-16777216, at most 2^24)"},
      {"key_update_records_too_many", R"({"tunnel": {"key_update_records": 16777217}})",
       "gw.json: tunnel.key_update_records: 16777217 is out of range (1-16777216, at most 2^24)"},
      {"key_limit_unknown", R"({"tunnel": {"key_limit": "rekey"}})",
       R"(gw.json: tunnel.key_limit: "rekey" is not a key limit action (key_update or rotate))"},
      {"key_limit_not_a_string", R"({"tunnel": {"key_limit": true}})",
       "gw.json: tunnel.key_limit: expected a string, got boolean"},
      {"flow_window_too_small", R"({"tunnel": {"flow_window_bytes": 65535}})",
       "gw.json: tunnel.flow_window_bytes: 65535 is out of range (65536-1073741824, 64 KiB - 1 GiB)"},
      {"flow_window_too_big", R"({"tunnel": {"flow_window_bytes": 1073741825}})",
       "gw.json: tunnel.flow_window_bytes: 1073741825 is out of range (65536-1073741824, 64 KiB - 1 GiB)"},
      {"flow_window_string", R"({"tunnel": {"flow_window_bytes": "4MiB"}})",
       "gw.json: tunnel.flow_window_bytes: expected a number, got string"},
      {"flow_window_max_below_start", R"({"tunnel": {"flow_window_bytes": 8388608, "flow_window_max_bytes": 4194304}})",
       "gw.json: tunnel.flow_window_max_bytes: 4194304 is below tunnel.flow_window_bytes (8388608): the window would "
       "start above its ceiling"},
      {"flow_window_max_too_big", R"({"tunnel": {"flow_window_max_bytes": 1073741825}})",
       "gw.json: tunnel.flow_window_max_bytes: 1073741825 is out of range (65536-1073741824, 64 KiB - 1 GiB)"},
      {"tunnel_budget_negative", R"({"tunnel": {"window_budget_bytes": -1}})",
       "gw.json: tunnel.window_budget_bytes: -1 is out of range (0-1099511627776, 0 - 1 TiB)"},
      {"gateway_budget_too_big", R"({"limits": {"window_budget_bytes": 1099511627777}})",
       "gw.json: limits.window_budget_bytes: 1099511627777 is out of range (0-1099511627776, 0 - 1 TiB)"},
      // peers.
      {"peers_type", R"({"peers": {"name": "gw-cloud"}})", "gw.json: peers: expected a list, got object"},
      {"peer_type", R"({"peers": ["gw-cloud"]})", "gw.json: peers[0]: expected an object, got string"},
      {"peer_name_missing", R"({"peers": [{"address": "198.51.100.7:4433"}]})",
       "gw.json: peers[0].name: required"},
      {"peer_address_missing", R"({"peers": [{"name": "gw-cloud"}]})", "gw.json: peers[0].address: required"},
      {"peer_name_bad", R"({"peers": [{"name": "gw*", "address": "198.51.100.7:4433"}], "services": []})",
       R"(gw.json: peers[0].name: "gw*")" + kNotAGatewayName},
      {"peer_own_name", R"({"peers": [{"name": "gw-onprem", "address": "198.51.100.7:4433"}], "services": []})",
       R"(gw.json: peers[0].name: "gw-onprem" is this gateway's own name)"},
      {"peer_duplicate", R"({"peers": [{"name": "gw-cloud", "address": "198.51.100.7:4433"},
                                      {"name": "gw-cloud", "address": "198.51.100.8:4433"}]})",
       R"(gw.json: peers[1].name: "gw-cloud" is also the name of peers[0])"},
      {"peer_address_port_zero", R"({"peers": [{"name": "gw-cloud", "address": "198.51.100.7:0"}]})",
       R"(gw.json: peers[0].address: "198.51.100.7:0" is not host:port (port 1-65535))"},
      {"peer_address_no_port", R"({"peers": [{"name": "gw-cloud", "address": "gw-cloud.example.net"}]})",
       R"(gw.json: peers[0].address: "gw-cloud.example.net" is not host:port (port 1-65535; IPv6 as [addr]:port))"},
      {"peer_address_bad_ip", R"({"peers": [{"name": "gw-cloud", "address": "198.51.100.256:4433"}]})",
       R"(gw.json: peers[0].address: "198.51.100.256:4433" is not host:port (port 1-65535; IPv6 as [addr]:port))"},
      {"peer_address_bracketed_name", R"({"peers": [{"name": "gw-cloud", "address": "[gw-cloud]:4433"}]})",
       R"(gw.json: peers[0].address: "[gw-cloud]:4433" is not host:port (port 1-65535; IPv6 as [addr]:port))"},
      // services.
      {"services_type", R"({"services": "pg"})", "gw.json: services: expected a list, got string"},
      {"service_type", R"({"services": [1]})", "gw.json: services[0]: expected an object, got number"},
      {"service_name_missing", R"({"services": [{"listen": "127.0.0.1:1", "peer": "gw-cloud", "target": "db:1"}]})",
       "gw.json: services[0].name: required"},
      {"service_listen_missing", R"({"services": [{"name": "pg", "peer": "gw-cloud", "target": "db:1"}]})",
       "gw.json: services[0].listen: required"},
      {"service_peer_missing", R"({"services": [{"name": "pg", "listen": "127.0.0.1:1", "target": "db:1"}]})",
       "gw.json: services[0].peer: required"},
      {"service_target_missing", R"({"services": [{"name": "pg", "listen": "127.0.0.1:1", "peer": "gw-cloud"}]})",
       "gw.json: services[0].target: required"},
      {"service_name_bad",
       json{{"services", json::array({json{{"name", LongName(65)},
                                           {"listen", "127.0.0.1:1"},
                                           {"peer", "gw-cloud"},
                                           {"target", "db:1"}}})}}
           .dump(),
       "gw.json: services[0].name: \"" + LongName(65) + "\" is not a service name (1-64 characters of A-Za-z0-9_.-)"},
      {"service_name_duplicate", R"({"services": [
          {"name": "pg", "listen": "127.0.0.1:1", "peer": "gw-cloud", "target": "db:1"},
          {"name": "pg", "listen": "127.0.0.1:2", "peer": "gw-cloud", "target": "db:1"}]})",
       R"(gw.json: services[1].name: "pg" is also the name of services[0])"},
      {"service_listen_duplicate", R"({"services": [
          {"name": "a", "listen": "127.0.0.1:15432", "peer": "gw-cloud", "target": "db:1"},
          {"name": "b", "listen": "127.0.0.1:15432", "peer": "gw-cloud", "target": "db:2"}]})",
       R"(gw.json: services[1].listen: "127.0.0.1:15432" is already used by services[0].listen)"},
      {"service_listen_overlaps_tunnel", R"({"services": [
          {"name": "a", "listen": "127.0.0.1:4433", "peer": "gw-cloud", "target": "db:1"}]})",
       R"(gw.json: services[0].listen: "127.0.0.1:4433" overlaps tunnel.listen ("0.0.0.0:4433"))"},
      {"service_listen_name", R"({"services": [{"name": "a", "listen": "localhost:1", "peer": "gw-cloud",
                                               "target": "db:1"}]})",
       R"(gw.json: services[0].listen: "localhost:1": the host must be an IP address here, not a name)"},
      {"service_peer_unknown", R"({"services": [{"name": "a", "listen": "127.0.0.1:1", "peer": "gw-x",
                                                "target": "db:1"}]})",
       R"(gw.json: services[0].peer: "gw-x" is not a configured peer (peers: "gw-cloud"))"},
      {"service_peer_no_peers", R"({"peers": null})",
       R"(gw.json: services[0].peer: "gw-cloud" is not a configured peer (no peers are configured))"},
      {"service_target_port", R"({"services": [
          {"name": "a", "listen": "127.0.0.1:1", "peer": "gw-cloud", "target": "db:1"},
          {"name": "b", "listen": "127.0.0.1:2", "peer": "gw-cloud", "target": "db:99999"}]})",
       R"(gw.json: services[1].target: "db:99999" is not host:port (port 1-65535; IPv6 as [addr]:port))"},
      {"service_target_port_zero", R"({"services": [{"name": "a", "listen": "127.0.0.1:1", "peer": "gw-cloud",
                                                    "target": "10.2.0.9:0"}]})",
       R"(gw.json: services[0].target: "10.2.0.9:0" is not host:port (port 1-65535))"},
      // policy.
      {"policy_missing", R"({"policy": null})", "gw.json: policy: required"},
      {"policy_file_missing", R"({"policy": {"file": null}})", "gw.json: policy.file: required"},
      {"policy_file_type", R"({"policy": {"file": ["a.json"]}})", "gw.json: policy.file: expected a string, got list"},
      {"policy_unknown_key", R"({"policy": {"controller": "x"}})", R"(gw.json: policy: unknown key "controller")"},
      // admin.
      {"admin_type", R"({"admin": "127.0.0.1:9901"})", "gw.json: admin: expected an object, got string"},
      {"admin_listen_name", R"({"admin": {"listen": "localhost:9901"}})",
       R"(gw.json: admin.listen: "localhost:9901": the host must be an IP address here, not a name)"},
      {"admin_listen_clash", R"({"admin": {"listen": "127.0.0.1:15432"}})",
       R"(gw.json: admin.listen: "127.0.0.1:15432" is already used by services[0].listen)"},
      // limits.
      {"limits_type", R"({"limits": 5})", "gw.json: limits: expected an object, got number"},
      {"limits_unknown", R"({"limits": {"max_flow": 5}})",
       R"(gw.json: limits: unknown key "max_flow" (did you mean "max_flows"?))"},
      {"max_flows_zero", R"({"limits": {"max_flows": 0}})",
       "gw.json: limits.max_flows: 0 is out of range (1-4294967295)"},
      {"max_flows_too_big", R"({"limits": {"max_flows": 4294967296}})",
       "gw.json: limits.max_flows: 4294967296 is out of range (1-4294967295)"},
      {"max_flows_per_source_string", R"({"limits": {"max_flows_per_source": "10"}})",
       "gw.json: limits.max_flows_per_source: expected a number, got string"},
      {"connect_timeout_zero", R"({"limits": {"connect_timeout": "0h"}})",
       R"(gw.json: limits.connect_timeout: "0h": must be greater than zero)"},
      {"open_timeout_bad", R"({"limits": {"open_timeout": "1d"}})",
       R"(gw.json: limits.open_timeout: "1d")" + kNotADuration},
      // log.
      {"log_level_bad", R"({"log": {"level": "verbose"}})",
       R"(gw.json: log.level: "verbose" is not a log level (trace, debug, info, warn, error or off))"},
      {"log_level_case", R"({"log": {"level": "INFO"}})",
       R"(gw.json: log.level: "INFO" is not a log level (trace, debug, info, warn, error or off))"},
      {"log_json_string", R"({"log": {"json": "yes"}})",
       "gw.json: log.json: expected a boolean (true or false), got string"},
  };
  return cases;
}

class GatewayConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(GatewayConfigErrorTest, ReportsExactlyThisError) {
  EXPECT_THAT(ErrorLines(Patched(GetParam().patch)), ElementsAre(GetParam().error)) << GetParam().patch;
}

INSTANTIATE_TEST_SUITE_P(AllErrors, GatewayConfigErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& param_info) { return param_info.param.label; });

TEST(GatewayConfigTest, NotAnObject) {
  EXPECT_THAT(ErrorLines("[]"), ElementsAre("gw.json: expected a JSON object at the top level, got list"));
}

TEST(GatewayConfigTest, SyntaxError) {
  EXPECT_THAT(ErrorLines(R"({"name": "gw",})"), ElementsAre(StartsWith("gw.json: line 1, column ")));
  EXPECT_THAT(ErrorLines(""), ElementsAre(HasSubstr("invalid JSON")));
}

TEST(GatewayConfigTest, DuplicateKeysAnywhere) {
  // At the top level, in a section, in a list entry, and under an unknown
  // key that is itself an error.
  std::string text = kExample;
  text.insert(1, R"("name": "gw-first",)");
  text.replace(text.find(R"("lanes": 0)"), 10, R"("lanes": 0, "lanes": 1)");
  text.replace(text.find(R"("name": "pg")"), 12, R"("name": "pg", "name": "pg2")");
  text.insert(1, R"("extra": {"a": 1, "a": 2},)");
  EXPECT_THAT(ErrorLines(text), ElementsAre(R"(gw.json: duplicate key "name")", R"(gw.json: unknown key "extra")",
                                            R"(gw.json: tunnel: duplicate key "lanes")",
                                            R"(gw.json: services[0]: duplicate key "name")",
                                            R"(gw.json: extra: duplicate key "a")"));
}

TEST(GatewayConfigTest, EveryErrorIsReported) {
  EXPECT_THAT(ErrorLines(Patched(R"({
    "name": "",
    "tunel": 1,
    "identity": {"key": null},
    "tunnel": {"lanes": "many", "idle_timeout": "forever"},
    "services": [{"name": "pg", "listen": "127.0.0.1:15432", "peer": "gw-x", "target": "db:99999"}],
    "log": {"json": 1}
  })")),
              ElementsAre(StartsWith(R"(gw.json: unknown key "tunel")"), StartsWith(R"(gw.json: name: "")"),
                          "gw.json: identity.key: required", "gw.json: tunnel.lanes: expected a number, got string",
                          StartsWith(R"(gw.json: tunnel.idle_timeout: "forever" is not a duration)"),
                          StartsWith(R"(gw.json: services[0].peer: "gw-x" is not a configured peer)"),
                          StartsWith(R"(gw.json: services[0].target: "db:99999" is not host:port (port 1-65535)"),
                          "gw.json: log.json: expected a boolean (true or false), got number"));
}

TEST(GatewayConfigTest, ServiceOfAPeerWithErrorsIsNotReportedTwice) {
  // The peer's address is wrong, its name is fine: the service that names
  // it must not also be told the peer does not exist.
  EXPECT_THAT(ErrorLines(Patched(R"({"peers": [{"name": "gw-cloud", "address": "nowhere"}]})")),
              ElementsAre(StartsWith("gw.json: peers[0].address: ")));
}

TEST(GatewayConfigTest, ServiceOfAnUnreadablePeerIsNotReportedTwice) {
  // The peer's name is itself wrong: whether the service's reference is
  // right cannot be known until it is fixed.
  EXPECT_THAT(ErrorLines(Patched(R"({"peers": [{"name": "gw cloud", "address": "198.51.100.7:4433"}]})")),
              ElementsAre(StartsWith("gw.json: peers[0].name: ")));
  EXPECT_THAT(ErrorLines(Patched(R"({"peers": [{"address": "198.51.100.7:4433"}]})")),
              ElementsAre("gw.json: peers[0].name: required"));
  EXPECT_THAT(ErrorLines(Patched(R"({"peers": [{"name": "gw-cloud", "address": "198.51.100.7:4433"}, 5]})")),
              ElementsAre("gw.json: peers[1]: expected an object, got number"));
}

TEST(GatewayConfigTest, ListenersThatDoNotClash) {
  // Same port on different addresses or families, and port 0 any number of
  // times.
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({
    "tunnel": {"listen": "10.0.0.1:4433"},
    "services": [{"name": "a", "listen": "127.0.0.1:4433", "peer": "gw-cloud", "target": "db:1"},
                 {"name": "b", "listen": "[::]:4433", "peer": "gw-cloud", "target": "db:1"},
                 {"name": "c", "listen": "127.0.0.1:0", "peer": "gw-cloud", "target": "db:1"},
                 {"name": "d", "listen": "127.0.0.1:0", "peer": "gw-cloud", "target": "db:1"}]
  })"));
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(ErrorLines(Patched(R"({"tunnel": {"listen": "[::]:4433"},
      "services": [{"name": "a", "listen": "[0:0::1]:4433", "peer": "gw-cloud", "target": "db:1"}]})")),
              ElementsAre(R"(gw.json: services[0].listen: "[0:0::1]:4433" overlaps tunnel.listen ("[::]:4433"))"));
}

TEST(GatewayConfigTest, PathsResolveAgainstTheBaseDirectory) {
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({
    "identity": {"cert": "./pki/../pki/gw.crt", "key": "/srv/keys/gw.key", "ca": "../shared/ca.crt"},
    "policy": {"file": "p.json"}
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->identity.cert, "/etc/braid/pki/gw.crt");
  EXPECT_EQ(config->identity.key, "/srv/keys/gw.key");
  EXPECT_EQ(config->identity.ca, "/etc/shared/ca.crt");
  EXPECT_EQ(config->policy.file, "/etc/braid/p.json");
}

TEST(GatewayConfigTest, RelativeBaseDirectoryIsMadeAbsolute) {
  absl::StatusOr<GatewayConfig> config = ParseGatewayConfig(kExample, kSource, "conf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->policy.file, (fs::current_path() / "conf/policies/db-replication.json").string());
  config = ParseGatewayConfig(kExample, kSource, "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->identity.ca, (fs::current_path() / "pki/ca.crt").string());
}

// A managed gateway: "controller" and "state_dir" instead of "policy"; its
// services may name peers the controller will tell it about.
TEST(GatewayConfigTest, ManagedGatewayTakesControllerInsteadOfPolicy) {
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({
    "policy": null, "peers": null,
    "controller": {"address": "ctl.example:7443"}, "state_dir": "state",
    "tunnel": {"advertise": "203.0.113.5:4433"},
    "services": [{"name": "pg", "listen": "127.0.0.1:15432", "peer": "gw-elsewhere", "target": "10.2.0.9:5432"}]
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->controller.has_value());
  ASSERT_EQ(config->controller->addresses.size(), 1u);
  EXPECT_EQ(config->controller->addresses[0].ToString(), "ctl.example:7443");
  EXPECT_EQ(config->controller->name, "controller");
  EXPECT_EQ(config->state_dir, "/etc/braid/state");
  EXPECT_EQ(config->policy.file, "");
  ASSERT_TRUE(config->tunnel.advertise.has_value());
  EXPECT_EQ(config->tunnel.advertise->ToString(), "203.0.113.5:4433");
}

// Controllers sharing their state: a list of addresses, tried in turn.
TEST(GatewayConfigTest, ManagedGatewayTakesAListOfControllers) {
  absl::StatusOr<GatewayConfig> config = Parse(Patched(R"({
    "policy": null, "peers": null, "state_dir": "state",
    "controller": {"address": ["ctl-a.example:7443", "[2001:db8::7]:7443", "192.0.2.8:7443"]}
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->controller->addresses.size(), 3u);
  EXPECT_EQ(config->controller->AddressList(), "ctl-a.example:7443, [2001:db8::7]:7443, 192.0.2.8:7443");

  const std::string managed = R"("policy": null, "peers": null, "state_dir": "s", )";
  EXPECT_THAT(ErrorLines(Patched("{" + managed + R"("controller": {"address": []}})")),
              ElementsAre("gw.json: controller.address: must name at least one controller"));
  EXPECT_THAT(ErrorLines(Patched("{" + managed + R"("controller": {"address": ["a:1", "b:2", "a:1"]}})")),
              ElementsAre("gw.json: controller.address[2]: \"a:1\" is listed twice"));
  EXPECT_THAT(ErrorLines(Patched("{" + managed + R"("controller": {"address": ["a:1", "b"]}})")),
              ElementsAre(HasSubstr("gw.json: controller.address[1]: ")));
}

TEST(GatewayConfigTest, ManagedGatewayErrors) {
  EXPECT_THAT(ErrorLines(Patched(R"({"controller": {"address": "ctl.example:7443"}, "state_dir": "s"})")),
              ElementsAre(R"(gw.json: policy: not with "controller": a managed gateway takes its policy from the controller)"));
  EXPECT_THAT(ErrorLines(Patched(R"({"policy": null, "controller": {"address": "ctl.example:7443"}})")),
              ElementsAre("gw.json: state_dir: required"));
  EXPECT_THAT(ErrorLines(Patched(R"({"policy": null, "state_dir": "s", "controller": {"name": "bad name"}})")),
              SizeIs(2));  // address required; the name is not a certificate name
  EXPECT_THAT(ErrorLines(Patched(R"({"policy": null})")), ElementsAre("gw.json: policy: required"));
}


}  // namespace
}  // namespace braid::proxy
