// Tests of sft::Lint: shadowed rules (an earlier rule with the other action
// covers them), redundant rules (same action), duplicates (same match
// fields), CIDRs with host bits; lists as unions within one rule, coverage
// judged against one earlier rule at a time, and no warnings on clean
// policies. (sft/lint.h has no "never matches" kind, e.g. for a rule with
// only IPv4 sources and only IPv6 destinations, so that is not tested.)
#include "sft/lint.h"

#include <ostream>
#include <string>
#include <vector>

#include "braid/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::sft {
namespace {

using Kind = LintWarning::Kind;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// W is the part of a warning the tables compare.
struct W {
  Kind kind;
  int rule;
  int other_rule;
  friend bool operator==(const W&, const W&) = default;
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kShadowed: return "shadowed";
    case Kind::kRedundant: return "redundant";
    case Kind::kDuplicate: return "duplicate";
    case Kind::kHostBits: return "host-bits";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const W& w) {
  return os << "{" << KindName(w.kind) << ", rule " << w.rule << ", other " << w.other_rule << "}";
}

Policy MustParse(const std::string& rules) {
  absl::StatusOr<Policy> p = ParsePolicy(R"({"name": "lint", "rules": [)" + rules + "]}", "lint.json");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Policy();
}

std::vector<W> Project(const std::vector<LintWarning>& warnings) {
  std::vector<W> out;
  for (const LintWarning& w : warnings) out.push_back({w.kind, w.rule, w.other_rule});
  return out;
}

std::string Messages(const std::vector<LintWarning>& warnings) {
  std::string out;
  for (const LintWarning& w : warnings) out += "  " + w.message + "\n";
  return out;
}

struct LintCase {
  const char* name;
  std::string rules;
  std::vector<W> want;  // exactly these warnings, in this order
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const LintCase& c, std::ostream* os) { *os << c.name; }

class LintExactTest : public ::testing::TestWithParam<LintCase> {};

TEST_P(LintExactTest, Warnings) {
  const LintCase& c = GetParam();
  std::vector<LintWarning> got = Lint(MustParse(c.rules));
  EXPECT_EQ(Project(got), c.want) << Messages(got);
}

std::vector<LintCase> ExactCases() {
  return {
      // Shadowed and redundant.
      {"Shadowed",
       R"({"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
          {"id": "admin-ssh", "action": "permit", "proto": "tcp", "src": ["10.0.0.1"], "dst_ports": [22]})",
       {{Kind::kShadowed, 1, 0}}},
      {"Redundant",
       R"({"id": "net", "action": "permit", "src": ["10.0.0.0/8"]},
          {"id": "subnet-web", "action": "permit", "src": ["10.1.0.0/16"], "dst_ports": [80]})",
       {{Kind::kRedundant, 1, 0}}},
      {"CatchAllShadowsEverythingAfter",
       R"({"id": "all", "action": "permit"},
          {"id": "a", "action": "deny", "dst_ports": [22]},
          {"id": "b", "action": "permit", "src": ["2001:db8::/32"]})",
       {{Kind::kShadowed, 1, 0}, {Kind::kRedundant, 2, 0}}},
      {"AnyProtoCoversUdp",
       R"({"id": "a", "action": "deny", "dst_ports": ["0-1023"]},
          {"id": "b", "action": "permit", "proto": "udp", "dst_ports": [53]})",
       {{Kind::kShadowed, 1, 0}}},
      {"SlashZeroCoversSameFamily",
       R"({"id": "a", "action": "deny", "dst": ["0.0.0.0/0"]},
          {"id": "b", "action": "permit", "dst": ["10.0.0.0/8"]})",
       {{Kind::kShadowed, 1, 0}}},
      {"MixedListCoversItsIpv6Part",
       R"({"id": "a", "action": "deny", "src": ["10.0.0.0/8", "2001:db8::/32"]},
          {"id": "b", "action": "deny", "src": ["2001:db8:1::/48"], "dst_ports": [5432]})",
       {{Kind::kRedundant, 1, 0}}},
      {"GatewayListUnion",
       R"({"id": "a", "action": "deny", "src_gateway": ["gw-a", "gw-b"]},
          {"id": "b", "action": "permit", "src_gateway": ["gw-b"], "dst_gateway": ["gw-c"]})",
       {{Kind::kShadowed, 1, 0}}},

      // Lists are unions within one rule.
      {"PortListUnionCovers",
       R"({"id": "a", "action": "deny", "dst_ports": ["1-100", "101-200"]},
          {"id": "b", "action": "permit", "dst_ports": [150]})",
       {{Kind::kShadowed, 1, 0}}},
      {"PortListUnionCoversSpanningRange",
       R"({"id": "a", "action": "deny", "dst_ports": ["1-100", "101-200"]},
          {"id": "b", "action": "deny", "dst_ports": ["50-150", 7]})",
       {{Kind::kRedundant, 1, 0}}},

      // Host bits.
      {"HostBits", R"({"id": "a", "action": "permit", "src": ["10.0.0.5/24"]})", {{Kind::kHostBits, 0, -1}}},
      {"HostBitsIpv6", R"({"id": "a", "action": "permit", "dst": ["2001:db8::1/64"]})", {{Kind::kHostBits, 0, -1}}},
      {"HostBitsEarlierRuleStillCovers",
       R"({"id": "a", "action": "deny", "src": ["10.0.0.5/24"]},
          {"id": "b", "action": "permit", "src": ["10.0.0.7"]})",
       {{Kind::kHostBits, 0, -1}, {Kind::kShadowed, 1, 0}}},

      // Clean policies and near misses: no warnings.
      {"DbReplicationIsClean",
       R"({"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
          {"id": "a-to-b-pg", "action": "permit", "proto": "tcp",
           "src": ["10.1.0.5/32"], "dst": ["10.2.0.9"], "dst_ports": [5432],
           "src_gateway": ["gw-onprem"], "dst_gateway": ["gw-cloud"]})",
       {}},
      {"MixedFamiliesCanMatch",
       R"({"id": "a", "action": "permit", "src": ["10.0.0.0/8", "2001:db8::/32"], "dst": ["2001:db8::1"]})", {}},
      {"NotCoveredByUnionOfSeveralEarlierRules",
       R"({"id": "a", "action": "deny", "dst_ports": ["1-100"]},
          {"id": "b", "action": "deny", "dst_ports": ["101-200"]},
          {"id": "c", "action": "permit", "dst_ports": ["50-150"]})",
       {}},
      {"NarrowerEarlierDoesNotCover",
       R"({"id": "a", "action": "deny", "src": ["10.1.0.0/16"]},
          {"id": "b", "action": "permit", "src": ["10.0.0.0/8"]})",
       {}},
      {"OtherFamilyDoesNotCover",
       R"({"id": "a", "action": "deny", "src": ["::/0"]},
          {"id": "b", "action": "permit", "src": ["10.0.0.0/8"]})",
       {}},
      {"V4SlashZeroDoesNotCoverV6",
       R"({"id": "a", "action": "deny", "dst": ["0.0.0.0/0"]},
          {"id": "b", "action": "permit", "dst": ["::/0"]})",
       {}},
      {"TcpDoesNotCoverAny",
       R"({"id": "a", "action": "deny", "proto": "tcp", "dst_ports": [53]},
          {"id": "b", "action": "permit", "dst_ports": [53]})",
       {}},
      {"TcpDoesNotCoverUdp",
       R"({"id": "a", "action": "deny", "proto": "tcp"},
          {"id": "b", "action": "permit", "proto": "udp"})",
       {}},
      {"GatewayRuleDoesNotCoverRuleWithout",
       R"({"id": "a", "action": "deny", "src_gateway": ["gw-a"]},
          {"id": "b", "action": "permit", "dst_ports": [1]})",
       {}},
      {"PortListNotFullyCovered",
       R"({"id": "a", "action": "deny", "dst_ports": [80]},
          {"id": "b", "action": "permit", "dst_ports": [80, 81]})",
       {}},
      {"PortGapNotCovered",
       R"({"id": "a", "action": "deny", "dst_ports": ["1-100", "102-200"]},
          {"id": "b", "action": "permit", "dst_ports": ["50-150"]})",
       {}},
      {"SrcDoesNotCoverDst",
       R"({"id": "a", "action": "deny", "src": ["10.0.0.0/8"]},
          {"id": "b", "action": "permit", "dst": ["10.0.0.0/8"]})",
       {}},
      {"SrcPortsDoNotCoverDstPorts",
       R"({"id": "a", "action": "deny", "src_ports": [22]},
          {"id": "b", "action": "permit", "dst_ports": [22]})",
       {}},
      {"LaterRuleBeforeEarlier",
       R"({"id": "narrow", "action": "deny", "dst_ports": [22], "src": ["10.0.0.1"]},
          {"id": "broad", "action": "permit", "dst_ports": [22]})",
       {}},
  };
}

INSTANTIATE_TEST_SUITE_P(LintCases, LintExactTest, ::testing::ValuesIn(ExactCases()),
                         [](const ::testing::TestParamInfo<LintCase>& param_info) { return param_info.param.name; });

// An exact repeat of the match fields is a duplicate, whatever the action.
// (Whether it is also reported as shadowed/redundant is left to the linter.)
TEST(LintTest, DuplicateSameAction) {
  std::vector<LintWarning> got = Lint(MustParse(
      R"({"id": "a", "action": "permit", "proto": "tcp", "src": ["10.0.0.0/8"], "dst_ports": [80, "90-99"]},
         {"id": "b", "action": "permit", "proto": "tcp", "src": ["10.0.0.0/8"], "dst_ports": [80, "90-99"]})"));
  EXPECT_THAT(Project(got), Contains(W{Kind::kDuplicate, 1, 0})) << Messages(got);
  for (const LintWarning& w : got) EXPECT_EQ(w.rule, 1) << w.message;
}

TEST(LintTest, DuplicateOtherAction) {
  std::vector<LintWarning> got = Lint(MustParse(
      R"({"id": "a", "action": "permit", "dst": ["2001:db8::/48"], "src_gateway": ["gw-a"]},
         {"id": "x", "action": "deny", "dst_ports": [1]},
         {"id": "b", "action": "deny", "dst": ["2001:db8::/48"], "src_gateway": ["gw-a"]})"));
  EXPECT_THAT(Project(got), Contains(W{Kind::kDuplicate, 2, 0})) << Messages(got);
  for (const LintWarning& w : got) EXPECT_EQ(w.rule, 2) << w.message;
}

// Lists are unions within a rule for addresses too: two /9s cover their /8.
TEST(LintTest, CidrListUnionCovers) {
  std::vector<LintWarning> got = Lint(MustParse(
      R"({"id": "a", "action": "deny", "src": ["10.0.0.0/9", "10.128.0.0/9"]},
         {"id": "b", "action": "permit", "src": ["10.0.0.0/8"]})"));
  EXPECT_EQ(Project(got), (std::vector<W>{{Kind::kShadowed, 1, 0}})) << Messages(got);
}

TEST(LintTest, MessagesNameBothRules) {
  std::vector<LintWarning> got = Lint(MustParse(
      R"({"id": "first", "action": "permit", "dst_ports": [22]},
         {"id": "x", "action": "permit", "dst_ports": [23]},
         {"id": "second", "action": "deny", "dst_ports": [22], "src": ["10.0.0.1"]})"));
  ASSERT_EQ(got.size(), 1u) << Messages(got);
  EXPECT_EQ(got[0].kind, Kind::kShadowed);
  EXPECT_THAT(got[0].message, StartsWith(R"(rule #3 (id "second"): )"));
  EXPECT_THAT(got[0].message, HasSubstr(R"(rule #1 (id "first"))"));
}

TEST(LintTest, HostBitsMessageNamesTheCidr) {
  std::vector<LintWarning> got = Lint(MustParse(R"({"id": "h", "action": "permit", "src": ["10.0.0.5/24"]})"));
  ASSERT_EQ(got.size(), 1u) << Messages(got);
  EXPECT_THAT(got[0].message, StartsWith(R"(rule #1 (id "h"): )"));
  EXPECT_THAT(got[0].message, HasSubstr("10.0.0.5/24"));
}

TEST(LintTest, WarningsAreOrderedByRule) {
  std::vector<LintWarning> got = Lint(MustParse(
      R"({"id": "a", "action": "permit", "dst_ports": [1]},
         {"id": "b", "action": "permit", "src": ["10.0.0.1/8"], "dst_ports": [2]},
         {"id": "c", "action": "deny", "dst_ports": [1], "src": ["10.0.0.0/8"]},
         {"id": "d", "action": "deny", "src": ["10.0.0.0/8"], "dst": ["::1"]},
         {"id": "e", "action": "permit", "dst_ports": [1]})"));
  std::vector<W> want = {{Kind::kHostBits, 1, -1}, {Kind::kShadowed, 2, 0}, {Kind::kDuplicate, 4, 0}};
  for (const W& w : want) EXPECT_THAT(Project(got), Contains(w)) << Messages(got);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LE(got[i - 1].rule, got[i].rule) << Messages(got);
}

TEST(LintTest, EmptyPolicyHasNoWarnings) { EXPECT_THAT(Lint(Policy()), IsEmpty()); }

}  // namespace
}  // namespace braid::sft
