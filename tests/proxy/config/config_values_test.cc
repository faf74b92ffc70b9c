// Tests of the config's value syntax (proxy/config/duration.cc,
// endpoint.cc): durations and "host:port" endpoints, as
// docs/configuration.md ("Values") describes them.
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxy/config/gateway_config.h"

namespace braid::proxy {
namespace {

using namespace std::chrono_literals;

// ParseDuration.

TEST(ParseDurationTest, Valid) {
  struct Case {
    const char* text;
    Duration want;
  };
  for (const Case& c : std::vector<Case>{{"60s", 60s},
                                         {"500ms", 500ms},
                                         {"2m", 2min},
                                         {"1h", 1h},
                                         {"0s", 0ms},
                                         {"0ms", 0ms},
                                         {"007s", 7s},
                                         {"86400s", 24h},
                                         {"9223372036854775807ms", Duration(INT64_MAX)},
                                         {"2562047788015h", Duration(int64_t{2562047788015} * 3'600'000)}}) {
    std::optional<Duration> got = ParseDuration(c.text);
    ASSERT_TRUE(got.has_value()) << c.text;
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseDurationTest, Invalid) {
  for (const char* text : {"", "s", "ms", "60", "1.5s", "-1s", "+1s", " 1s", "1s ", "1 s", "1S", "1MS", "1d", "1us",
                           "1m30s", "s1", "0x10s", "9223372036854775808ms", "2562047788016h",
                           "99999999999999999999999s", "１s"}) {
    EXPECT_EQ(ParseDuration(text), std::nullopt) << text;
  }
}

// ParseEndpoint.

struct EndpointCase {
  const char* text;
  bool allow_name;
  std::optional<Endpoint> want;
};

TEST(ParseEndpointTest, Table) {
  const std::vector<EndpointCase> cases = {
      {"127.0.0.1:80", false, Endpoint{"127.0.0.1", 80}},
      {"0.0.0.0:0", false, Endpoint{"0.0.0.0", 0}},
      {"10.0.0.1:65535", false, Endpoint{"10.0.0.1", 65535}},
      {"[::1]:443", false, Endpoint{"::1", 443}},
      {"[2001:db8::7]:4433", false, Endpoint{"2001:db8::7", 4433}},
      {"[::ffff:10.0.0.1]:80", false, Endpoint{"::ffff:10.0.0.1", 80}},
      {"db:5432", true, Endpoint{"db", 5432}},
      {"db:5432", false, std::nullopt},
      {"db.internal.example:5432", true, Endpoint{"db.internal.example", 5432}},
      {"db_1.example:5432", true, Endpoint{"db_1.example", 5432}},
      {"[::1]:443", true, Endpoint{"::1", 443}},
      {"127.0.0.1:80", true, Endpoint{"127.0.0.1", 80}},
      // IPv6 needs brackets, and brackets are for IPv6 only.
      {"::1:443", true, std::nullopt},
      {"[10.0.0.1]:80", true, std::nullopt},
      {"[db]:80", true, std::nullopt},
      {"[::1]443", true, std::nullopt},
      {"[::1]", true, std::nullopt},
      {"[::1]:", true, std::nullopt},
      {"[::1:80", true, std::nullopt},
      {"[fe80::1%eth0]:80", true, std::nullopt},
      // Ports.
      {"127.0.0.1", true, std::nullopt},
      {"127.0.0.1:", true, std::nullopt},
      {"127.0.0.1:65536", true, std::nullopt},
      {"127.0.0.1:-1", true, std::nullopt},
      {"127.0.0.1:+80", true, std::nullopt},
      {"127.0.0.1:080", true, std::nullopt},
      {"127.0.0.1: 80", true, std::nullopt},
      {"127.0.0.1:http", true, std::nullopt},
      {"127.0.0.1:123456", true, std::nullopt},
      // Hosts.
      {":80", true, std::nullopt},
      {"", true, std::nullopt},
      {"10.0.0.256:80", true, std::nullopt},  // not a name: the last label is all digits
      {"1.2.3:80", true, std::nullopt},
      {"10:80", true, std::nullopt},
      {"-db:80", true, std::nullopt},
      {"db-:80", true, std::nullopt},
      {"db.:80", true, std::nullopt},
      {"db..example:80", true, std::nullopt},
      {"d b:80", true, std::nullopt},
      {"db/x:80", true, std::nullopt},
      {" db:80", true, std::nullopt},
  };
  for (const EndpointCase& c : cases) {
    EXPECT_EQ(ParseEndpoint(c.text, c.allow_name), c.want) << c.text << " allow_name=" << c.allow_name;
  }
  const std::string long_label(64, 'a');
  EXPECT_EQ(ParseEndpoint(long_label + ":80", true), std::nullopt);
  EXPECT_EQ(ParseEndpoint(long_label.substr(1) + ":80", true), (Endpoint{long_label.substr(1), 80}));
}

TEST(EndpointTest, ToString) {
  EXPECT_EQ((Endpoint{"127.0.0.1", 80}).ToString(), "127.0.0.1:80");
  EXPECT_EQ((Endpoint{"::1", 443}).ToString(), "[::1]:443");
  EXPECT_EQ((Endpoint{"db.internal", 5432}).ToString(), "db.internal:5432");
  for (const char* text : {"127.0.0.1:80", "[2001:db8::7]:4433", "db:1"}) {
    EXPECT_EQ(ParseEndpoint(text, true)->ToString(), text);
  }
}

}  // namespace
}  // namespace braid::proxy
