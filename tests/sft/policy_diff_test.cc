// Tests of sft::DiffPolicies and its two renderings: identical policies,
// rules added, removed, changed and moved (a rule moved to the front is one
// move, a rule that only shifts because of an insertion is none), default
// action and metadata changes, and everything at once.
#include "sft/policy_diff.h"

#include <string>
#include <vector>

#include "braid/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::sft {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Rules builds a policy whose rules have the given ids and otherwise
// identical content (deny TCP to port 1).
Policy Rules(const std::vector<std::string>& ids) {
  Policy policy;
  policy.name = "p";
  for (const std::string& id : ids) {
    Rule rule;
    rule.id = id;
    rule.proto = ProtoMatch::kTcp;
    rule.dst_ports = std::vector<PortRange>{{1, 1}};
    policy.rules.push_back(rule);
  }
  return policy;
}

Rule* Find(Policy& policy, const std::string& id) {
  for (Rule& rule : policy.rules) {
    if (rule.id == id) return &rule;
  }
  return nullptr;
}

TEST(PolicyDiffTest, Identical) {
  const Policy p = Rules({"a", "b", "c"});
  const PolicyDiff diff = DiffPolicies(p, p);
  EXPECT_TRUE(diff.empty());
  EXPECT_EQ(FormatPolicyDiff(diff, p, p), "no changes");
  EXPECT_EQ(PolicyDiffToJson(diff).dump(),
            R"({"added":[],"changed":[],"default_action_changed":false,"metadata_changed":false,"moved":[],)"
            R"("removed":[]})");
}

TEST(PolicyDiffTest, AddedRuleShiftsOthersWithoutMovingThem) {
  const Policy from = Rules({"a", "b", "c"});
  const Policy to = Rules({"new", "a", "b", "pg-repl", "c"});
  const PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_THAT(diff.added, ElementsAre("new", "pg-repl"));
  EXPECT_THAT(diff.removed, IsEmpty());
  EXPECT_THAT(diff.changed, IsEmpty());
  EXPECT_THAT(diff.moved, IsEmpty());
  EXPECT_EQ(FormatPolicyDiff(diff, from, to), "+ rule new\n+ rule pg-repl");
}

TEST(PolicyDiffTest, Removed) {
  const Policy from = Rules({"a", "old", "b", "older"});
  const Policy to = Rules({"a", "b"});
  const PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_THAT(diff.removed, ElementsAre("old", "older"));
  EXPECT_THAT(diff.added, IsEmpty());
  EXPECT_THAT(diff.moved, IsEmpty());
  EXPECT_EQ(FormatPolicyDiff(diff, from, to), "- rule old\n- rule older");
}

TEST(PolicyDiffTest, ChangedAnyFieldButPosition) {
  const Policy from = Rules({"a", "b", "c", "d"});
  Policy to = from;
  Find(to, "a")->action = Action::kPermit;
  Find(to, "a")->dst_ports = std::vector<PortRange>{{1, 2}};
  Find(to, "c")->comment = "now documented";
  Find(to, "d")->src = std::vector<Cidr>{*Cidr::Parse("10.0.0.0/8")};
  const PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_THAT(diff.changed, ElementsAre("a", "c", "d"));
  EXPECT_THAT(diff.moved, IsEmpty());
  EXPECT_EQ(FormatPolicyDiff(diff, from, to),
            "~ rule a (action, dst_ports)\n~ rule c (comment)\n~ rule d (src)");
}

TEST(PolicyDiffTest, RuleMovedToTheFrontIsOneMove) {
  const Policy from = Rules({"a", "b", "c", "d", "y"});
  const Policy to = Rules({"y", "a", "b", "c", "d"});
  const PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_THAT(diff.moved, ElementsAre(RuleMove{"y", 4, 0}));
  EXPECT_THAT(diff.changed, IsEmpty());
  EXPECT_EQ(FormatPolicyDiff(diff, from, to), "> rule y moved 5 -> 1");
}

TEST(PolicyDiffTest, RuleMovedToTheBackIsOneMove) {
  const PolicyDiff diff = DiffPolicies(Rules({"a", "b", "c", "d"}), Rules({"b", "c", "d", "a"}));
  EXPECT_THAT(diff.moved, ElementsAre(RuleMove{"a", 0, 3}));
}

TEST(PolicyDiffTest, ReversalMovesAllButOne) {
  const PolicyDiff diff = DiffPolicies(Rules({"a", "b", "c", "d"}), Rules({"d", "c", "b", "a"}));
  EXPECT_EQ(diff.moved.size(), 3u);
}

TEST(PolicyDiffTest, DefaultAndMetadata) {
  const Policy from = Rules({"a"});
  Policy to = from;
  to.default_action = Action::kPermit;
  PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_TRUE(diff.default_action_changed);
  EXPECT_FALSE(diff.metadata_changed);
  EXPECT_FALSE(diff.empty());
  EXPECT_EQ(FormatPolicyDiff(diff, from, to), "default deny -> permit");

  to = from;
  to.name = "q";
  to.description = "new words";
  diff = DiffPolicies(from, to);
  EXPECT_TRUE(diff.metadata_changed);
  EXPECT_FALSE(diff.default_action_changed);
  EXPECT_EQ(FormatPolicyDiff(diff, from, to), "name \"p\" -> \"q\"\ndescription changed");
}

TEST(PolicyDiffTest, Mixed) {
  const Policy from = Rules({"a", "b", "gone", "c", "d"});
  Policy to = Rules({"d", "a", "new", "b", "c"});
  Find(to, "b")->action = Action::kPermit;
  to.default_action = Action::kPermit;
  const PolicyDiff diff = DiffPolicies(from, to);
  EXPECT_THAT(diff.added, ElementsAre("new"));
  EXPECT_THAT(diff.removed, ElementsAre("gone"));
  EXPECT_THAT(diff.changed, ElementsAre("b"));
  EXPECT_THAT(diff.moved, ElementsAre(RuleMove{"d", 4, 0}));
  EXPECT_TRUE(diff.default_action_changed);
  EXPECT_EQ(FormatPolicyDiff(diff, from, to),
            "default deny -> permit\n- rule gone\n+ rule new\n~ rule b (action)\n> rule d moved 5 -> 1");
  EXPECT_EQ(PolicyDiffToJson(diff),
            nlohmann::json::parse(R"({"added": ["new"], "removed": ["gone"], "changed": ["b"],
                                      "moved": [{"id": "d", "from": 4, "to": 0}],
                                      "default_action_changed": true, "metadata_changed": false})"));
}

TEST(PolicyDiffTest, ParsedPolicies) {
  const absl::StatusOr<Policy> from = ParsePolicy(R"({"name": "x", "default": "deny", "rules": [
      {"id": "ssh", "action": "permit", "proto": "tcp", "dst_ports": [22]},
      {"id": "web", "action": "permit", "proto": "tcp", "dst_ports": [443]}]})",
                                                  "from.json");
  const absl::StatusOr<Policy> to = ParsePolicy(R"({"name": "x", "default": "deny", "rules": [
      {"id": "web", "action": "permit", "proto": "tcp", "dst_ports": [443]},
      {"id": "ssh", "action": "permit", "proto": "tcp", "dst_ports": [22]}]})",
                                                "to.json");
  ASSERT_TRUE(from.ok()) << from.status();
  ASSERT_TRUE(to.ok()) << to.status();
  const PolicyDiff diff = DiffPolicies(*from, *to);
  EXPECT_EQ(diff.moved.size(), 1u);
  EXPECT_THAT(diff.changed, IsEmpty());
  EXPECT_TRUE(DiffPolicies(*from, *from).empty());
}

}  // namespace
}  // namespace braid::sft
