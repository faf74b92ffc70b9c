// Lint finds rules that are legal but almost certainly not what the author
// meant.
#ifndef BRAID_SFT_LINT_H_
#define BRAID_SFT_LINT_H_

#include <string>
#include <vector>

#include "braid/policy.h"

namespace braid::sft {

struct LintWarning {
  enum class Kind {
    kShadowed,   // an earlier rule with another action matches all this rule does
    kRedundant,  // an earlier rule with the same action matches all this rule does
    kDuplicate,  // an earlier rule has exactly the same match fields
    kHostBits,   // a CIDR has bits set beyond its prefix length
  };
  Kind kind;
  int rule = 0;          // index of the rule warned about
  int other_rule = -1;   // index of the earlier rule involved, if any
  std::string message;   // full text, e.g. `rule #4 (id "x"): shadowed by rule #2 (id "y")...`
};

// Lint returns the warnings for `policy`, ordered by rule. Shadowing is
// detected against each earlier rule on its own (a rule covered only by the
// union of several earlier rules is not reported); within one rule, lists
// are treated as the union of their elements.
std::vector<LintWarning> Lint(const Policy& policy);

}  // namespace braid::sft

#endif  // BRAID_SFT_LINT_H_
