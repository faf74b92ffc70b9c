// RuleTable: an immutable, compiled Security Filter Table.
//
// A RuleTable answers one question, as fast as it can and from any number of
// threads at once: which rule decides this flow? Its answer always equals
// MatchesLinear over the policy it was compiled from. It is built once by
// sft::Compile and never changes afterwards; gateways share it between
// threads as std::shared_ptr<const RuleTable>.
#ifndef BRAID_RULE_TABLE_H_
#define BRAID_RULE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "braid/flow_key.h"
#include "braid/policy.h"

namespace braid {

struct Decision {
  Action action = Action::kDeny;
  // Index of the deciding rule in policy order, or kDefault when no rule
  // matched and the policy's default decided.
  int32_t rule = kDefault;

  static constexpr int32_t kDefault = -1;
  bool is_default() const { return rule == kDefault; }
  friend bool operator==(const Decision&, const Decision&) = default;
};

class RuleTable {
 public:
  virtual ~RuleTable() = default;

  // Lookup returns the decision for `flow`. Never fails; thread-safe.
  virtual Decision Lookup(const FlowKey& flow) const = 0;

  // The policy the table was compiled from, in source order.
  virtual const Policy& policy() const = 0;

  // Bytes held by the compiled lookup structures (not counting policy()).
  virtual size_t MemoryUsage() const = 0;

  // RuleId returns the id of the deciding rule, or "" for the default.
  const std::string& RuleId(const Decision& d) const;
};

}  // namespace braid

#endif  // BRAID_RULE_TABLE_H_
