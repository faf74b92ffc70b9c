// Differential test of the compiled Security Filter Table: sft::Compile's
// Lookup and sft::MakeLinearTable's Lookup against MatchesLinear, the
// reference semantics, over at least 100,000 randomised (rule set, flow)
// cases. Rule sets mix IPv4 and IPv6, every prefix length, multi-element
// lists, overlapping port ranges, protocols, gateways, both actions and both
// defaults; flows are biased to the edges of the rules (network and broadcast
// addresses and one past them, port lo/hi and one past them).
//
// The seed is fixed and printed; BRAID_DIFF_SEED=N in the environment runs
// another one. A mismatch prints the seed, the flow and the rule set reduced
// to the rules that still reproduce it.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "braid/flow_key.h"
#include "braid/policy.h"
#include "braid/rule_table.h"
#include "gtest/gtest.h"
#include "sft/compile.h"

namespace braid {
namespace {

constexpr uint64_t kDefaultSeed = 0x5eedb1a1d0001ULL;
constexpr int kRuleSets = 2000;
constexpr int kFlowsPerRuleSet = 100;
constexpr int kMaxReportedMismatches = 3;

uint64_t Seed() {
  const char* env = std::getenv("BRAID_DIFF_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : kDefaultSeed;
}

// AddOne / SubOne step an address by one within its family, wrapping.
IpAddress AddOne(const IpAddress& a) {
  if (a.is_v4()) return IpAddress::V4(a.v4() + 1);
  uint64_t lo = a.lo() + 1;
  return IpAddress::V6(lo == 0 ? a.hi() + 1 : a.hi(), lo);
}

IpAddress SubOne(const IpAddress& a) {
  if (a.is_v4()) return IpAddress::V4(a.v4() - 1);
  uint64_t lo = a.lo() - 1;
  return IpAddress::V6(a.lo() == 0 ? a.hi() - 1 : a.hi(), lo);
}

const std::vector<std::string> kGatewayPool = {"gw-a", "gw-b", "gw-c", "gw-d"};
// Flows also see gateways no rule names, and the unknown (empty) gateway.
const std::vector<std::string> kFlowGatewayPool = {"gw-a", "gw-b", "gw-c", "gw-d", "gw-zz", ""};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  uint64_t U64() { return rng_(); }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

  IpAddress V4Address() {
    static const std::vector<uint32_t> kBases = {0x0a000000, 0x0a000100, 0x0a010000, 0xc0a80100,
                                                 0xac100000, 0x00000000, 0xffffffff, 0x0a0000ff};
    if (Chance(0.2)) return IpAddress::V4(static_cast<uint32_t>(U64()));
    uint32_t a = Pick(kBases);
    if (Chance(0.5)) a ^= static_cast<uint32_t>(U64()) & (Chance(0.5) ? 0xffu : 0xffffu);
    return IpAddress::V4(a);
  }

  IpAddress V6Address() {
    static const std::vector<uint64_t> kHi = {0x20010db800000000, 0x20010db800010000, 0xfd00000000000000, 0,
                                              ~uint64_t{0}, 0x20010db8ffffffff};
    static const std::vector<uint64_t> kLo = {0, 1, 0x8000000000000000, 0x0000ffff0a000000, ~uint64_t{0},
                                              0x7fffffffffffffff};
    if (Chance(0.15)) return IpAddress::V6(U64(), U64());
    uint64_t hi = Pick(kHi);
    uint64_t lo = Pick(kLo);
    if (Chance(0.3)) hi ^= U64() & 0xffff;
    if (Chance(0.3)) lo ^= U64() & (Chance(0.5) ? 0xff : ~uint64_t{0});
    return IpAddress::V6(hi, lo);
  }

  Cidr V4Cidr() {
    static const std::vector<int> kLens = {0, 1, 8, 16, 23, 24, 25, 31, 32};
    int len = Chance(0.5) ? Int(0, 32) : Pick(kLens);
    IpAddress a = V4Address();
    // Mostly clean networks; sometimes host bits, which must be ignored.
    return Cidr(Chance(0.8) ? a.Masked(len) : a, len);
  }

  Cidr V6Cidr() {
    static const std::vector<int> kLens = {0, 1, 16, 32, 48, 63, 64, 65, 96, 127, 128};
    int len = Chance(0.5) ? Int(0, 128) : Pick(kLens);
    IpAddress a = V6Address();
    return Cidr(Chance(0.8) ? a.Masked(len) : a, len);
  }

  std::vector<Cidr> CidrList() {
    int n = Chance(0.6) ? 1 : Int(2, 4);
    int mode = Int(0, 9);  // 0-4: IPv4 only, 5-8: IPv6 only, 9: mixed
    std::vector<Cidr> out;
    for (int i = 0; i < n; ++i) {
      bool v4 = mode < 5 || (mode == 9 && Chance(0.5));
      if (mode >= 5 && mode < 9) v4 = false;
      out.push_back(v4 ? V4Cidr() : V6Cidr());
    }
    return out;
  }

  uint16_t Port() {
    static const std::vector<int> kPorts = {0, 1, 22, 80, 443, 1023, 1024, 5432, 8080, 65534, 65535};
    return static_cast<uint16_t>(Chance(0.5) ? Pick(kPorts) : Int(0, 65535));
  }

  std::vector<PortRange> PortList() {
    int n = Chance(0.5) ? 1 : Int(2, 4);
    std::vector<PortRange> out;
    for (int i = 0; i < n; ++i) {
      uint16_t lo = Port();
      int width;
      switch (Int(0, 3)) {
        case 0: width = 0; break;
        case 1: width = Int(0, 10); break;
        case 2: width = Int(0, 2000); break;
        default: width = Int(0, 65535); break;
      }
      uint16_t hi = static_cast<uint16_t>(std::min(65535, lo + width));
      out.push_back({lo, hi});
    }
    return out;
  }

  std::vector<std::string> GatewayList() {
    std::vector<std::string> out = {Pick(kGatewayPool)};
    if (Chance(0.4)) out.push_back(Pick(kGatewayPool));
    return out;
  }

  Rule RandomRule(int index) {
    Rule r;
    r.id = "r" + std::to_string(index);
    r.action = Chance(0.5) ? Action::kPermit : Action::kDeny;
    switch (Int(0, 2)) {
      case 0: r.proto = ProtoMatch::kAny; break;
      case 1: r.proto = ProtoMatch::kTcp; break;
      default: r.proto = ProtoMatch::kUdp; break;
    }
    if (Chance(0.45)) r.src = CidrList();
    if (Chance(0.45)) r.dst = CidrList();
    if (Chance(0.2)) r.src_ports = PortList();
    if (Chance(0.5)) r.dst_ports = PortList();
    if (Chance(0.15)) r.src_gateway = GatewayList();
    if (Chance(0.15)) r.dst_gateway = GatewayList();
    return r;
  }

  // A variant of an earlier rule: same fields with one changed, so that rule
  // sets have overlaps, shadowing and exact repeats.
  Rule Variant(const Rule& base, int index) {
    Rule r = base;
    r.id = "r" + std::to_string(index);
    switch (Int(0, 6)) {
      case 0: r.action = r.action == Action::kPermit ? Action::kDeny : Action::kPermit; break;
      case 1: r.src = Chance(0.3) ? std::nullopt : std::optional(CidrList()); break;
      case 2: r.dst = Chance(0.3) ? std::nullopt : std::optional(CidrList()); break;
      case 3: r.dst_ports = Chance(0.3) ? std::nullopt : std::optional(PortList()); break;
      case 4: r.proto = static_cast<ProtoMatch>(Int(0, 2)); break;
      case 5: r.src_gateway = Chance(0.5) ? std::nullopt : std::optional(GatewayList()); break;
      default: break;  // an exact repeat of the match fields
    }
    return r;
  }

  Policy RandomPolicy() {
    Policy p;
    p.name = "diff";
    p.default_action = Chance(0.5) ? Action::kPermit : Action::kDeny;
    int n = Chance(0.5) ? Int(1, 20) : Int(1, 300);
    for (int i = 0; i < n; ++i) {
      if (i > 0 && Chance(0.2)) {
        p.rules.push_back(Variant(p.rules[static_cast<size_t>(Int(0, i - 1))], i));
      } else {
        p.rules.push_back(RandomRule(i));
      }
    }
    return p;
  }

  // An address at or near the edge of `c`.
  IpAddress EdgeAddress(const Cidr& c) {
    IpAddress net = c.network();
    IpAddress bcast = c.broadcast();
    switch (Int(0, 5)) {
      case 0: return net;
      case 1: return bcast;
      case 2: return SubOne(net);
      case 3: return AddOne(bcast);
      case 4: return c.address();
      default: {
        // Anywhere inside: network | (random & host mask).
        uint64_t hi_mask = net.hi() ^ bcast.hi();
        uint64_t lo_mask = net.lo() ^ bcast.lo();
        if (net.is_v4()) return IpAddress::V4(static_cast<uint32_t>(net.v4() | (U64() & lo_mask)));
        return IpAddress::V6(net.hi() | (U64() & hi_mask), net.lo() | (U64() & lo_mask));
      }
    }
  }

  uint16_t EdgePort(const std::vector<PortRange>& ports) {
    const PortRange& r = Pick(ports);
    switch (Int(0, 4)) {
      case 0: return r.lo;
      case 1: return r.hi;
      case 2: return static_cast<uint16_t>(r.lo == 0 ? Port() : r.lo - 1);
      case 3: return static_cast<uint16_t>(r.hi == 65535 ? Port() : r.hi + 1);
      default: return static_cast<uint16_t>(Int(r.lo, r.hi));
    }
  }

  IpAddress AnyAddress(bool v4) { return v4 ? V4Address() : V6Address(); }

  FlowKey RandomFlow(const Policy& p) {
    FlowKey f;
    bool v4 = Chance(0.5);
    if (Chance(0.15)) {
      // Unrelated to any rule.
      f.src = AnyAddress(v4);
      f.dst = AnyAddress(Chance(0.05) ? !v4 : v4);
      f.src_port = Port();
      f.dst_port = Port();
      f.proto = Chance(0.5) ? Protocol::kTcp : Protocol::kUdp;
      f.src_gateway = Pick(kFlowGatewayPool);
      f.dst_gateway = Pick(kFlowGatewayPool);
      return f;
    }
    // Near one rule's edges; each field is sometimes left random so that
    // the flow falls just outside the rule or into another one.
    const Rule& r = Pick(p.rules);
    bool have_src = false;
    if (r.src && Chance(0.9)) {
      f.src = EdgeAddress(Pick(*r.src));
      have_src = true;
      v4 = f.src.is_v4();
    }
    if (r.dst && Chance(0.9)) {
      f.dst = EdgeAddress(Pick(*r.dst));
      if (!have_src) f.src = AnyAddress(Chance(0.05) ? !f.dst.is_v4() : f.dst.is_v4());
    } else {
      if (!have_src) f.src = AnyAddress(v4);
      f.dst = AnyAddress(Chance(0.05) ? !f.src.is_v4() : f.src.is_v4());
    }
    f.src_port = r.src_ports && Chance(0.9) ? EdgePort(*r.src_ports) : Port();
    f.dst_port = r.dst_ports && Chance(0.9) ? EdgePort(*r.dst_ports) : Port();
    if (r.proto == ProtoMatch::kAny || Chance(0.2)) {
      f.proto = Chance(0.5) ? Protocol::kTcp : Protocol::kUdp;
    } else {
      f.proto = r.proto == ProtoMatch::kTcp ? Protocol::kTcp : Protocol::kUdp;
    }
    f.src_gateway = r.src_gateway && Chance(0.85) ? Pick(*r.src_gateway) : Pick(kFlowGatewayPool);
    f.dst_gateway = r.dst_gateway && Chance(0.85) ? Pick(*r.dst_gateway) : Pick(kFlowGatewayPool);
    return f;
  }

 private:
  std::mt19937_64 rng_;
};

std::string DescribeFlow(const FlowKey& f) {
  std::ostringstream s;
  s << f.src.ToString() << ":" << f.src_port << " -> " << f.dst.ToString() << ":" << f.dst_port << " "
    << (f.proto == Protocol::kTcp ? "tcp" : "udp") << " src_gateway=\"" << f.src_gateway << "\" dst_gateway=\""
    << f.dst_gateway << "\"";
  return s.str();
}

Decision Reference(const Policy& p, const FlowKey& f) {
  int rule = MatchesLinear(p, f);
  return Decision{rule >= 0 ? p.rules[static_cast<size_t>(rule)].action : p.default_action, rule};
}

std::string DescribeDecision(const Decision& d) {
  return std::string(ActionName(d.action)) + " by " + (d.is_default() ? "default" : "rule index " + std::to_string(d.rule));
}

// CompiledAgrees compiles `p` and compares one lookup with the reference.
bool CompiledAgrees(const Policy& p, const FlowKey& f) {
  absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(p);
  return t.ok() && (*t)->Lookup(f) == Reference(p, f);
}

// Minimize drops rules one at a time as long as the compiled table still
// disagrees with the reference on `f`.
Policy Minimize(Policy p, const FlowKey& f) {
  for (size_t i = p.rules.size(); i-- > 0;) {
    if (p.rules.size() == 1) break;
    Policy smaller = p;
    smaller.rules.erase(smaller.rules.begin() + static_cast<std::ptrdiff_t>(i));
    if (!CompiledAgrees(smaller, f)) p = std::move(smaller);
  }
  return p;
}

TEST(DifferentialTest, CompiledTableEqualsLinearScan) {
  const uint64_t seed = Seed();
  std::cout << "differential seed: " << seed << " (set BRAID_DIFF_SEED to change)" << std::endl;
  Generator gen(seed);
  int cases = 0;
  int mismatches = 0;
  int linear_mismatches = 0;
  int default_decisions = 0;
  int v6_flows = 0;
  for (int set = 0; set < kRuleSets; ++set) {
    Policy p = gen.RandomPolicy();
    absl::StatusOr<std::shared_ptr<const RuleTable>> compiled = sft::Compile(p);
    ASSERT_TRUE(compiled.ok()) << "seed " << seed << " set " << set << ": " << compiled.status();
    std::shared_ptr<const RuleTable> linear = sft::MakeLinearTable(p);
    ASSERT_NE(linear, nullptr);
    for (int i = 0; i < kFlowsPerRuleSet; ++i, ++cases) {
      FlowKey f = gen.RandomFlow(p);
      Decision want = Reference(p, f);
      if (want.is_default()) ++default_decisions;
      if (!f.src.is_v4()) ++v6_flows;
      Decision lin = linear->Lookup(f);
      if (lin != want) {
        ++linear_mismatches;
        if (linear_mismatches <= kMaxReportedMismatches) {
          ADD_FAILURE() << "MakeLinearTable disagrees with MatchesLinear: seed " << seed << " set " << set << " flow "
                        << i << ": " << DescribeFlow(f) << ": linear table " << DescribeDecision(lin)
                        << ", MatchesLinear " << DescribeDecision(want);
        }
      }
      Decision got = (*compiled)->Lookup(f);
      if (got != want) {
        ++mismatches;
        if (mismatches <= kMaxReportedMismatches) {
          Policy small = Minimize(p, f);
          absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(small);
          ADD_FAILURE() << "compiled table disagrees with MatchesLinear: seed " << seed << " set " << set
                        << " flow " << i << " (" << p.rules.size() << " rules)\n  flow: " << DescribeFlow(f)
                        << "\n  full set: compiled " << DescribeDecision(got) << ", reference "
                        << DescribeDecision(want) << "\n  reduced to " << small.rules.size()
                        << " rule(s): compiled " << (t.ok() ? DescribeDecision((*t)->Lookup(f)) : "error")
                        << ", reference " << DescribeDecision(Reference(small, f)) << "\n"
                        << PolicyToJson(small);
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "compiled mismatches in " << cases << " cases, seed " << seed;
  EXPECT_EQ(linear_mismatches, 0) << "linear table mismatches in " << cases << " cases, seed " << seed;
  EXPECT_GE(cases, 100000);
  // The generator must exercise both outcomes and both families, or the
  // test proves little.
  EXPECT_GT(default_decisions, cases / 20);
  EXPECT_LT(default_decisions, cases - cases / 5);
  EXPECT_GT(v6_flows, cases / 5);
  std::cout << cases << " cases, " << default_decisions << " decided by default, " << v6_flows << " IPv6" << std::endl;
}

// One larger table, in case the compiler changes strategy with size.
TEST(DifferentialTest, LargeRuleSet) {
  const uint64_t seed = Seed() + 1;
  Generator gen(seed);
  Policy p;
  p.name = "large";
  p.default_action = Action::kPermit;
  for (int i = 0; i < 4000; ++i) {
    p.rules.push_back(i > 0 && gen.Chance(0.2) ? gen.Variant(p.rules[static_cast<size_t>(gen.Int(0, i - 1))], i)
                                               : gen.RandomRule(i));
  }
  absl::StatusOr<std::shared_ptr<const RuleTable>> compiled = sft::Compile(p);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  int mismatches = 0;
  for (int i = 0; i < 20000; ++i) {
    FlowKey f = gen.RandomFlow(p);
    Decision want = Reference(p, f);
    Decision got = (*compiled)->Lookup(f);
    if (got != want && ++mismatches <= kMaxReportedMismatches) {
      ADD_FAILURE() << "seed " << seed << " flow " << i << ": " << DescribeFlow(f) << ": compiled "
                    << DescribeDecision(got) << ", reference " << DescribeDecision(want) << " (rule "
                    << (got.is_default() ? "default" : p.rules[static_cast<size_t>(got.rule)].id) << ")";
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace braid
