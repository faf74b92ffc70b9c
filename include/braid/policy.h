// Policy: the parsed, validated form of a Security Filter Table file, and the
// parser that produces it.
//
// A Policy is plain data in source order. It is what the controller stores,
// diffs and pushes, and what sft::Compile turns into a RuleTable for lookups.
// The format is specified in docs/policy.md and policies/policy.schema.json.
#ifndef BRAID_POLICY_H_
#define BRAID_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/flow_key.h"
#include "braid/ip_address.h"

namespace braid {

enum class Action : uint8_t { kDeny = 0, kPermit = 1 };
const char* ActionName(Action action);

// The protocol field of a rule: absent and "any" both mean kAny.
enum class ProtoMatch : uint8_t { kAny, kTcp, kUdp };

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 0;
  bool Contains(uint16_t port) const { return lo <= port && port <= hi; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// A rule. Every match field is optional: nullopt means "any". When present,
// a list is never empty (the parser guarantees it).
struct Rule {
  std::string id;
  Action action = Action::kDeny;
  ProtoMatch proto = ProtoMatch::kAny;
  std::optional<std::vector<Cidr>> src;
  std::optional<std::vector<Cidr>> dst;
  std::optional<std::vector<PortRange>> src_ports;
  std::optional<std::vector<PortRange>> dst_ports;
  std::optional<std::vector<std::string>> src_gateway;
  std::optional<std::vector<std::string>> dst_gateway;
  std::string comment;

  // SameMatch is true when both rules match exactly the same fields with the
  // same values as written (id, action and comment aside).
  bool SameMatch(const Rule& other) const;
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Policy {
  std::string name;
  std::string description;
  Action default_action = Action::kDeny;
  std::vector<Rule> rules;
};

// ParsePolicy parses and validates a policy document. `source` names it in
// errors (usually the file path). On failure the status is
// InvalidArgument and its message lists every error found, one per line,
// each as `SOURCE: rule #N (id "ID"): FIELD: what is wrong` (rules are
// numbered from 1; list elements from 0, as in JSON).
absl::StatusOr<Policy> ParsePolicy(std::string_view json_text, std::string_view source);

// LoadPolicyFile reads and parses a file. NotFound/PermissionDenied-style
// errors from reading come back as the status of the read; parse errors as
// for ParsePolicy.
absl::StatusOr<Policy> LoadPolicyFile(const std::string& path);

// PolicyToJson renders a policy back to its canonical JSON text (stable key
// order, CIDRs and ranges as written), which ParsePolicy reads back to an
// equal Policy.
std::string PolicyToJson(const Policy& policy, int indent = 2);

// MatchesLinear is the reference semantics, written as plainly as possible:
// the first rule whose every present field matches decides, else the
// default. Returns the index of the deciding rule, or -1 for the default.
// The compiled RuleTable must agree with it on every input; tests check
// that.
int MatchesLinear(const Policy& policy, const FlowKey& flow);
bool RuleMatches(const Rule& rule, const FlowKey& flow);

// MatchesLinearAnyDst is MatchesLinear for a flow whose destination address
// is not known yet (a target given by name, resolved on the far gateway):
// every rule's `dst` field is taken to match. The far gateway checks the
// resolved address, so this only lets the near one refuse early what no
// destination could make acceptable.
int MatchesLinearAnyDst(const Policy& policy, const FlowKey& flow);

}  // namespace braid

#endif  // BRAID_POLICY_H_
