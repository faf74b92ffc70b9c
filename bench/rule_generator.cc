// Synthetic rule sets and flows for the SFT benchmarks (see rule_generator.h
// for the shapes and why).
//
// The random numbers come from SplitMix64 with our own bounded draws rather
// than <random>'s distributions, whose output is left to each standard
// library: the same seed gives the same policy with any compiler.
#include "bench/rule_generator.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace braid::bench {
namespace {

// Rng: SplitMix64 (Steele, Lea and Flood, 2014). Small, fast, and good enough
// for test data.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0. The modulo bias is below 2^-40 for the n used
  // here, which does not matter for test data.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  // True with probability `percent` / 100.
  bool Percent(int percent) { return Below(100) < static_cast<uint64_t>(percent); }

  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

// Well-known service ports, roughly in the proportions ACLs name them.
constexpr std::array<uint16_t, 40> kServicePorts = {
    80,   443,  443,  22,   22,   53,   53,   25,   110,  143,  389,  636,  445,  3389,
    3306, 5432, 5432, 1433, 1521, 6379, 9092, 9093, 2181, 27017, 8080, 8443, 8000, 9000,
    123,  161,  162,  514,  873,  2049, 5060, 5672, 9200, 9300, 11211, 6443};

// Port ranges that ACLs commonly name.
constexpr std::array<PortRange, 10> kCommonRanges = {{{1024, 65535},
                                                      {0, 1023},
                                                      {49152, 65535},
                                                      {6000, 6063},
                                                      {8000, 8099},
                                                      {5060, 5061},
                                                      {3000, 3999},
                                                      {9092, 9094},
                                                      {7000, 7001},
                                                      {33434, 33534}}};

constexpr int kGatewayCount = 16;

std::string GatewayName(int i) {
  std::string name = "gw-00";
  name[3] = static_cast<char>('0' + i / 10);
  name[4] = static_cast<char>('0' + i % 10);
  return name;
}

// The address universe of a realistic rule set: "sites", each an IPv4 /16 or
// an IPv6 /48, that rules and flows cluster in.
struct Sites {
  std::vector<uint32_t> v4;                          // /16 bases
  std::vector<std::pair<uint64_t, uint64_t>> v6;     // /48 bases (hi, lo = 0)
};

Sites MakeSites(Rng& rng, size_t rule_count) {
  Sites sites;
  const size_t v4_count = 32 + rule_count / 128;
  for (size_t i = 0; i < v4_count; ++i) {
    // A quarter in private space, the rest anywhere in unicast 1-223.
    uint32_t first_octet;
    uint32_t second_octet = static_cast<uint32_t>(rng.Below(256));
    switch (rng.Below(8)) {
      case 0:
        first_octet = 10;
        break;
      case 1:
        first_octet = 172;
        second_octet = 16 + static_cast<uint32_t>(rng.Below(16));
        break;
      default:
        first_octet = 1 + static_cast<uint32_t>(rng.Below(223));
        break;
    }
    sites.v4.push_back(first_octet << 24 | second_octet << 16);
  }
  const size_t v6_count = 8 + rule_count / 2048;
  for (size_t i = 0; i < v6_count; ++i) {
    // 2001:db8:XXXX::/48 or a unique-local fdXX:XXXX:XXXX::/48.
    uint64_t hi = rng.Percent(50) ? (0x20010db8ULL << 32 | (rng.Below(0x10000) << 16))
                                  : (0xfdULL << 56 | (rng.Next() & 0x00ffffffffff0000ULL));
    sites.v6.emplace_back(hi, 0);
  }
  return sites;
}

// "r" + index. (Spelled out with append: GCC 12 warns falsely, -Wrestrict,
// about operator+ on a literal and a temporary string.)
std::string RuleId(size_t index) {
  std::string id = "r";
  id.append(std::to_string(index));
  return id;
}

Cidr V4Cidr(uint32_t addr, int len) { return Cidr(IpAddress::V4(addr).Masked(len), len); }

// A realistic IPv4 prefix: mostly /24 to /32, some shorter.
Cidr RealisticV4(Rng& rng, const Sites& sites) {
  const uint32_t addr = rng.Pick(sites.v4) | static_cast<uint32_t>(rng.Below(1 << 16));
  const uint64_t roll = rng.Below(100);
  int len;
  if (roll < 40) {
    len = 32;
  } else if (roll < 65) {
    len = 24;
  } else if (roll < 80) {
    len = static_cast<int>(rng.Between(25, 31));
  } else if (roll < 92) {
    len = static_cast<int>(rng.Between(17, 23));
  } else if (roll < 95) {
    len = 16;
  } else {
    len = static_cast<int>(rng.Between(8, 15));
  }
  return V4Cidr(addr, len);
}

Cidr RealisticV6(Rng& rng, const Sites& sites) {
  const auto [site_hi, site_lo] = rng.Pick(sites.v6);
  const IpAddress addr = IpAddress::V6(site_hi | (rng.Next() & 0xffff), rng.Next());
  const uint64_t roll = rng.Below(100);
  int len = roll < 40 ? 128 : roll < 70 ? 64 : roll < 85 ? 48 : roll < 95 ? 56 : 32;
  (void)site_lo;
  return Cidr(addr.Masked(len), len);
}

std::vector<Cidr> RealisticCidrList(Rng& rng, const Sites& sites, bool v6) {
  const uint64_t roll = rng.Below(100);
  const int count = roll < 88 ? 1 : roll < 98 ? 2 : 3;
  std::vector<Cidr> list;
  for (int i = 0; i < count; ++i) list.push_back(v6 ? RealisticV6(rng, sites) : RealisticV4(rng, sites));
  return list;
}

PortRange Exact(uint16_t port) { return PortRange{port, port}; }

std::vector<PortRange> RealisticDstPorts(Rng& rng) {
  const uint64_t roll = rng.Below(100);
  if (roll < 72) {
    return {Exact(rng.Percent(80) ? rng.Pick(kServicePorts)
                                  : static_cast<uint16_t>(rng.Between(1, 65535)))};
  }
  if (roll < 87) {
    if (rng.Percent(60)) return {rng.Pick(kCommonRanges)};
    const auto lo = static_cast<uint16_t>(rng.Between(1024, 60000));
    return {PortRange{lo, static_cast<uint16_t>(lo + rng.Between(1, 1000))}};
  }
  std::vector<PortRange> list;
  const int count = static_cast<int>(rng.Between(2, 3));
  for (int i = 0; i < count; ++i) list.push_back(Exact(rng.Pick(kServicePorts)));
  return list;
}

std::vector<std::string> GatewayList(Rng& rng) {
  std::vector<std::string> list = {GatewayName(static_cast<int>(rng.Below(kGatewayCount)))};
  if (rng.Percent(20)) list.push_back(GatewayName(static_cast<int>(rng.Below(kGatewayCount))));
  if (list.size() == 2 && list[0] == list[1]) list.pop_back();
  return list;
}

Rule RealisticRule(Rng& rng, const Sites& sites, size_t index) {
  Rule rule;
  rule.id = RuleId(index);
  rule.action = rng.Percent(55) ? Action::kPermit : Action::kDeny;
  const uint64_t proto = rng.Below(100);
  rule.proto = proto < 65 ? ProtoMatch::kTcp : proto < 90 ? ProtoMatch::kUdp : ProtoMatch::kAny;
  const bool v6 = rng.Percent(3);
  // A small fraction of wildcards, but never both addresses at once: an ACL
  // entry open on both sides is rare, and one early in the list would decide
  // most flows by itself.
  const bool src_wild = rng.Percent(5);
  const bool dst_wild = !src_wild && rng.Percent(3);
  if (!src_wild) rule.src = RealisticCidrList(rng, sites, v6);
  if (!dst_wild) rule.dst = RealisticCidrList(rng, sites, v6);
  if (!rng.Percent(10)) rule.dst_ports = RealisticDstPorts(rng);
  const uint64_t src_ports = rng.Below(100);
  if (src_ports < 5) {
    rule.src_ports = std::vector<PortRange>{{1024, 65535}};
  } else if (src_ports < 8) {
    rule.src_ports = std::vector<PortRange>{Exact(rng.Percent(50) ? 53 : 123)};
  }
  if (rng.Percent(20)) rule.src_gateway = GatewayList(rng);
  if (rng.Percent(20)) rule.dst_gateway = GatewayList(rng);
  return rule;
}

// An adversarial rule: uniform prefix lengths, random ports.
Rule AdversarialRule(Rng& rng, size_t index) {
  Rule rule;
  rule.id = RuleId(index);
  rule.action = rng.Percent(50) ? Action::kPermit : Action::kDeny;
  rule.proto = static_cast<ProtoMatch>(rng.Below(3));
  rule.src = std::vector<Cidr>{V4Cidr(static_cast<uint32_t>(rng.Next()), static_cast<int>(rng.Between(0, 32)))};
  rule.dst = std::vector<Cidr>{V4Cidr(static_cast<uint32_t>(rng.Next()), static_cast<int>(rng.Between(0, 32)))};
  auto random_range = [&rng]() {
    auto a = static_cast<uint16_t>(rng.Below(65536)), b = static_cast<uint16_t>(rng.Below(65536));
    return PortRange{std::min(a, b), std::max(a, b)};
  };
  rule.dst_ports = std::vector<PortRange>{rng.Percent(50) ? Exact(static_cast<uint16_t>(rng.Below(65536)))
                                                          : random_range()};
  if (rng.Percent(50)) rule.src_ports = std::vector<PortRange>{random_range()};
  return rule;
}

// A random address inside `cidr`.
IpAddress AddressIn(Rng& rng, const Cidr& cidr) {
  const IpAddress net = cidr.network();
  const IpAddress last = cidr.broadcast();
  if (net.is_v4()) {
    const uint32_t host_mask = net.v4() ^ last.v4();
    return IpAddress::V4(net.v4() | (static_cast<uint32_t>(rng.Next()) & host_mask));
  }
  return IpAddress::V6(net.hi() | (rng.Next() & (net.hi() ^ last.hi())),
                       net.lo() | (rng.Next() & (net.lo() ^ last.lo())));
}

uint16_t PortIn(Rng& rng, const PortRange& range) {
  return static_cast<uint16_t>(rng.Between(range.lo, range.hi));
}

// Where a flow's unconstrained fields come from: the addresses and ports
// that the policy itself names, so that flows look like the traffic the
// policy was written for.
class FlowSource {
 public:
  FlowSource(const Policy& policy, Rng& rng) : rng_(rng) {
    for (const Rule& rule : policy.rules) {
      for (const auto* list : {&rule.src, &rule.dst}) {
        if (!*list) continue;
        for (const Cidr& c : **list) (c.family() == AddressFamily::kV4 ? v4_ : v6_).push_back(c);
      }
    }
    has_v6_ = !v6_.empty();
    if (v4_.empty()) v4_.push_back(Cidr(IpAddress::V4(0), 0));
    if (v6_.empty()) v6_.push_back(Cidr(IpAddress::V6(0, 0), 0));
  }

  IpAddress Address(AddressFamily family) {
    return AddressIn(rng_, rng_.Pick(family == AddressFamily::kV4 ? v4_ : v6_));
  }
  uint16_t DstPort() {
    return rng_.Percent(70) ? rng_.Pick(kServicePorts) : static_cast<uint16_t>(rng_.Below(65536));
  }
  uint16_t SrcPort() { return static_cast<uint16_t>(rng_.Between(1024, 65535)); }
  Protocol Proto() { return rng_.Percent(70) ? Protocol::kTcp : Protocol::kUdp; }
  std::string Gateway() { return GatewayName(static_cast<int>(rng_.Below(kGatewayCount))); }

  // A flow inside `rule`: every present field matches.
  FlowKey Inside(const Rule& rule) {
    FlowKey flow;
    AddressFamily family = AddressFamily::kV4;
    if (rule.src) family = rule.src->front().family();
    if (!rule.src && rule.dst) family = rule.dst->front().family();
    flow.src = rule.src ? AddressIn(rng_, rng_.Pick(*rule.src)) : Address(family);
    flow.dst = rule.dst ? AddressIn(rng_, rng_.Pick(*rule.dst)) : Address(family);
    flow.src_port = rule.src_ports ? PortIn(rng_, rng_.Pick(*rule.src_ports)) : SrcPort();
    flow.dst_port = rule.dst_ports ? PortIn(rng_, rng_.Pick(*rule.dst_ports)) : DstPort();
    flow.proto = rule.proto == ProtoMatch::kTcp   ? Protocol::kTcp
                 : rule.proto == ProtoMatch::kUdp ? Protocol::kUdp
                                                  : Proto();
    flow.src_gateway = rule.src_gateway ? rng_.Pick(*rule.src_gateway) : Gateway();
    flow.dst_gateway = rule.dst_gateway ? rng_.Pick(*rule.dst_gateway) : Gateway();
    return flow;
  }

  // A near miss: addresses and ports from the policy's own vocabulary,
  // combined at random, so the matcher has to look before it can say no.
  FlowKey NearMiss() {
    FlowKey flow;
    // IPv6 flows only where the policy has IPv6 rules: elsewhere they would
    // be free misses.
    const AddressFamily family = has_v6_ && rng_.Percent(3) ? AddressFamily::kV6 : AddressFamily::kV4;
    flow.src = Address(family);
    flow.dst = Address(family);
    flow.src_port = SrcPort();
    flow.dst_port = DstPort();
    flow.proto = Proto();
    flow.src_gateway = Gateway();
    flow.dst_gateway = Gateway();
    return flow;
  }

  // A flow from nowhere the policy names: uniform addresses.
  FlowKey Stranger() {
    FlowKey flow = NearMiss();
    if (flow.src.is_v4()) {
      flow.src = IpAddress::V4(static_cast<uint32_t>(rng_.Next()));
      flow.dst = IpAddress::V4(static_cast<uint32_t>(rng_.Next()));
    } else {
      flow.src = IpAddress::V6(rng_.Next(), rng_.Next());
      flow.dst = IpAddress::V6(rng_.Next(), rng_.Next());
    }
    return flow;
  }

 private:
  Rng& rng_;
  std::vector<Cidr> v4_, v6_;
  bool has_v6_ = false;
};

}  // namespace

std::string_view RuleSetKindName(RuleSetKind kind) {
  return kind == RuleSetKind::kRealistic ? "realistic" : "adversarial";
}

Policy GenerateRules(RuleSetKind kind, size_t rule_count, uint64_t seed) {
  Rng rng(seed ^ (kind == RuleSetKind::kRealistic ? 0x5245414cULL : 0x41445645ULL));
  Policy policy;
  policy.name = std::string(RuleSetKindName(kind)) + "-" + std::to_string(rule_count);
  policy.default_action = Action::kDeny;
  policy.rules.reserve(rule_count);
  if (kind == RuleSetKind::kRealistic) {
    const Sites sites = MakeSites(rng, rule_count);
    for (size_t i = 0; i < rule_count; ++i) policy.rules.push_back(RealisticRule(rng, sites, i));
  } else {
    for (size_t i = 0; i < rule_count; ++i) policy.rules.push_back(AdversarialRule(rng, i));
  }
  return policy;
}

FlowSet GenerateFlows(const Policy& policy, size_t flow_count, uint64_t seed,
                      const std::function<bool(const FlowKey&)>& is_default) {
  constexpr int kMissTries = 64;
  Rng rng(seed ^ 0x464c4f57ULL);
  FlowSource source(policy, rng);
  FlowSet set;
  set.flows.reserve(flow_count);
  for (size_t i = 0; i < flow_count; ++i) {
    if (i % 2 == 0 && !policy.rules.empty()) {
      set.flows.push_back(source.Inside(policy.rules[rng.Below(policy.rules.size())]));
      ++set.hits;
      continue;
    }
    FlowKey flow;
    bool missed = false;
    for (int t = 0; t < kMissTries && !missed; ++t) {
      flow = t < kMissTries / 2 ? source.NearMiss() : source.Stranger();
      missed = is_default(flow);
    }
    set.flows.push_back(std::move(flow));
    ++(missed ? set.misses : set.hits);
  }
  // Shuffle (Fisher-Yates) so hits and misses do not alternate in a pattern
  // a branch predictor could learn.
  for (size_t i = set.flows.size(); i > 1; --i) std::swap(set.flows[i - 1], set.flows[rng.Below(i)]);
  return set;
}

}  // namespace braid::bench
