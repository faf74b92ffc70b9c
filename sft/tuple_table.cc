#include "sft/tuple_table.h"

#include <algorithm>
#include <bit>


namespace braid::sft {
namespace {

constexpr uint32_t kNoRule = UINT32_MAX;
constexpr uint32_t kUnknownGateway = UINT32_MAX;
constexpr int kLevels = 5;
// Coarse prefix lengths. IPv4 policies use every octet boundary; IPv6
// policies cluster at provider (/32), site (/48), subnet (/64) and host.
constexpr std::array<int, kLevels> kV4Levels = {0, 8, 16, 24, 32};
constexpr std::array<int, kLevels> kV6Levels = {0, 32, 48, 64, 128};

// LevelIndex returns the index of the largest level not above `len`.
int LevelIndex(int len, AddressFamily family) {
  const auto& levels = family == AddressFamily::kV4 ? kV4Levels : kV6Levels;
  int i = kLevels - 1;
  while (levels[i] > len) --i;
  return i;
}

int LevelLength(int index, AddressFamily family) {
  return (family == AddressFamily::kV4 ? kV4Levels : kV6Levels)[index];
}

Cidr AnyOf(AddressFamily family) {
  return Cidr(family == AddressFamily::kV4 ? IpAddress::V4(0) : IpAddress::V6(0, 0), 0);
}

}  // namespace

TupleTable::TupleTable(Policy policy) : policy_(std::move(policy)) { Build(); }

TupleTable::Key TupleTable::MakeKey(const IpAddress& src, const IpAddress& dst, int src_len, int dst_len,
                                    uint32_t port) {
  const IpAddress s = src.Masked(src_len), d = dst.Masked(dst_len);
  return Key{s.hi(), s.lo(), d.hi(), d.lo(), port};
}

size_t TupleTable::HashOf(const Key& k) {
  auto mix = [](uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
  };
  uint64_t h = mix(0x243f6a8885a308d3ull, k.src_lo);
  h = mix(h, k.dst_lo);
  h = mix(h, k.port);
  if (k.src_hi | k.dst_hi) h = mix(mix(h, k.src_hi), k.dst_hi);
  return static_cast<size_t>(h * 0xbf58476d1ce4e5b9ull);
}

void TupleTable::Build() {
  // Staging area: for each family pair, 5 x 5 levels x 2 port kinds tuples,
  // each a map from key to the rules entered under it, in policy order.
  using Staging = absl::flat_hash_map<Key, std::vector<uint32_t>, KeyHash, KeyEq>;
  constexpr int kTuplesPerGroup = kLevels * kLevels * 2;
  std::vector<Staging> staging(4 * kTuplesPerGroup);
  std::vector<uint32_t> min_rule(staging.size(), kNoRule);

  auto add_span = [](auto& flat, const auto& list) {
    Span span;
    span.begin = static_cast<uint32_t>(flat.size());
    span.count = static_cast<uint32_t>(list ? list->size() : 0);
    return span;
  };
  auto intern = [this](const std::string& name) {
    auto [it, inserted] = gateway_ids_.emplace(name, static_cast<uint32_t>(gateway_ids_.size()));
    return it->second;
  };

  rules_.reserve(policy_.rules.size());
  for (uint32_t r = 0; r < policy_.rules.size(); ++r) {
    const Rule& rule = policy_.rules[r];
    CompiledRule c;
    c.proto = rule.proto;
    for (auto [list, span] : {std::pair{&rule.src, &c.src}, std::pair{&rule.dst, &c.dst}}) {
      *span = add_span(nets_, *list);
      if (!*list) continue;
      for (const Cidr& cidr : **list) {
        const IpAddress net = cidr.network(), mask = cidr.broadcast();
        // mask = ~(broadcast ^ network) restricted to the family's width.
        const bool v4 = cidr.family() == AddressFamily::kV4;
        Net n{net.hi(), net.lo(), v4 ? 0 : ~(mask.hi() ^ net.hi()),
              v4 ? ~(mask.lo() ^ net.lo()) & 0xffffffffu : ~(mask.lo() ^ net.lo()), cidr.family()};
        nets_.push_back(n);
      }
    }
    for (auto [list, span] : {std::pair{&rule.src_ports, &c.src_ports}, std::pair{&rule.dst_ports, &c.dst_ports}}) {
      *span = add_span(ports_, *list);
      if (*list) ports_.insert(ports_.end(), (*list)->begin(), (*list)->end());
    }
    for (auto [list, span] :
         {std::pair{&rule.src_gateway, &c.src_gateways}, std::pair{&rule.dst_gateway, &c.dst_gateways}}) {
      *span = add_span(gateways_, *list);
      if (*list) {
        for (const std::string& name : **list) gateways_.push_back(intern(name));
      }
    }
    rules_.push_back(c);

    // Expand the rule into entries, per family pair.
    std::vector<uint32_t> exact_ports;
    bool any_port = !rule.dst_ports;
    if (rule.dst_ports) {
      for (const PortRange& p : *rule.dst_ports) {
        if (p.lo == p.hi) {
          exact_ports.push_back(p.lo);
        } else {
          any_port = true;
        }
      }
    }
    for (AddressFamily fs : {AddressFamily::kV4, AddressFamily::kV6}) {
      for (AddressFamily fd : {AddressFamily::kV4, AddressFamily::kV6}) {
        auto of_family = [](const std::optional<std::vector<Cidr>>& list, AddressFamily f) {
          std::vector<Cidr> out;
          if (!list) return std::vector<Cidr>{AnyOf(f)};
          for (const Cidr& cidr : *list) {
            if (cidr.family() == f) out.push_back(cidr);
          }
          return out;
        };
        const std::vector<Cidr> srcs = of_family(rule.src, fs), dsts = of_family(rule.dst, fd);
        if (srcs.empty() || dsts.empty()) continue;  // this rule never matches this pair
        const int group = GroupIndex(fs, fd);
        auto enter = [&](const Cidr& s, const Cidr& d, bool exact, uint32_t port) {
          const int ls = LevelIndex(s.prefix_len(), fs), ld = LevelIndex(d.prefix_len(), fd);
          const size_t t = group * kTuplesPerGroup + (ls * kLevels + ld) * 2 + (exact ? 1 : 0);
          std::vector<uint32_t>& bucket = staging[t][MakeKey(s.network(), d.network(), LevelLength(ls, fs),
                                                             LevelLength(ld, fd), port)];
          if (bucket.empty() || bucket.back() != r) bucket.push_back(r);
          min_rule[t] = std::min(min_rule[t], r);
        };
        const size_t per_pair = exact_ports.size() + (any_port ? 1 : 0);
        if (srcs.size() * dsts.size() * per_pair > kMaxEntriesPerRule) {
          enter(AnyOf(fs), AnyOf(fd), false, 0);
          continue;
        }
        for (const Cidr& s : srcs) {
          for (const Cidr& d : dsts) {
            for (uint32_t port : exact_ports) enter(s, d, true, port);
            if (any_port) enter(s, d, false, 0);
          }
        }
      }
    }
  }

  // Freeze the staging maps into tuples with flat buckets and filters.
  for (int g = 0; g < 4; ++g) {
    const AddressFamily fs = g & 2 ? AddressFamily::kV6 : AddressFamily::kV4;
    const AddressFamily fd = g & 1 ? AddressFamily::kV6 : AddressFamily::kV4;
    for (int i = 0; i < kTuplesPerGroup; ++i) {
      const size_t t = g * kTuplesPerGroup + i;
      if (staging[t].empty()) continue;
      Tuple tuple;
      tuple.src_len = static_cast<uint8_t>(LevelLength(i / 2 / kLevels, fs));
      tuple.dst_len = static_cast<uint8_t>(LevelLength(i / 2 % kLevels, fd));
      tuple.exact_port = i % 2 == 1;
      tuple.min_rule = min_rule[t];
      const size_t bits = std::max<size_t>(64, std::bit_ceil(staging[t].size() * 8));
      tuple.filter.assign(bits / 64, 0);
      tuple.buckets.reserve(staging[t].size());
      for (auto& [key, rules] : staging[t]) {
        const size_t bit = FilterBit(HashOf(key), bits);
        tuple.filter[bit / 64] |= uint64_t{1} << (bit % 64);
        Span span{static_cast<uint32_t>(bucket_rules_.size()), static_cast<uint32_t>(rules.size())};
        bucket_rules_.insert(bucket_rules_.end(), rules.begin(), rules.end());
        tuple.buckets.emplace(key, span);
      }
      staging[t] = Staging();  // release memory as we go
      groups_[g].push_back(std::move(tuple));
    }
    std::sort(groups_[g].begin(), groups_[g].end(),
              [](const Tuple& a, const Tuple& b) { return a.min_rule < b.min_rule; });
  }
  bucket_rules_.shrink_to_fit();
}

uint32_t TupleTable::GatewayId(const std::string& name) const {
  auto it = gateway_ids_.find(name);
  return it == gateway_ids_.end() ? kUnknownGateway : it->second;
}

bool TupleTable::Matches(const CompiledRule& rule, const FlowKey& flow, uint32_t src_gw,
                         uint32_t dst_gw) const {
  auto in_nets = [this](Span span, const IpAddress& a) {
    if (span.count == 0) return true;
    for (uint32_t i = span.begin; i < span.begin + span.count; ++i) {
      const Net& n = nets_[i];
      if (n.family == a.family() && (a.hi() & n.mask_hi) == n.net_hi && (a.lo() & n.mask_lo) == n.net_lo) {
        return true;
      }
    }
    return false;
  };
  auto in_ports = [this](Span span, uint16_t port) {
    if (span.count == 0) return true;
    for (uint32_t i = span.begin; i < span.begin + span.count; ++i) {
      if (ports_[i].Contains(port)) return true;
    }
    return false;
  };
  auto in_gateways = [this](Span span, uint32_t id) {
    if (span.count == 0) return true;
    const auto first = gateways_.begin() + span.begin;
    return std::find(first, first + span.count, id) != first + span.count;
  };
  if (rule.proto == ProtoMatch::kTcp && flow.proto != Protocol::kTcp) return false;
  if (rule.proto == ProtoMatch::kUdp && flow.proto != Protocol::kUdp) return false;
  return in_ports(rule.dst_ports, flow.dst_port) && in_ports(rule.src_ports, flow.src_port) &&
         in_nets(rule.src, flow.src) && in_nets(rule.dst, flow.dst) &&
         in_gateways(rule.src_gateways, src_gw) && in_gateways(rule.dst_gateways, dst_gw);
}

Decision TupleTable::Lookup(const FlowKey& flow) const {
  uint32_t src_gw = kUnknownGateway, dst_gw = kUnknownGateway;
  if (!gateway_ids_.empty()) {
    src_gw = GatewayId(flow.src_gateway);
    dst_gw = GatewayId(flow.dst_gateway);
  }
  uint32_t best = kNoRule;
  for (const Tuple& t : groups_[GroupIndex(flow.src.family(), flow.dst.family())]) {
    if (t.min_rule >= best) break;  // sorted: no later tuple can do better
    const Key key = MakeKey(flow.src, flow.dst, t.src_len, t.dst_len, t.exact_port ? flow.dst_port : 0);
    const size_t hash = HashOf(key);
    const size_t bit = FilterBit(hash, t.filter.size() * 64);
    if (!(t.filter[bit / 64] >> (bit % 64) & 1)) continue;
    auto it = t.buckets.find(HashedKey{key, hash});
    if (it == t.buckets.end()) continue;
    for (uint32_t i = it->second.begin; i < it->second.begin + it->second.count; ++i) {
      const uint32_t r = bucket_rules_[i];
      if (r >= best) break;
      if (Matches(rules_[r], flow, src_gw, dst_gw)) {
        best = r;
        break;
      }
    }
  }
  if (best == kNoRule) return Decision{policy_.default_action, Decision::kDefault};
  return Decision{policy_.rules[best].action, static_cast<int32_t>(best)};
}

void TupleTable::ForEachCandidate(const FlowKey& flow, absl::FunctionRef<void(uint32_t)> fn) const {
  for (const Tuple& t : groups_[GroupIndex(flow.src.family(), flow.dst.family())]) {
    const Key key = MakeKey(flow.src, flow.dst, t.src_len, t.dst_len, t.exact_port ? flow.dst_port : 0);
    auto it = t.buckets.find(key);
    if (it == t.buckets.end()) continue;
    for (uint32_t i = it->second.begin; i < it->second.begin + it->second.count; ++i) fn(bucket_rules_[i]);
  }
}

size_t TupleTable::tuple_count() const {
  size_t n = 0;
  for (const TupleGroup& g : groups_) n += g.size();
  return n;
}

size_t TupleTable::MemoryUsage() const {
  size_t bytes = rules_.capacity() * sizeof(CompiledRule) + nets_.capacity() * sizeof(Net) +
                 ports_.capacity() * sizeof(PortRange) + gateways_.capacity() * sizeof(uint32_t) +
                 bucket_rules_.capacity() * sizeof(uint32_t);
  for (const auto& [name, id] : gateway_ids_) bytes += sizeof(std::pair<std::string, uint32_t>) + name.capacity() + 1;
  for (const TupleGroup& g : groups_) {
    for (const Tuple& t : g) {
      bytes += sizeof(Tuple) + t.filter.capacity() * sizeof(uint64_t) +
               t.buckets.capacity() * (sizeof(std::pair<const Key, Span>) + 1);
    }
  }
  return bytes;
}

}  // namespace braid::sft
