// TupleTable: the compiled Security Filter Table, a tuple-space classifier.
//
// Why tuple space. The classic designs each fail one of our constraints:
// per-field bit vectors (Lakshman/Stiliadis) need one N-bit vector per
// elementary interval, O(N^2) memory, about 1 GB at 64K rules; decision trees
// (HiCuts, HyperCuts) replicate wildcard rules into many leaves and their
// build time is hard to bound; RFC-style cross-producting explodes the same
// way. Tuple-space search (Srinivasan et al., as refined by TupleMerge, Daly
// and Torng 2017) keeps memory linear in the rules, compiles in one pass,
// and its lookup cost is bounded by the number of tuples, not rules.
//
// Data model. Every rule is expanded into entries, one per (src CIDR, dst
// CIDR, dst port) combination. An entry lives in the tuple named by (source
// and destination address family, source and destination prefix length
// rounded DOWN to a coarse level, whether the port is exact); inside a
// tuple, entries are hashed by (src masked to the level, dst masked to the
// level, exact port or 0). Rounding the lengths down (the TupleMerge idea)
// caps the tuple count (5 x 5 levels x 2 port kinds per family pair) at the
// price of a few extra candidates per bucket, which are checked exactly.
//
// Lookup. For each tuple of the flow's family pair, mask the flow's
// addresses, probe a one-bit-per-slot filter (so the common miss costs one
// hash and one bit), then the hash map; a hit yields a bucket of candidate
// rules in policy order, each checked against every field of the rule.
// Tuples are sorted by the smallest rule index they hold, buckets by rule
// index, and the search stops as soon as no remaining candidate can beat the
// best match found: the answer is the first match, exactly as a linear scan
// would give (tests/sft/differential_test.cc holds it to that).
//
// A rule whose lists would expand to more than kMaxEntriesPerRule entries is
// entered once in the widest tuple instead: still exact, only slower.
//
// Thread-safety: immutable after construction; Lookup is const and may run
// on any number of threads at once.
#ifndef BRAID_SFT_TUPLE_TABLE_H_
#define BRAID_SFT_TUPLE_TABLE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "braid/rule_table.h"

namespace braid::sft {

class TupleTable final : public RuleTable {
 public:
  explicit TupleTable(Policy policy);

  Decision Lookup(const FlowKey& flow) const override;
  const Policy& policy() const override { return policy_; }
  size_t MemoryUsage() const override;

  // ForEachCandidate calls `fn` with the index of every rule that may match
  // `flow`, each possibly more than once and in no particular order; every
  // rule that does match is among them. Lint uses it to find covering rules
  // without comparing every pair.
  void ForEachCandidate(const FlowKey& flow, absl::FunctionRef<void(uint32_t)> fn) const;

  // Number of tuples that hold at least one entry (for benchmarks).
  size_t tuple_count() const;

  static constexpr size_t kMaxEntriesPerRule = 4096;

 private:
  // An address block prepared for matching: (addr & mask) == net.
  struct Net {
    uint64_t net_hi, net_lo, mask_hi, mask_lo;
    AddressFamily family;
  };
  // Index range into one of the flat arrays below; count 0 = field absent.
  struct Span {
    uint32_t begin = 0;
    uint32_t count = 0;
  };
  struct CompiledRule {
    Span src, dst, src_ports, dst_ports, src_gateways, dst_gateways;
    ProtoMatch proto;
  };
  struct Key {
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint32_t port;
    friend bool operator==(const Key&, const Key&) = default;
  };
  // A key with its hash, computed once per tuple probe and used for both the
  // filter and the map (a heterogeneous lookup, so the map does not hash the
  // key again).
  struct HashedKey {
    const Key& key;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const Key& k) const { return HashOf(k); }
    size_t operator()(const HashedKey& k) const { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const Key& a, const Key& b) const { return a == b; }
    bool operator()(const HashedKey& a, const Key& b) const { return a.key == b; }
    bool operator()(const Key& a, const HashedKey& b) const { return a == b.key; }
  };
  struct Tuple {
    uint8_t src_len = 0, dst_len = 0;
    bool exact_port = false;
    uint32_t min_rule = UINT32_MAX;
    std::vector<uint64_t> filter;  // one bit per hash slot, size a power of two
    absl::flat_hash_map<Key, Span, KeyHash, KeyEq> buckets;  // spans into bucket_rules_
  };
  // The tuples of one (src family, dst family) pair, sorted by min_rule.
  using TupleGroup = std::vector<Tuple>;

  static int GroupIndex(AddressFamily src, AddressFamily dst) {
    return (src == AddressFamily::kV6 ? 2 : 0) + (dst == AddressFamily::kV6 ? 1 : 0);
  }
  static Key MakeKey(const IpAddress& src, const IpAddress& dst, int src_len, int dst_len, uint32_t port);
  // HashOf is a multiply-xorshift mix: a few cycles, and good enough for
  // keys that are masked addresses (absl's hash costs several times more,
  // and a lookup computes one hash per tuple).
  static size_t HashOf(const Key& k);
  static size_t FilterBit(size_t hash, size_t bits) { return (hash >> 32) & (bits - 1); }

  void Build();
  bool Matches(const CompiledRule& rule, const FlowKey& flow, uint32_t src_gw, uint32_t dst_gw) const;
  uint32_t GatewayId(const std::string& name) const;

  Policy policy_;
  std::vector<CompiledRule> rules_;
  std::vector<Net> nets_;
  std::vector<PortRange> ports_;
  std::vector<uint32_t> gateways_;  // interned ids
  absl::flat_hash_map<std::string, uint32_t> gateway_ids_;
  std::vector<uint32_t> bucket_rules_;
  std::array<TupleGroup, 4> groups_;
};

}  // namespace braid::sft

#endif  // BRAID_SFT_TUPLE_TABLE_H_
