// Tests of the controller's config (controller/config/controller_config.h):
// the reference config, defaults, durations with days, path resolution,
// every missing or bad key with its exact error line (table-driven),
// unknown and duplicate keys, every error reported at once, and loading
// from a file.
#include "controller/config/controller_config.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pki/temp_dir.h"

namespace braid::controller {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

constexpr char kSource[] = "controller.json";
constexpr char kBaseDir[] = "/etc/braid";

constexpr char kExample[] = R"({
  "listen": "0.0.0.0:7443",
  "identity": {"cert": "pki/controller.crt", "key": "pki/controller.key"},
  "ca": {"cert": "pki/ca.crt", "key": "pki/ca.key"},
  "state_dir": "/var/lib/braid-controller",
  "admins": ["admin"]
})";

// Patched returns the example with an RFC 7386 merge patch applied (null
// removes a key; a list replaces the whole list).
std::string Patched(const std::string& patch) {
  json doc = json::parse(kExample);
  doc.merge_patch(json::parse(patch));
  return doc.dump();
}

absl::StatusOr<ControllerConfig> Parse(const std::string& text) {
  return ParseControllerConfig(text, kSource, kBaseDir);
}

// ErrorLines parses `text` and returns its error lines; a config that
// parses is a test failure.
std::vector<std::string> ErrorLines(const std::string& text) {
  absl::StatusOr<ControllerConfig> config = Parse(text);
  if (config.ok()) {
    ADD_FAILURE() << "parsed, but should not have:\n" << text;
    return {};
  }
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  std::vector<std::string> lines = absl::StrSplit(std::string(config.status().message()), '\n');
  for (const std::string& line : lines) EXPECT_THAT(line, StartsWith("controller.json: ")) << "names the source";
  return lines;
}

TEST(ControllerConfigTest, MinimalConfigAndDefaults) {
  absl::StatusOr<ControllerConfig> config = Parse(kExample);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, kSource);
  EXPECT_EQ(config->listen, (proxy::Endpoint{"0.0.0.0", 7443}));
  EXPECT_EQ(config->identity_cert, "/etc/braid/pki/controller.crt");
  EXPECT_EQ(config->identity_key, "/etc/braid/pki/controller.key");
  EXPECT_EQ(config->ca_cert, "/etc/braid/pki/ca.crt");
  EXPECT_EQ(config->ca_key, "/etc/braid/pki/ca.key");
  EXPECT_EQ(config->state_dir, "/var/lib/braid-controller");
  EXPECT_THAT(config->admins, ElementsAre("admin"));
  EXPECT_EQ(config->token_ttl, 1h);
  EXPECT_EQ(config->certificate_validity, std::chrono::days(365));
  EXPECT_EQ(config->gateway_poll, 20s);
  EXPECT_EQ(config->log.level, "info");
  EXPECT_FALSE(config->log.json);
}

TEST(ControllerConfigTest, EveryKeySet) {
  absl::StatusOr<ControllerConfig> config = Parse(Patched(R"({
    "listen": "[::1]:0",
    "admins": ["admin", "ops.eu"],
    "enrollment": {"token_ttl": "30d", "certificate_validity": "3650d"},
    "gateway_poll": "120s",
    "log": {"level": "debug", "json": true}
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, (proxy::Endpoint{"::1", 0}));
  EXPECT_THAT(config->admins, ElementsAre("admin", "ops.eu"));
  EXPECT_EQ(config->token_ttl, std::chrono::days(30));
  EXPECT_EQ(config->certificate_validity, std::chrono::days(3650));
  EXPECT_EQ(config->gateway_poll, 120s);
  EXPECT_EQ(config->log.level, "debug");
  EXPECT_TRUE(config->log.json);
}

TEST(ControllerConfigTest, DurationsTakeEveryUnitWithinRange) {
  struct Case {
    const char* patch;
    proxy::Duration token_ttl;
    std::chrono::days validity;
    proxy::Duration poll;
  };
  const Case cases[] = {
      {R"({"enrollment": {"token_ttl": "1m"}, "gateway_poll": "1s"})", 1min, std::chrono::days(365), 1s},
      {R"({"enrollment": {"token_ttl": "90m", "certificate_validity": "1d"}, "gateway_poll": "1500ms"})", 90min,
       std::chrono::days(1), 1500ms},
      {R"({"enrollment": {"token_ttl": "720h", "certificate_validity": "48h"}, "gateway_poll": "2m"})", 720h,
       std::chrono::days(2), 2min},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ControllerConfig> config = Parse(Patched(c.patch));
    ASSERT_TRUE(config.ok()) << c.patch << ": " << config.status();
    EXPECT_EQ(config->token_ttl, c.token_ttl) << c.patch;
    EXPECT_EQ(config->certificate_validity, c.validity) << c.patch;
    EXPECT_EQ(config->gateway_poll, c.poll) << c.patch;
  }
}

TEST(ControllerConfigTest, RelativePathsResolveAgainstBaseDir) {
  absl::StatusOr<ControllerConfig> config = Parse(Patched(R"({
    "identity": {"cert": "./a/../id.crt", "key": "/abs/id.key"},
    "ca": {"cert": "../ca/ca.crt", "key": "ca.key"},
    "state_dir": "state"
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->identity_cert, "/etc/braid/id.crt");
  EXPECT_EQ(config->identity_key, "/abs/id.key");
  EXPECT_EQ(config->ca_cert, "/etc/ca/ca.crt");
  EXPECT_EQ(config->ca_key, "/etc/braid/ca.key");
  EXPECT_EQ(config->state_dir, "/etc/braid/state");
}

TEST(ControllerConfigTest, EveryBadKeyHasItsMessage) {
  struct Case {
    const char* patch;
    const char* error;  // the one error line, after "controller.json: "
  };
  const Case cases[] = {
      {R"({"listen": null})", "listen: required"},
      {R"({"listen": 7443})", "listen: expected a string \"host:port\", got number"},
      {R"({"listen": "ctl.example:7443"})", "listen: \"ctl.example:7443\": the host must be an IP address here"},
      {R"({"listen": "0.0.0.0:70000"})", "listen: \"0.0.0.0:70000\" is not IP:port"},
      {R"({"identity": null})", "identity: required"},
      {R"({"identity": "id.crt"})", "identity: expected an object, got string"},
      {R"({"identity": {"cert": null}})", "identity.cert: required"},
      {R"({"identity": {"key": ""}})", "identity.key: must not be empty"},
      {R"({"identity": {"ca": "ca.crt"}})", "identity: unknown key \"ca\""},
      {R"({"ca": null})", "ca: required"},
      {R"({"ca": {"key": null}})", "ca.key: required"},
      {R"({"ca": {"cert": 1}})", "ca.cert: expected a string, got number"},
      {R"({"state_dir": null})", "state_dir: required"},
      {R"({"state_dir": ""})", "state_dir: must not be empty"},
      {R"({"admins": null})", "admins: required"},
      {R"({"admins": "admin"})", "admins: expected a list, got string"},
      {R"({"admins": []})", "admins: must name at least one admin"},
      {R"({"admins": ["admin", 7]})", "admins[1]: expected a string, got number"},
      {R"({"admins": ["bad name"]})", "admins[0]: \"bad name\" is not a gateway name"},
      {R"({"admins": ["a", "b", "a"]})", "admins[2]: \"a\" is also admins[0]"},
      {R"({"enrollment": []})", "enrollment: expected an object, got list"},
      {R"({"enrollment": {"ttl": "1h"}})", "enrollment: unknown key \"ttl\""},
      {R"({"enrollment": {"token_ttl": 3600}})", "enrollment.token_ttl: expected a duration string such as \"1h\""},
      {R"({"enrollment": {"token_ttl": "1 h"}})", "enrollment.token_ttl: \"1 h\" is not a duration"},
      {R"({"enrollment": {"token_ttl": "59s"}})", "enrollment.token_ttl: \"59s\" is out of range (1m-30d)"},
      {R"({"enrollment": {"token_ttl": "31d"}})", "enrollment.token_ttl: \"31d\" is out of range (1m-30d)"},
      {R"({"enrollment": {"token_ttl": "d"}})", "enrollment.token_ttl: \"d\" is not a duration"},
      {R"({"enrollment": {"token_ttl": "-1d"}})", "enrollment.token_ttl: \"-1d\" is not a duration"},
      {R"({"enrollment": {"certificate_validity": "0d"}})",
       "enrollment.certificate_validity: \"0d\" is out of range (1d-3650d)"},
      {R"({"enrollment": {"certificate_validity": "3651d"}})",
       "enrollment.certificate_validity: \"3651d\" is out of range (1d-3650d)"},
      {R"({"enrollment": {"certificate_validity": "36h"}})",
       "enrollment.certificate_validity: \"36h\" is not a whole number of days"},
      {R"({"enrollment": {"certificate_validity": "99999999999999999999d"}})",
       "enrollment.certificate_validity: \"99999999999999999999d\" is not a duration"},
      {R"({"gateway_poll": "999ms"})", "gateway_poll: \"999ms\" is out of range (1s-120s)"},
      {R"({"gateway_poll": "121s"})", "gateway_poll: \"121s\" is out of range (1s-120s)"},
      {R"({"gateway_poll": true})", "gateway_poll: expected a duration string such as \"1h\", got boolean"},
      {R"({"log": {"level": "loud"}})", "log.level: \"loud\" is not a log level"},
      {R"({"log": {"json": "yes"}})", "log.json: expected a boolean (true or false), got string"},
      {R"({"log": {"file": "x"}})", "log: unknown key \"file\""},
      {R"({"state_dri": "/x"})", "unknown key \"state_dri\" (did you mean \"state_dir\"?)"},
      {R"({"etcd": {"endpoints": ["127.0.0.1:2379"]}})", "etcd: state_dir is set too: the state lives in one place"},
      {R"({"state_dir": null, "etcd": []})", "etcd: expected an object, got list"},
      {R"({"state_dir": null, "etcd": {}})", "etcd.endpoints: required"},
      {R"({"state_dir": null, "etcd": {"endpoints": []}})", "etcd.endpoints: must name at least one etcd member"},
      {R"({"state_dir": null, "etcd": {"endpoints": "127.0.0.1:2379"}})",
       "etcd.endpoints: expected a list, got string"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["10.1.2.3:2379"]}})",
       "etcd.endpoints[0]: \"10.1.2.3:2379\" is not a loopback address: etcd is reached over plain HTTP"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379", "etcd.local:2379"]}})",
       "etcd.endpoints[1]: \"etcd.local:2379\": the host must be an IP address here"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:0"]}})", "etcd.endpoints[0]: \"127.0.0.1:0\""},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379"], "prefix": "braid"}})",
       "etcd.prefix: \"braid\" is not key segments"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379"], "prefix": "Braid/"}})",
       "etcd.prefix: \"Braid/\" is not key segments"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379"], "timeout": "50ms"}})",
       "etcd.timeout: \"50ms\" is out of range (100ms-60s)"},
      {R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379"], "members": 3}})",
       "etcd: unknown key \"members\""},
  };
  for (const Case& c : cases) {
    const std::vector<std::string> lines = ErrorLines(Patched(c.patch));
    ASSERT_EQ(lines.size(), 1u) << c.patch << " gave:\n" << ::testing::PrintToString(lines);
    EXPECT_THAT(lines[0], StartsWith(std::string("controller.json: ") + c.error)) << c.patch;
  }
}

TEST(ControllerConfigTest, EtcdInsteadOfAStateDirectory) {
  absl::StatusOr<ControllerConfig> config = Parse(Patched(R"({
    "state_dir": null,
    "etcd": {"endpoints": ["127.0.0.1:2379", "[::1]:2381"], "prefix": "braid/site-a/", "timeout": "750ms"}
  })"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state_dir, "");
  ASSERT_TRUE(config->etcd.has_value());
  ASSERT_EQ(config->etcd->endpoints.size(), 2u);
  EXPECT_EQ(config->etcd->endpoints[0].ToString(), "127.0.0.1:2379");
  EXPECT_EQ(config->etcd->endpoints[1].host, "::1");
  EXPECT_EQ(config->etcd->endpoints[1].port, 2381);
  EXPECT_EQ(config->etcd->prefix, "braid/site-a/");
  EXPECT_EQ(config->etcd->timeout, 750ms);

  absl::StatusOr<ControllerConfig> defaults =
      Parse(Patched(R"({"state_dir": null, "etcd": {"endpoints": ["127.0.0.1:2379"]}})"));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->etcd->prefix, "braid/");
  EXPECT_EQ(defaults->etcd->timeout, 5s);
  EXPECT_FALSE(Parse(kExample)->etcd.has_value());
}

TEST(ControllerConfigTest, NotAnObjectOrNotJson) {
  EXPECT_THAT(ErrorLines("[]"), ElementsAre(HasSubstr("expected a JSON object at the top level, got list")));
  EXPECT_THAT(ErrorLines("{"), ElementsAre(HasSubstr("invalid JSON")));
}

TEST(ControllerConfigTest, DuplicateKeysAreRejected) {
  std::string text = kExample;
  text.insert(text.rfind('}'), R"(, "listen": "127.0.0.1:1")");
  EXPECT_THAT(ErrorLines(text), ElementsAre("controller.json: duplicate key \"listen\""));
  EXPECT_THAT(ErrorLines(Patched(R"({"identity": null})").insert(1, R"("identity": {"cert": "a", "cert": "b", "key": "k"},)")),
              ElementsAre("controller.json: identity: duplicate key \"cert\""));
}

TEST(ControllerConfigTest, EveryErrorIsReportedAtOnce) {
  EXPECT_THAT(ErrorLines(R"({"listen": "x", "ca": {}, "admins": [], "bogus": 1, "gateway_poll": "0s"})"),
              UnorderedElementsAre(HasSubstr("unknown key \"bogus\""), HasSubstr("listen: \"x\" is not IP:port"),
                                   HasSubstr("identity: required"), HasSubstr("ca.cert: required"),
                                   HasSubstr("ca.key: required"), HasSubstr("state_dir: required"),
                                   HasSubstr("admins: must name at least one admin"),
                                   HasSubstr("gateway_poll: \"0s\" is out of range")));
}

TEST(ControllerConfigTest, LoadResolvesAgainstTheFilesDirectory) {
  braid::testing::TempDir tmp;
  const std::string path = tmp.File("controller.json");
  std::ofstream(path) << Patched(R"({"state_dir": "state"})");
  absl::StatusOr<ControllerConfig> config = LoadControllerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, std::filesystem::path(path).lexically_normal().string());
  EXPECT_EQ(config->state_dir, tmp.File("state"));
  EXPECT_EQ(config->identity_cert, tmp.File("pki/controller.crt"));

  std::ofstream(path) << R"({"listen": 1})";
  config = LoadControllerConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), StartsWith(path + ": listen: expected a string"));

  config = LoadControllerConfig(tmp.File("missing.json"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), StartsWith(tmp.File("missing.json") + ": cannot read"));
  EXPECT_EQ(LoadControllerConfig(tmp.path()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::controller
