// PolicyStore: the gateway's current Security Filter Table, with a version.
//
// Readers (every flow open, on every worker thread) call Current() and get a
// snapshot they may keep as long as they like: a table and the version it
// came with, both immutable. Writers (SIGHUP reload, a controller push) call
// Update() with a fully compiled table, so a reader sees either the old
// policy or the new one, never part of each. There is no mutex: the snapshot
// pointer is a std::atomic<std::shared_ptr>, and a reader never waits on a
// writer for longer than that pointer copy.
#ifndef BRAID_POLICY_STORE_H_
#define BRAID_POLICY_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "braid/rule_table.h"

namespace braid {

struct PolicySnapshot {
  std::shared_ptr<const RuleTable> table;  // null: no policy, deny everything
  uint64_t version = 0;                     // 0 until the first Update

  // Decide looks the flow up, denying everything when there is no table.
  Decision Decide(const FlowKey& flow) const {
    return table ? table->Lookup(flow) : Decision{};
  }
  // DecideAnyDst decides a flow whose destination address is not known
  // (a target named by DNS, resolved by the far gateway): see
  // MatchesLinearAnyDst. Denies everything when there is no table.
  Decision DecideAnyDst(const FlowKey& flow) const {
    if (!table) return Decision{};
    const Policy& p = table->policy();
    const int rule = MatchesLinearAnyDst(p, flow);
    return rule < 0 ? Decision{p.default_action, Decision::kDefault} : Decision{p.rules[rule].action, rule};
  }
};

class PolicyStore {
 public:
  PolicyStore() : current_(std::make_shared<const PolicySnapshot>()) {}

  std::shared_ptr<const PolicySnapshot> Current() const { return current_.load(); }

  // Update installs `table` as the new current policy and returns the new
  // snapshot. With version 0 the store picks the previous version plus one;
  // a controller passes the version it assigned.
  std::shared_ptr<const PolicySnapshot> Update(std::shared_ptr<const RuleTable> table,
                                               uint64_t version = 0);

 private:
  std::atomic<std::shared_ptr<const PolicySnapshot>> current_;
};

}  // namespace braid

#endif  // BRAID_POLICY_STORE_H_
