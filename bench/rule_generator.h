// Synthetic Security Filter Tables and flows for the SFT benchmarks.
//
// Two rule generators, both deterministic for a given seed:
//
//  - Realistic: shaped after ClassBench's ACL seeds (Taylor and Turner,
//    2007) as far as braid's format allows. Addresses cluster in a few
//    hundred site /16s; most source and destination prefixes are /24 to /32,
//    a minority shorter, a small fraction wildcards; most rules name one exact
//    destination port (drawn from well-known service ports), some a range;
//    source ports are rarely constrained; protocols are mostly TCP; actions
//    are mixed; about 3% of rules are IPv6; about a fifth name gateways.
//  - Adversarial: every rule has a source and a destination prefix whose
//    length is uniform over 0..32, random ports and ranges. This defeats the
//    locality that tuple-space search relies on, so it shows the worst case
//    rather than the typical one. It is reported beside the realistic one,
//    never instead of it.
//
// Flows (GenerateFlows) are half "hits", drawn inside a random rule's match
// fields (so that rule or an earlier one decides them), and half "misses",
// near-miss flows built from the same addresses and ports that no rule
// matches, so the default decides. The miss half needs a way to ask whether a
// flow falls to the default: the caller passes one (normally a compiled
// table's Lookup), which keeps this file free of any matcher of its own.
#ifndef BRAID_BENCH_RULE_GENERATOR_H_
#define BRAID_BENCH_RULE_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "braid/flow_key.h"
#include "braid/policy.h"

namespace braid::bench {

enum class RuleSetKind { kRealistic, kAdversarial };

std::string_view RuleSetKindName(RuleSetKind kind);

// GenerateRules returns a valid policy of `rule_count` rules (ids "r0",
// "r1", ...) with default deny. The same (kind, rule_count, seed) always gives
// the same policy.
Policy GenerateRules(RuleSetKind kind, size_t rule_count, uint64_t seed);

// FlowSet: generated flows and how they were meant to fall.
struct FlowSet {
  std::vector<FlowKey> flows;
  size_t hits = 0;    // drawn inside a rule
  size_t misses = 0;  // confirmed to fall to the default
};

// GenerateFlows returns `flow_count` flows for `policy`, interleaved hit and
// miss. `is_default` must say whether the policy's default decides a flow.
// A miss candidate that some rule matches is redrawn, up to a bound; if the
// bound is reached (a policy with catch-all rules has no misses to find) the
// flow is kept anyway and counted as a hit, so `misses` may be less than
// half.
FlowSet GenerateFlows(const Policy& policy, size_t flow_count, uint64_t seed,
                      const std::function<bool(const FlowKey&)>& is_default);

}  // namespace braid::bench

#endif  // BRAID_BENCH_RULE_GENERATOR_H_
