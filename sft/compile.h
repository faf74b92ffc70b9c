// Compile turns a validated Policy into an immutable RuleTable.
#ifndef BRAID_SFT_COMPILE_H_
#define BRAID_SFT_COMPILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "braid/policy.h"
#include "braid/rule_table.h"

namespace braid::sft {

// Compile builds the fast lookup table for `policy`. It does not fail for a
// policy that ParsePolicy accepted; the StatusOr is there for resource
// limits. The result is safe to share between threads.
absl::StatusOr<std::shared_ptr<const RuleTable>> Compile(Policy policy);

// LinearTable is the reference implementation of RuleTable: a first-match scan
// in policy order (MatchesLinear). Tests and benchmarks compare against it.
std::shared_ptr<const RuleTable> MakeLinearTable(Policy policy);

// LoadAndCompile reads, validates and compiles a policy file in one step:
// the usual way for a gateway to get a table. Errors as ParsePolicy.
absl::StatusOr<std::shared_ptr<const RuleTable>> LoadAndCompile(const std::string& path);

}  // namespace braid::sft

#endif  // BRAID_SFT_COMPILE_H_
