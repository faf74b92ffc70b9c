// Fuzzer for the policy parser (ParsePolicy), and through it the compiler,
// the JSON writer and the linter. Any input must be either rejected with a
// well-formed InvalidArgument status, or accepted; an accepted policy must
//   - render with PolicyToJson to text that parses back to an equal policy
//     and renders to the same text again,
//   - compile, and the compiled table must agree with MatchesLinear (and with
//     sft::MakeLinearTable) on flows at the edges of every rule and on a few
//     pseudo-random flows seeded from the input,
//   - lint without contradicting the semantics: a rule reported as shadowed,
//     redundant or duplicate is only ever matched together with the earlier
//     rule named, and a host-bits warning names a rule with such a CIDR.
// A broken invariant prints what broke and aborts.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// policy_parser_fuzz_replay, which replays the seed corpus as a test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "braid/flow_key.h"
#include "braid/policy.h"
#include "braid/rule_table.h"
#include "sft/compile.h"
#include "sft/lint.h"

namespace braid {
namespace {

constexpr size_t kMaxInput = 64 * 1024;
constexpr size_t kMaxRulesProbed = 64;
constexpr int kRandomFlows = 16;
constexpr char kSource[] = "fuzz";

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  std::fprintf(stderr, "policy_parser_fuzz: invariant broken: %s\n%.*s\n", what.c_str(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void Check(bool ok, const std::string& what, std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

bool SamePolicy(const Policy& a, const Policy& b) {
  return a.name == b.name && a.description == b.description && a.default_action == b.default_action &&
         a.rules == b.rules;
}

// SplitMix64: a tiny deterministic generator seeded from the input.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

IpAddress Step(const IpAddress& a, int delta) {
  if (a.is_v4()) return IpAddress::V4(a.v4() + static_cast<uint32_t>(delta));
  uint64_t lo = a.lo() + static_cast<uint64_t>(static_cast<int64_t>(delta));
  uint64_t hi = a.hi();
  if (delta > 0 && lo < a.lo()) ++hi;
  if (delta < 0 && lo > a.lo()) --hi;
  return IpAddress::V6(hi, lo);
}

IpAddress EdgeOf(const Cidr& c, uint64_t pick) {
  switch (pick % 5) {
    case 0: return c.network();
    case 1: return c.broadcast();
    case 2: return Step(c.network(), -1);
    case 3: return Step(c.broadcast(), 1);
    default: return c.address();
  }
}

uint16_t EdgePort(const PortRange& r, uint64_t pick) {
  switch (pick % 4) {
    case 0: return r.lo;
    case 1: return r.hi;
    case 2: return static_cast<uint16_t>(r.lo - 1);
    default: return static_cast<uint16_t>(r.hi + 1);
  }
}

template <typename T>
const T& PickFrom(const std::vector<T>& v, uint64_t pick) {
  return v[pick % v.size()];
}

// PickEdge returns an address at the edge of an element of `list` of
// `family`, or a random address of that family when the list has none.
IpAddress PickEdge(const std::optional<std::vector<Cidr>>& list, AddressFamily family, Rng& rng) {
  if (list) {
    std::vector<const Cidr*> same;
    for (const Cidr& c : *list) {
      if (c.family() == family) same.push_back(&c);
    }
    if (!same.empty()) return EdgeOf(*PickFrom(same, rng.Next()), rng.Next());
  }
  return family == AddressFamily::kV4 ? IpAddress::V4(static_cast<uint32_t>(rng.Next()))
                                      : IpAddress::V6(rng.Next(), rng.Next());
}

// FlowNear builds a flow at the edges of `rule`; `rng` picks which edges.
// Source and destination are of one family, as in any real flow.
FlowKey FlowNear(const Rule& rule, Rng& rng) {
  FlowKey f;
  AddressFamily family = (rng.Next() & 1) ? AddressFamily::kV6 : AddressFamily::kV4;
  if (rule.src && (rng.Next() & 1)) {
    family = PickFrom(*rule.src, rng.Next()).family();
  } else if (rule.dst) {
    family = PickFrom(*rule.dst, rng.Next()).family();
  }
  f.src = PickEdge(rule.src, family, rng);
  f.dst = PickEdge(rule.dst, family, rng);
  f.src_port = rule.src_ports ? EdgePort(PickFrom(*rule.src_ports, rng.Next()), rng.Next())
                              : static_cast<uint16_t>(rng.Next());
  f.dst_port = rule.dst_ports ? EdgePort(PickFrom(*rule.dst_ports, rng.Next()), rng.Next())
                              : static_cast<uint16_t>(rng.Next());
  switch (rule.proto) {
    case ProtoMatch::kTcp: f.proto = (rng.Next() % 4) ? Protocol::kTcp : Protocol::kUdp; break;
    case ProtoMatch::kUdp: f.proto = (rng.Next() % 4) ? Protocol::kUdp : Protocol::kTcp; break;
    case ProtoMatch::kAny: f.proto = (rng.Next() & 1) ? Protocol::kTcp : Protocol::kUdp; break;
  }
  if (rule.src_gateway && rng.Next() % 4) f.src_gateway = PickFrom(*rule.src_gateway, rng.Next());
  if (rule.dst_gateway && rng.Next() % 4) f.dst_gateway = PickFrom(*rule.dst_gateway, rng.Next());
  return f;
}

FlowKey RandomFlow(const Policy& p, Rng& rng) {
  // Near a random rule, then one field swapped for a value from another
  // (which may give a flow of mixed families: the table must still agree).
  FlowKey f = FlowNear(PickFrom(p.rules, rng.Next()), rng);
  FlowKey g = FlowNear(PickFrom(p.rules, rng.Next()), rng);
  switch (rng.Next() % 6) {
    case 0: f.src = g.src; break;
    case 1: f.dst = g.dst; break;
    case 2: f.src_port = g.src_port; break;
    case 3: f.dst_port = g.dst_port; break;
    case 4: f.src_gateway = g.src_gateway; break;
    default: f.dst_gateway = g.dst_gateway; break;
  }
  return f;
}

std::string DescribeFlow(const FlowKey& f) {
  return f.src.ToString() + ":" + std::to_string(f.src_port) + " -> " + f.dst.ToString() + ":" +
         std::to_string(f.dst_port) + (f.proto == Protocol::kTcp ? " tcp" : " udp") + " gw \"" + f.src_gateway +
         "\" -> \"" + f.dst_gateway + "\"";
}

void CheckRejection(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument, "rejection is not InvalidArgument",
        status.ToString());
  // absl::string_view is not std::string_view in every absl build.
  const std::string_view message(status.message().data(), status.message().size());
  Check(!message.empty(), "empty error message");
  const std::string prefix = std::string(kSource) + ": ";
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    if (!line.empty()) Check(line.substr(0, prefix.size()) == prefix, "error line does not start with the source", line);
    start = end + 1;
  }
}

void CheckRoundTrip(const Policy& p) {
  const std::string json = PolicyToJson(p);
  absl::StatusOr<Policy> back = ParsePolicy(json, "roundtrip");
  Check(back.ok(), "PolicyToJson output does not parse: " + back.status().ToString(), json);
  Check(SamePolicy(*back, p), "PolicyToJson round trip changed the policy", json);
  Check(PolicyToJson(*back) == json, "PolicyToJson is not stable", json);
  const std::string compact = PolicyToJson(p, 0);
  absl::StatusOr<Policy> back0 = ParsePolicy(compact, "roundtrip");
  Check(back0.ok() && SamePolicy(*back0, p), "compact PolicyToJson round trip failed", compact);
}

void CheckLookup(const Policy& p, const RuleTable& compiled, const RuleTable& linear, const FlowKey& f) {
  const int want_rule = MatchesLinear(p, f);
  const Decision want{want_rule >= 0 ? p.rules[static_cast<size_t>(want_rule)].action : p.default_action, want_rule};
  const Decision got = compiled.Lookup(f);
  if (!(got == want)) {
    Fail("compiled Lookup (rule " + std::to_string(got.rule) + ", " + std::string(ActionName(got.action)) +
             ") != MatchesLinear (rule " + std::to_string(want.rule) + ", " + std::string(ActionName(want.action)) +
             ") for " + DescribeFlow(f),
         PolicyToJson(p));
  }
  Check(linear.Lookup(f) == want, "MakeLinearTable Lookup != MatchesLinear for " + DescribeFlow(f));
}

void CheckLint(const Policy& p, Rng& rng) {
  const std::vector<sft::LintWarning> warnings = sft::Lint(p);
  const int n = static_cast<int>(p.rules.size());
  int last_rule = -1;
  for (const sft::LintWarning& w : warnings) {
    Check(w.rule >= 0 && w.rule < n, "lint warning for a rule out of range", w.message);
    Check(w.rule >= last_rule, "lint warnings out of order", w.message);
    Check(!w.message.empty(), "lint warning without a message");
    last_rule = w.rule;
    const Rule& rule = p.rules[static_cast<size_t>(w.rule)];
    using Kind = sft::LintWarning::Kind;
    switch (w.kind) {
      case Kind::kShadowed:
      case Kind::kRedundant:
      case Kind::kDuplicate: {
        Check(w.other_rule >= 0 && w.other_rule < w.rule, "lint names no earlier rule", w.message);
        const Rule& other = p.rules[static_cast<size_t>(w.other_rule)];
        if (w.kind == Kind::kShadowed) Check(other.action != rule.action, "shadowed by a rule with the same action", w.message);
        if (w.kind == Kind::kRedundant) Check(other.action == rule.action, "redundant with a rule of another action", w.message);
        if (w.kind == Kind::kDuplicate) Check(other.SameMatch(rule), "duplicate of a rule with other match fields", w.message);
        if (static_cast<size_t>(w.rule) >= kMaxRulesProbed) break;
        for (int i = 0; i < 16; ++i) {
          FlowKey f = FlowNear(rule, rng);
          if (RuleMatches(rule, f) && !RuleMatches(other, f)) {
            Fail("lint says the earlier rule covers this one, but " + DescribeFlow(f) + " matches only the later",
                 w.message);
          }
        }
        break;
      }
      case Kind::kHostBits: {
        bool any = false;
        for (const auto* list : {&rule.src, &rule.dst}) {
          if (!*list) continue;
          for (const Cidr& c : **list) any = any || c.has_host_bits();
        }
        Check(any, "host-bits warning for a rule without host bits", w.message);
        break;
      }
    }
  }
}

void CheckAccepted(const Policy& p, std::string_view input) {
  Check(!p.rules.empty(), "accepted a policy without rules");
  CheckRoundTrip(p);

  absl::StatusOr<std::shared_ptr<const RuleTable>> compiled = sft::Compile(p);
  Check(compiled.ok() && *compiled != nullptr, "Compile failed on an accepted policy: " + compiled.status().ToString());
  const RuleTable& table = **compiled;
  Check(SamePolicy(table.policy(), p), "compiled table's policy() differs from the input");
  std::shared_ptr<const RuleTable> linear = sft::MakeLinearTable(p);
  Check(linear != nullptr, "MakeLinearTable returned null");

  Rng rng{Fnv1a(input)};
  const size_t probed = std::min(p.rules.size(), kMaxRulesProbed);
  for (size_t i = 0; i < probed; ++i) {
    for (int k = 0; k < 4; ++k) CheckLookup(p, table, *linear, FlowNear(p.rules[i], rng));
  }
  for (int k = 0; k < kRandomFlows; ++k) CheckLookup(p, table, *linear, RandomFlow(p, rng));

  for (int k = 0; k < 4; ++k) {
    FlowKey f = RandomFlow(p, rng);
    const Decision d = table.Lookup(f);
    Check(table.RuleId(d) == (d.is_default() ? std::string() : p.rules[static_cast<size_t>(d.rule)].id),
          "RuleId does not name the deciding rule");
  }
  CheckLint(p, rng);
}

}  // namespace
}  // namespace braid

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > braid::kMaxInput) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<braid::Policy> policy = braid::ParsePolicy(input, braid::kSource);
  if (!policy.ok()) {
    braid::CheckRejection(policy.status());
    return 0;
  }
  braid::CheckAccepted(*policy, input);
  return 0;
}
