// Tests of the matching semantics of the Security Filter Table, through the
// compiled table (sft::Compile), the reference table (sft::MakeLinearTable)
// and MatchesLinear/RuleMatches: IPv4, IPv6 and their separation, port lists
// and ranges, protocols, gateways, first-match precedence and the default.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "braid/flow_key.h"
#include "braid/policy.h"
#include "braid/rule_table.h"
#include "gtest/gtest.h"
#include "sft/compile.h"

namespace braid {
namespace {

// F describes a flow in text; the defaults match no rule in particular.
struct F {
  std::string src = "192.0.2.1";
  int sport = 40000;
  std::string dst = "198.51.100.1";
  int dport = 443;
  Protocol proto = Protocol::kTcp;
  std::string sgw = "";
  std::string dgw = "";
};

FlowKey ToFlow(const F& f) {
  FlowKey k;
  std::optional<IpAddress> src = IpAddress::Parse(f.src);
  std::optional<IpAddress> dst = IpAddress::Parse(f.dst);
  EXPECT_TRUE(src && dst) << f.src << " " << f.dst;
  k.src = src.value_or(IpAddress());
  k.dst = dst.value_or(IpAddress());
  k.src_port = static_cast<uint16_t>(f.sport);
  k.dst_port = static_cast<uint16_t>(f.dport);
  k.proto = f.proto;
  k.src_gateway = f.sgw;
  k.dst_gateway = f.dgw;
  return k;
}

std::string Describe(const F& f) {
  return f.src + ":" + std::to_string(f.sport) + " -> " + f.dst + ":" + std::to_string(f.dport) +
         (f.proto == Protocol::kTcp ? " tcp" : " udp") + " gw[" + f.sgw + " -> " + f.dgw + "]";
}

// A flow and the index of the rule that must decide it (-1: the default).
struct Expect {
  F flow;
  int rule;
};

struct MatchCase {
  const char* name;
  std::string policy;  // JSON
  std::vector<Expect> expects;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name; }

class MatchingTest : public ::testing::TestWithParam<MatchCase> {};

TEST_P(MatchingTest, CompiledLinearAndReferenceAgreeWithExpectation) {
  const MatchCase& c = GetParam();
  absl::StatusOr<Policy> policy = ParsePolicy(c.policy, c.name);
  ASSERT_TRUE(policy.ok()) << policy.status();
  absl::StatusOr<std::shared_ptr<const RuleTable>> compiled = sft::Compile(*policy);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_NE(*compiled, nullptr);
  std::shared_ptr<const RuleTable> linear = sft::MakeLinearTable(*policy);
  ASSERT_NE(linear, nullptr);
  EXPECT_EQ((*compiled)->policy().rules.size(), policy->rules.size());

  for (const Expect& e : c.expects) {
    SCOPED_TRACE(Describe(e.flow));
    FlowKey flow = ToFlow(e.flow);
    Decision want;
    want.rule = e.rule;
    want.action = e.rule >= 0 ? policy->rules[e.rule].action : policy->default_action;

    EXPECT_EQ(MatchesLinear(*policy, flow), e.rule);
    for (int i = 0; i < static_cast<int>(policy->rules.size()) && (e.rule < 0 || i <= e.rule); ++i) {
      EXPECT_EQ(RuleMatches(policy->rules[i], flow), i == e.rule) << "rule " << i;
    }

    Decision got = (*compiled)->Lookup(flow);
    EXPECT_EQ(got.rule, want.rule) << "compiled";
    EXPECT_EQ(got.action, want.action) << "compiled";
    EXPECT_EQ(got.is_default(), e.rule < 0);
    EXPECT_EQ((*compiled)->RuleId(got), e.rule >= 0 ? policy->rules[e.rule].id : "");

    Decision lin = linear->Lookup(flow);
    EXPECT_EQ(lin, want) << "linear table";
    EXPECT_EQ(linear->RuleId(lin), e.rule >= 0 ? policy->rules[e.rule].id : "");
  }
}

std::string Rules(const std::string& rules, const std::string& default_action = "") {
  return R"({"name": "t", )" + (default_action.empty() ? "" : R"("default": ")" + default_action + R"(", )") +
         R"("rules": [)" + rules + "]}";
}

std::vector<MatchCase> Cases() {
  return {
      {"Ipv4Src",
       Rules(R"({"id": "a", "action": "permit", "src": ["10.0.0.0/8"]})"),
       {
           {{.src = "10.0.0.0"}, 0},
           {{.src = "10.1.2.3"}, 0},
           {{.src = "10.255.255.255"}, 0},
           {{.src = "9.255.255.255"}, -1},
           {{.src = "11.0.0.0"}, -1},
           {{.src = "10.0.0.1", .dst = "10.0.0.1"}, 0},
       }},
      {"Ipv4DstHostRoute",
       Rules(R"({"id": "a", "action": "permit", "dst": ["10.2.0.9"]})"),
       {
           {{.dst = "10.2.0.9"}, 0},
           {{.dst = "10.2.0.8"}, -1},
           {{.dst = "10.2.0.10"}, -1},
           {{.src = "10.2.0.9"}, -1},
       }},
      {"Ipv4SrcAndDst",
       Rules(R"({"id": "a", "action": "permit", "src": ["10.1.0.0/16"], "dst": ["10.2.0.0/16"]})"),
       {
           {{.src = "10.1.5.5", .dst = "10.2.5.5"}, 0},
           {{.src = "10.1.5.5", .dst = "10.3.5.5"}, -1},
           {{.src = "10.3.5.5", .dst = "10.2.5.5"}, -1},
           {{.src = "10.2.5.5", .dst = "10.1.5.5"}, -1},
       }},
      {"Ipv4CidrList",
       Rules(R"({"id": "a", "action": "permit", "src": ["10.0.0.0/24", "192.168.0.0/16", "172.16.0.1"]})"),
       {
           {{.src = "10.0.0.77"}, 0},
           {{.src = "10.0.1.0"}, -1},
           {{.src = "192.168.255.255"}, 0},
           {{.src = "192.169.0.0"}, -1},
           {{.src = "172.16.0.1"}, 0},
           {{.src = "172.16.0.2"}, -1},
       }},
      {"Ipv4HostBitsIgnored",
       Rules(R"({"id": "a", "action": "permit", "src": ["10.0.0.5/24"]})"),
       {
           {{.src = "10.0.0.0"}, 0},
           {{.src = "10.0.0.200"}, 0},
           {{.src = "10.0.1.5"}, -1},
       }},
      {"Ipv4Slash0And31",
       Rules(R"({"id": "all4", "action": "deny", "src": ["10.0.0.4/31"]},
                {"id": "any4", "action": "permit", "dst": ["0.0.0.0/0"]})"),
       {
           {{.src = "10.0.0.4"}, 0},
           {{.src = "10.0.0.5"}, 0},
           {{.src = "10.0.0.6"}, 1},
           {{.src = "10.0.0.3"}, 1},
           {{.dst = "0.0.0.0"}, 1},
           {{.dst = "255.255.255.255"}, 1},
           {{.src = "2001:db8::1", .dst = "2001:db8::2"}, -1},
       }},
      {"Ipv6",
       Rules(R"({"id": "net", "action": "permit", "src": ["2001:db8::/32"]},
                {"id": "half", "action": "deny", "dst": ["2001:db8:1:2::/64"]},
                {"id": "host", "action": "permit", "dst": ["2001:db8::5"]},
                {"id": "odd", "action": "deny", "dst": ["fd00::8000:0:0:0/65"]})"),
       {
           {{.src = "2001:db8::", .dst = "::1"}, 0},
           {{.src = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", .dst = "::1"}, 0},
           {{.src = "2001:db9::", .dst = "::1"}, -1},
           {{.src = "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", .dst = "::1"}, -1},
           {{.src = "::1", .dst = "2001:db8:1:2::"}, 1},
           {{.src = "::1", .dst = "2001:db8:1:2:ffff:ffff:ffff:ffff"}, 1},
           {{.src = "::1", .dst = "2001:db8:1:3::"}, -1},
           {{.src = "::1", .dst = "2001:db8:1:1:ffff:ffff:ffff:ffff"}, -1},
           {{.src = "::1", .dst = "2001:db8::5"}, 2},
           {{.src = "::1", .dst = "2001:db8::4"}, -1},
           {{.src = "::1", .dst = "2001:db8::6"}, -1},
           {{.src = "::1", .dst = "fd00::8000:0:0:0"}, 3},
           {{.src = "::1", .dst = "fd00::ffff:ffff:ffff:ffff"}, 3},
           {{.src = "::1", .dst = "fd00::7fff:ffff:ffff:ffff"}, -1},
       }},
      {"FamiliesNeverMix",
       Rules(R"({"id": "v6any", "action": "permit", "src": ["::/0"]},
                {"id": "v4any", "action": "deny", "dst": ["0.0.0.0/0"]})",
             "permit"),
       {
           {{.src = "10.0.0.1", .dst = "10.0.0.2"}, 1},
           {{.src = "::1", .dst = "::2"}, 0},
           {{.src = "::ffff:10.0.0.1", .dst = "::ffff:10.0.0.2"}, 0},
       }},
      {"MappedIpv4IsIpv6",
       Rules(R"({"id": "v4", "action": "permit", "src": ["10.0.0.0/8"]},
                {"id": "mapped", "action": "deny", "src": ["::ffff:0:0/96"]},
                {"id": "compat", "action": "deny", "src": ["::a00:1"]})"),
       {
           {{.src = "10.0.0.1", .dst = "10.0.0.2"}, 0},
           {{.src = "::ffff:10.0.0.1", .dst = "::1"}, 1},
           {{.src = "::a00:1", .dst = "::1"}, 2},
           {{.src = "10.0.0.1", .dst = "::1"}, 0},
           {{.src = "11.0.0.1", .dst = "10.0.0.2"}, -1},
       }},
      {"V4OnlyRuleVsV6Flow",
       Rules(R"({"id": "a", "action": "permit", "src": ["0.0.0.0/0"], "dst": ["0.0.0.0/0"]})", "deny"),
       {
           {{.src = "::", .dst = "::"}, -1},
           {{.src = "0.0.0.0", .dst = "0.0.0.0"}, 0},
       }},
      {"MixedFamilyList",
       Rules(R"({"id": "a", "action": "permit", "src": ["10.0.0.0/8", "2001:db8::/32"], "dst": ["::/0", "0.0.0.0/0"]})"),
       {
           {{.src = "10.9.9.9", .dst = "10.0.0.1"}, 0},
           {{.src = "2001:db8::9", .dst = "2001:db8::1"}, 0},
           {{.src = "11.9.9.9", .dst = "10.0.0.1"}, -1},
           {{.src = "2001:db9::9", .dst = "2001:db8::1"}, -1},
       }},
      {"PortListAndRanges",
       Rules(R"({"id": "a", "action": "permit", "dst_ports": [80, "8000-8080", "443-443"]})"),
       {
           {{.dport = 80}, 0},
           {{.dport = 79}, -1},
           {{.dport = 81}, -1},
           {{.dport = 8000}, 0},
           {{.dport = 8040}, 0},
           {{.dport = 8080}, 0},
           {{.dport = 7999}, -1},
           {{.dport = 8081}, -1},
           {{.dport = 443}, 0},
           {{.dport = 0}, -1},
           {{.dport = 65535}, -1},
           {{.sport = 80, .dport = 81}, -1},
       }},
      {"SrcPortsAndExtremes",
       Rules(R"({"id": "eph", "action": "permit", "src_ports": ["1024-65535"], "dst_ports": [0]},
                {"id": "top", "action": "deny", "dst_ports": [65535]},
                {"id": "overlap1", "action": "deny", "dst_ports": ["100-200"]},
                {"id": "overlap2", "action": "permit", "dst_ports": ["150-250"]})"),
       {
           {{.sport = 1024, .dport = 0}, 0},
           {{.sport = 65535, .dport = 0}, 0},
           {{.sport = 1023, .dport = 0}, -1},
           {{.sport = 0, .dport = 0}, -1},
           {{.sport = 5000, .dport = 1}, -1},
           {{.dport = 65535}, 1},
           {{.dport = 65534}, -1},
           {{.dport = 150}, 2},
           {{.dport = 200}, 2},
           {{.dport = 201}, 3},
           {{.dport = 250}, 3},
           {{.dport = 251}, -1},
           {{.dport = 99}, -1},
       }},
      {"Protocols",
       Rules(R"({"id": "t", "action": "permit", "proto": "tcp", "dst_ports": [1]},
                {"id": "u", "action": "permit", "proto": "udp", "dst_ports": [2]},
                {"id": "a", "action": "permit", "proto": "any", "dst_ports": [3]},
                {"id": "n", "action": "permit", "dst_ports": [4]})"),
       {
           {{.dport = 1, .proto = Protocol::kTcp}, 0},
           {{.dport = 1, .proto = Protocol::kUdp}, -1},
           {{.dport = 2, .proto = Protocol::kTcp}, -1},
           {{.dport = 2, .proto = Protocol::kUdp}, 1},
           {{.dport = 3, .proto = Protocol::kTcp}, 2},
           {{.dport = 3, .proto = Protocol::kUdp}, 2},
           {{.dport = 4, .proto = Protocol::kTcp}, 3},
           {{.dport = 4, .proto = Protocol::kUdp}, 3},
       }},
      {"Gateways",
       Rules(R"({"id": "src-gw", "action": "permit", "src_gateway": ["gw-a", "gw-b"], "dst_ports": [1]},
                {"id": "dst-gw", "action": "permit", "dst_gateway": ["gw-c"], "dst_ports": [2]},
                {"id": "both", "action": "permit", "src_gateway": ["gw-a"], "dst_gateway": ["gw-c"], "dst_ports": [3]},
                {"id": "none", "action": "deny", "dst_ports": [4]})"),
       {
           {{.dport = 1, .sgw = "gw-a"}, 0},
           {{.dport = 1, .sgw = "gw-b"}, 0},
           {{.dport = 1, .sgw = "gw-c"}, -1},
           {{.dport = 1, .sgw = ""}, -1},
           {{.dport = 1, .sgw = "GW-A"}, -1},
           {{.dport = 1, .sgw = "gw-a-extra"}, -1},
           {{.dport = 1, .sgw = "gw"}, -1},
           {{.dport = 1, .dgw = "gw-a"}, -1},
           {{.dport = 2, .dgw = "gw-c"}, 1},
           {{.dport = 2, .dgw = ""}, -1},
           {{.dport = 2, .sgw = "gw-c"}, -1},
           {{.dport = 3, .sgw = "gw-a", .dgw = "gw-c"}, 2},
           {{.dport = 3, .sgw = "gw-b", .dgw = "gw-c"}, -1},
           {{.dport = 3, .sgw = "gw-a", .dgw = ""}, -1},
           {{.dport = 3, .sgw = "", .dgw = "gw-c"}, -1},
           {{.dport = 4, .sgw = "", .dgw = ""}, 3},
           {{.dport = 4, .sgw = "anything", .dgw = "else"}, 3},
       }},
      {"FirstMatchWins",
       Rules(R"({"id": "no-ssh", "action": "deny", "dst_ports": [22]},
                {"id": "ssh-admin", "action": "permit", "src": ["10.0.0.1"], "dst_ports": [22]},
                {"id": "net", "action": "permit", "src": ["10.0.0.0/8"]},
                {"id": "net-again", "action": "deny", "src": ["10.0.0.0/8"]})"),
       {
           {{.src = "10.0.0.1", .dport = 22}, 0},
           {{.src = "10.0.0.1", .dport = 23}, 2},
           {{.src = "11.0.0.1", .dport = 22}, 0},
           {{.src = "11.0.0.1", .dport = 23}, -1},
       }},
      {"NarrowBeforeBroad",
       Rules(R"({"id": "ssh-admin", "action": "permit", "src": ["10.0.0.1"], "dst_ports": [22]},
                {"id": "no-ssh", "action": "deny", "dst_ports": [22]},
                {"id": "rest", "action": "permit"})"),
       {
           {{.src = "10.0.0.1", .dport = 22}, 0},
           {{.src = "10.0.0.2", .dport = 22}, 1},
           {{.src = "10.0.0.2", .dport = 23}, 2},
           {{.src = "::1", .dst = "::2", .dport = 1}, 2},
       }},
      {"DefaultPermit",
       Rules(R"({"id": "no-ssh", "action": "deny", "dst_ports": [22]})", "permit"),
       {
           {{.dport = 22}, 0},
           {{.dport = 23}, -1},
       }},
      {"DefaultDenyExplicit",
       Rules(R"({"id": "web", "action": "permit", "dst_ports": [443]})", "deny"),
       {
           {{.dport = 443}, 0},
           {{.dport = 80}, -1},
       }},
      {"DbReplicationSample",
       R"({
  "name": "db-replication",
  "default": "deny",
  "rules": [
    {"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
    {"id": "a-to-b-pg", "action": "permit", "proto": "tcp",
     "src": ["10.1.0.5/32"], "dst": ["10.2.0.9"], "dst_ports": [5432],
     "src_gateway": ["gw-onprem"], "dst_gateway": ["gw-cloud"]}
  ]
})",
       {
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 5432, .sgw = "gw-onprem", .dgw = "gw-cloud"}, 1},
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 5432, .proto = Protocol::kUdp,
             .sgw = "gw-onprem", .dgw = "gw-cloud"},
            -1},
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 5432, .sgw = "gw-cloud", .dgw = "gw-onprem"}, -1},
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 5432}, -1},
           {{.src = "10.1.0.6", .dst = "10.2.0.9", .dport = 5432, .sgw = "gw-onprem", .dgw = "gw-cloud"}, -1},
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 22, .sgw = "gw-onprem", .dgw = "gw-cloud"}, 0},
           {{.src = "10.1.0.5", .dst = "10.2.0.9", .dport = 22, .proto = Protocol::kUdp}, -1},
       }},
  };
}

INSTANTIATE_TEST_SUITE_P(Semantics, MatchingTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<MatchCase>& param_info) { return param_info.param.name; });

// Decision's own contract, and the action/rule pairing for both defaults.
TEST(DecisionTest, DefaultDecision) {
  Decision d;
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_EQ(d.rule, Decision::kDefault);
  EXPECT_TRUE(d.is_default());
}

TEST(DecisionTest, DefaultActionOfThePolicyIsReported) {
  for (Action def : {Action::kDeny, Action::kPermit}) {
    Policy p;
    p.name = "p";
    p.default_action = def;
    Rule r;
    r.id = "only";
    r.action = def == Action::kDeny ? Action::kPermit : Action::kDeny;
    r.dst_ports = std::vector<PortRange>{{7, 7}};
    p.rules.push_back(r);
    absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(p);
    ASSERT_TRUE(t.ok()) << t.status();
    FlowKey f = ToFlow({.dport = 8});
    EXPECT_EQ((*t)->Lookup(f), (Decision{def, Decision::kDefault}));
    EXPECT_EQ((*t)->RuleId((*t)->Lookup(f)), "");
    f.dst_port = 7;
    EXPECT_EQ((*t)->Lookup(f), (Decision{r.action, 0}));
    EXPECT_EQ((*t)->RuleId((*t)->Lookup(f)), "only");
    EXPECT_EQ((*t)->policy().name, "p");
    EXPECT_EQ((*t)->policy().default_action, def);
  }
}

// Without a "default" the policy denies what no rule matches.
TEST(DecisionTest, AbsentDefaultDenies) {
  absl::StatusOr<Policy> p =
      ParsePolicy(R"({"rules": [{"id": "web", "action": "permit", "dst_ports": [443]}]})", "t");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(*p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->Lookup(ToFlow({.dport = 80})), (Decision{Action::kDeny, Decision::kDefault}));
  EXPECT_EQ((*t)->Lookup(ToFlow({.dport = 443})), (Decision{Action::kPermit, 0}));
  EXPECT_EQ(sft::MakeLinearTable(*p)->Lookup(ToFlow({.dport = 80})), (Decision{Action::kDeny, Decision::kDefault}));
}

// A rule with every field absent matches every flow, of either family.
TEST(DecisionTest, EmptyRuleMatchesEverything) {
  absl::StatusOr<Policy> p = ParsePolicy(R"({"rules": [{"id": "all", "action": "permit"}]})", "t");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(*p);
  ASSERT_TRUE(t.ok()) << t.status();
  for (const F& f : {F{}, F{.src = "::", .sport = 0, .dst = "::", .dport = 0, .proto = Protocol::kUdp},
                     F{.src = "255.255.255.255", .sport = 65535, .dport = 65535, .sgw = "x", .dgw = "y"}}) {
    EXPECT_EQ((*t)->Lookup(ToFlow(f)), (Decision{Action::kPermit, 0})) << Describe(f);
    EXPECT_EQ(MatchesLinear(*p, ToFlow(f)), 0);
  }
}

// LoadAndCompile reads a file and compiles it in one step.
TEST(DecisionTest, LoadAndCompile) {
  std::string dir = (std::filesystem::temp_directory_path() / "braid_match_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/p.json";
  std::ofstream(path) << R"({"name": "file", "default": "permit", "rules": [{"id": "no-ssh", "action": "deny", "dst_ports": [22]}]})";
  absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::LoadAndCompile(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->policy().name, "file");
  EXPECT_EQ((*t)->Lookup(ToFlow({.dport = 22})), (Decision{Action::kDeny, 0}));
  EXPECT_EQ((*t)->Lookup(ToFlow({.dport = 23})), (Decision{Action::kPermit, Decision::kDefault}));

  std::ofstream(path) << R"({"rules": [{"id": "x", "action": "allow"}]})";
  absl::StatusOr<std::shared_ptr<const RuleTable>> bad = sft::LoadAndCompile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find(path + R"(: rule #1 (id "x"): action: "allow")"), std::string::npos)
      << bad.status();
  EXPECT_FALSE(sft::LoadAndCompile(dir + "/missing.json").ok());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace braid

namespace braid {
namespace {

// A target known only by name: rules are evaluated as if every dst field
// matched, so a deny on the other fields still refuses early.
TEST(MatchesLinearAnyDstTest, IgnoresOnlyTheDestination) {
  absl::StatusOr<Policy> policy = ParsePolicy(R"({"rules": [
    {"id": "no-ssh", "action": "deny", "dst_ports": [22]},
    {"id": "from-a", "action": "permit", "src": ["10.1.0.5"], "dst": ["10.2.0.9"]}
  ]})", "t.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  FlowKey flow;
  flow.src = *IpAddress::Parse("10.1.0.5");
  flow.dst = *IpAddress::Parse("192.0.2.1");  // not 10.2.0.9: ignored here
  flow.dst_port = 5432;
  EXPECT_EQ(MatchesLinear(*policy, flow), -1);
  EXPECT_EQ(MatchesLinearAnyDst(*policy, flow), 1);
  flow.dst_port = 22;
  EXPECT_EQ(MatchesLinearAnyDst(*policy, flow), 0);
  flow.dst_port = 5432;
  flow.src = *IpAddress::Parse("10.1.0.6");
  EXPECT_EQ(MatchesLinearAnyDst(*policy, flow), -1);
}

}  // namespace
}  // namespace braid
