// The reference semantics of a policy: a first-match scan written to be
// obviously right rather than fast. The compiled RuleTable (tuple_table.cc)
// must agree with it everywhere; the differential test holds it to that.
#include <algorithm>

#include "braid/policy.h"

namespace braid {
namespace {

template <typename T, typename Pred>
bool AnyOrAbsent(const std::optional<std::vector<T>>& list, Pred pred) {
  return !list || std::any_of(list->begin(), list->end(), pred);
}

bool ProtoMatches(ProtoMatch match, Protocol proto) {
  switch (match) {
    case ProtoMatch::kAny:
      return true;
    case ProtoMatch::kTcp:
      return proto == Protocol::kTcp;
    case ProtoMatch::kUdp:
      return proto == Protocol::kUdp;
  }
  return false;
}

bool RuleMatchesExceptDst(const Rule& rule, const FlowKey& flow) {
  return ProtoMatches(rule.proto, flow.proto) &&
         AnyOrAbsent(rule.src, [&](const Cidr& c) { return c.Contains(flow.src); }) &&
         AnyOrAbsent(rule.src_ports, [&](const PortRange& r) { return r.Contains(flow.src_port); }) &&
         AnyOrAbsent(rule.dst_ports, [&](const PortRange& r) { return r.Contains(flow.dst_port); }) &&
         AnyOrAbsent(rule.src_gateway, [&](const std::string& g) { return g == flow.src_gateway; }) &&
         AnyOrAbsent(rule.dst_gateway, [&](const std::string& g) { return g == flow.dst_gateway; });
}

}  // namespace

const char* ActionName(Action action) {
  return action == Action::kPermit ? "permit" : "deny";
}

bool Rule::SameMatch(const Rule& other) const {
  return proto == other.proto && src == other.src && dst == other.dst &&
         src_ports == other.src_ports && dst_ports == other.dst_ports &&
         src_gateway == other.src_gateway && dst_gateway == other.dst_gateway;
}

bool RuleMatches(const Rule& rule, const FlowKey& flow) {
  return RuleMatchesExceptDst(rule, flow) &&
         AnyOrAbsent(rule.dst, [&](const Cidr& c) { return c.Contains(flow.dst); });
}

int MatchesLinear(const Policy& policy, const FlowKey& flow) {
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    if (RuleMatches(policy.rules[i], flow)) return static_cast<int>(i);
  }
  return -1;
}

int MatchesLinearAnyDst(const Policy& policy, const FlowKey& flow) {
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    if (RuleMatchesExceptDst(policy.rules[i], flow)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace braid
