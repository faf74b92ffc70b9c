// DiffPolicies: what changes between two policies, rule by rule.
//
// `braidctl policy apply` shows this before the controller stores a new
// version, so an operator sees exactly which rules a push adds, removes,
// edits or reorders. Rules are matched by their `id` (mandatory and unique
// in a parsed policy), never by position or content: an edited rule is
// "changed", not "removed and added".
//
// Order matters in a first-match table, so moves are reported, but only
// real ones. A rule counts as moved when its order relative to the other
// rules kept from `from` changed; rules that merely shift because others
// were added or removed before them are not moved. Precisely: of the ids in
// both policies, the ones outside a longest common subsequence of their
// order in `from` and in `to`. Moving one rule to the front therefore reports
// one move, not one per rule it jumped over.
//
// Pure functions on immutable inputs; thread-safe.
#ifndef BRAID_SFT_POLICY_DIFF_H_
#define BRAID_SFT_POLICY_DIFF_H_

#include <cstddef>
#include <string>
#include <vector>

#include "braid/policy.h"
#include "nlohmann/json.hpp"

namespace braid::sft {

// RuleMove: rule `id` was at index `from` of the old rules and is at index
// `to` of the new ones (0-based).
struct RuleMove {
  std::string id;
  size_t from = 0;
  size_t to = 0;
  friend bool operator==(const RuleMove&, const RuleMove&) = default;
};

struct PolicyDiff {
  std::vector<std::string> added;    // ids in `to` only, in `to`'s order
  std::vector<std::string> removed;  // ids in `from` only, in `from`'s order
  std::vector<std::string> changed;  // ids in both whose rule differs in anything but position
  std::vector<RuleMove> moved;       // ids in both whose relative order changed, in `to`'s order
  bool default_action_changed = false;
  bool metadata_changed = false;  // name or description

  // empty is true when the policies are equal.
  bool empty() const;
};

// DiffPolicies compares `from` (the current policy) with `to` (the new one).
// A rule id repeated within one policy (ParsePolicy never returns one) is
// compared by its first occurrence.
PolicyDiff DiffPolicies(const Policy& from, const Policy& to);

// FormatPolicyDiff renders `diff` (of `from` and `to`) for people, one line
// per item, lines separated by '\n' with none after the last:
//   name "old" -> "new"          description changed
//   default deny -> permit
//   - rule old                   + rule pg-repl
//   ~ rule x (action, dst_ports) the fields that differ
//   > rule y moved 3 -> 1        positions 1-based, as "rule #N" elsewhere
// or "no changes" for an empty diff.
std::string FormatPolicyDiff(const PolicyDiff& diff, const Policy& from, const Policy& to);

// PolicyDiffToJson renders `diff` for tools: {"added": [ids], "removed":
// [ids], "changed": [ids], "moved": [{"id", "from", "to"}] (0-based),
// "default_action_changed": bool, "metadata_changed": bool}.
nlohmann::json PolicyDiffToJson(const PolicyDiff& diff);

}  // namespace braid::sft

#endif  // BRAID_SFT_POLICY_DIFF_H_
