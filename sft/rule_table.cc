// Compile and the reference LinearTable.
#include "braid/rule_table.h"

#include "sft/compile.h"
#include "sft/tuple_table.h"

namespace braid {

const std::string& RuleTable::RuleId(const Decision& d) const {
  static const std::string kNone;
  if (d.is_default() || d.rule >= static_cast<int32_t>(policy().rules.size())) return kNone;
  return policy().rules[d.rule].id;
}

namespace sft {
namespace {

class LinearTable final : public RuleTable {
 public:
  explicit LinearTable(Policy policy) : policy_(std::move(policy)) {}

  Decision Lookup(const FlowKey& flow) const override {
    int rule = MatchesLinear(policy_, flow);
    if (rule < 0) return Decision{policy_.default_action, Decision::kDefault};
    return Decision{policy_.rules[rule].action, rule};
  }
  const Policy& policy() const override { return policy_; }
  size_t MemoryUsage() const override { return 0; }

 private:
  Policy policy_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const RuleTable>> Compile(Policy policy) {
  return std::make_shared<const TupleTable>(std::move(policy));
}

std::shared_ptr<const RuleTable> MakeLinearTable(Policy policy) {
  return std::make_shared<const LinearTable>(std::move(policy));
}

absl::StatusOr<std::shared_ptr<const RuleTable>> LoadAndCompile(const std::string& path) {
  absl::StatusOr<Policy> policy = LoadPolicyFile(path);
  if (!policy.ok()) return policy.status();
  return Compile(*std::move(policy));
}

}  // namespace sft
}  // namespace braid
