#include "braid/policy_store.h"

#include <utility>

namespace braid {

std::shared_ptr<const PolicySnapshot> PolicyStore::Update(std::shared_ptr<const RuleTable> table,
                                                          uint64_t version) {
  std::shared_ptr<const PolicySnapshot> old = current_.load();
  std::shared_ptr<const PolicySnapshot> next;
  // Writers race only with each other (SIGHUP against a controller push);
  // the compare-exchange keeps automatic versions strictly increasing.
  do {
    auto snapshot = std::make_shared<PolicySnapshot>();
    snapshot->table = table;
    snapshot->version = version != 0 ? version : old->version + 1;
    next = std::move(snapshot);
  } while (!current_.compare_exchange_weak(old, next));
  return next;
}

}  // namespace braid
