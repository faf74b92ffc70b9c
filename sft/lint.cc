// Lint: rules that are legal but suspicious.
//
// Coverage is decided field by field: an earlier rule covers a later one when
// each of its fields matches a superset of the later rule's field. Within one
// field a list is the union of its elements, so ["10.0.0.0/25",
// "10.0.0.128/25"] covers "10.0.0.0/24". Candidates are found through the
// compiled tuple index (every rule that matches one corner of the later rule),
// so lint stays near-linear on large policies.
#include "sft/lint.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sft/tuple_table.h"

namespace braid::sft {
namespace {

// An address interval in one family, inclusive.
struct Interval {
  AddressFamily family;
  IpAddress first, last;
};

std::vector<Interval> AddressIntervals(const std::optional<std::vector<Cidr>>& list) {
  std::vector<Interval> out;
  if (!list) {
    for (const Cidr& any : {Cidr(IpAddress::V4(0), 0), Cidr(IpAddress::V6(0, 0), 0)}) {
      out.push_back({any.family(), any.network(), any.broadcast()});
    }
    return out;
  }
  for (const Cidr& c : *list) out.push_back({c.family(), c.network(), c.broadcast()});
  return out;
}

// Successor of an address within its family; false at the top of the range.
bool Next(const IpAddress& a, IpAddress* out) {
  if (a.is_v4()) {
    if (a.v4() == UINT32_MAX) return false;
    *out = IpAddress::V4(a.v4() + 1);
    return true;
  }
  if (a.lo() != UINT64_MAX) {
    *out = IpAddress::V6(a.hi(), a.lo() + 1);
  } else {
    if (a.hi() == UINT64_MAX) return false;
    *out = IpAddress::V6(a.hi() + 1, 0);
  }
  return true;
}

// AddressesCover is true when the union of `outer` contains every address of
// every interval in `inner`.
bool AddressesCover(const std::optional<std::vector<Cidr>>& outer, const std::optional<std::vector<Cidr>>& inner) {
  if (!outer) return true;
  std::vector<Interval> merged = AddressIntervals(outer);
  std::sort(merged.begin(), merged.end(), [](const Interval& a, const Interval& b) { return a.first < b.first; });
  for (const Interval& need : AddressIntervals(inner)) {
    // Walk the sorted intervals, extending coverage from need.first.
    IpAddress from = need.first;
    bool covered = false;
    for (const Interval& have : merged) {
      if (have.family != need.family || have.last < from) continue;
      if (from < have.first) break;  // a gap
      if (!(have.last < need.last)) {
        covered = true;
        break;
      }
      if (!Next(have.last, &from)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

bool PortsCover(const std::optional<std::vector<PortRange>>& outer, const std::optional<std::vector<PortRange>>& inner) {
  if (!outer) return true;
  std::vector<PortRange> merged = *outer;
  std::sort(merged.begin(), merged.end(), [](const PortRange& a, const PortRange& b) { return a.lo < b.lo; });
  std::vector<PortRange> need = inner ? *inner : std::vector<PortRange>{{0, 65535}};
  for (const PortRange& n : need) {
    uint32_t from = n.lo;
    for (const PortRange& h : merged) {
      if (h.hi < from) continue;
      if (h.lo > from) break;
      from = uint32_t{h.hi} + 1;
      if (from > n.hi) break;
    }
    if (from <= n.hi) return false;
  }
  return true;
}

bool GatewaysCover(const std::optional<std::vector<std::string>>& outer,
                   const std::optional<std::vector<std::string>>& inner) {
  if (!outer) return true;
  if (!inner) return false;
  return std::all_of(inner->begin(), inner->end(), [&](const std::string& g) {
    return std::find(outer->begin(), outer->end(), g) != outer->end();
  });
}

bool Covers(const Rule& outer, const Rule& inner) {
  return (outer.proto == ProtoMatch::kAny || outer.proto == inner.proto) &&
         AddressesCover(outer.src, inner.src) && AddressesCover(outer.dst, inner.dst) &&
         PortsCover(outer.src_ports, inner.src_ports) && PortsCover(outer.dst_ports, inner.dst_ports) &&
         GatewaysCover(outer.src_gateway, inner.src_gateway) && GatewaysCover(outer.dst_gateway, inner.dst_gateway);
}

// Corner returns one flow the rule matches: every covering rule matches it
// too, which is how candidates are found.
FlowKey Corner(const Rule& rule) {
  FlowKey flow;
  flow.src = rule.src ? rule.src->front().network() : IpAddress::V4(0);
  flow.dst = rule.dst ? rule.dst->front().network() : IpAddress::V4(0);
  flow.src_port = rule.src_ports ? rule.src_ports->front().lo : 0;
  flow.dst_port = rule.dst_ports ? rule.dst_ports->front().lo : 0;
  flow.proto = rule.proto == ProtoMatch::kUdp ? Protocol::kUdp : Protocol::kTcp;
  if (rule.src_gateway) flow.src_gateway = rule.src_gateway->front();
  if (rule.dst_gateway) flow.dst_gateway = rule.dst_gateway->front();
  return flow;
}

std::string Describe(const Policy& policy, size_t i) {
  return absl::StrCat("rule #", i + 1, " (id \"", policy.rules[i].id, "\")");
}

}  // namespace

std::vector<LintWarning> Lint(const Policy& policy) {
  std::vector<LintWarning> out;
  TupleTable index(policy);
  std::vector<uint32_t> candidates;
  for (size_t j = 0; j < policy.rules.size(); ++j) {
    const Rule& rule = policy.rules[j];
    for (auto [list, field] : {std::pair{&rule.src, "src"}, std::pair{&rule.dst, "dst"}}) {
      if (!*list) continue;
      for (size_t k = 0; k < (*list)->size(); ++k) {
        const Cidr& c = (**list)[k];
        if (!c.has_host_bits()) continue;
        out.push_back({LintWarning::Kind::kHostBits, static_cast<int>(j), -1,
                       absl::StrCat(Describe(policy, j), ": ", field, "[", k, "]: \"", c.ToString(),
                                    "\" has host bits set (it matches ", c.network().ToString(), "/",
                                    c.prefix_len(), ")")});
      }
    }

    candidates.clear();
    index.ForEachCandidate(Corner(rule), [&](uint32_t r) {
      if (r < j) candidates.push_back(r);
    });
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (uint32_t i : candidates) {
      const Rule& earlier = policy.rules[i];
      LintWarning w{LintWarning::Kind::kDuplicate, static_cast<int>(j), static_cast<int>(i), ""};
      if (earlier.SameMatch(rule)) {
        w.message = absl::StrCat(Describe(policy, j), ": repeats ", Describe(policy, i),
                                 ": the same match fields, so it never decides anything");
      } else if (!Covers(earlier, rule)) {
        continue;
      } else if (earlier.action != rule.action) {
        w.kind = LintWarning::Kind::kShadowed;
        w.message = absl::StrCat(Describe(policy, j), ": never matches: shadowed by ", Describe(policy, i),
                                 ", which matches everything it does and ", ActionName(earlier.action), "s it");
      } else {
        w.kind = LintWarning::Kind::kRedundant;
        w.message = absl::StrCat(Describe(policy, j), ": redundant: ", Describe(policy, i),
                                 " already matches everything it does with the same action");
      }
      out.push_back(std::move(w));
      break;
    }
  }
  return out;
}

}  // namespace braid::sft
