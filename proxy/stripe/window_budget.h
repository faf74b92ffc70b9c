// WindowBudget: how many bytes of receive window the flows of a tunnel, or
// of a whole gateway, may hold beyond their initial windows.
//
// A flow's receive window is also the most the peer can make this gateway
// buffer for it (ReassemblyBuffer). Windows start at flow_window_bytes and
// grow on long links (FlowWindow); every byte of growth is reserved here
// first, in the flow's tunnel budget and, through it, in the gateway's. So
// whatever the peers send, the receive buffers of all flows together stay
// within
//   live flows x flow_window_bytes + the gateway budget,
// never live flows x the largest window. A reservation that the budget
// cannot cover in full gets what is left (possibly nothing): the flow then
// simply grows less.
//
// Budgets nest: a tunnel's budget has the gateway's as its parent, and a
// reservation must fit in both. They are shared_ptrs so that a flow, which
// may outlive its tunnel by a few event-loop turns, can always give back
// what it holds.
//
// Thread-safety: none; every budget and every flow window lives on the
// control worker.
#ifndef BRAID_PROXY_STRIPE_WINDOW_BUDGET_H_
#define BRAID_PROXY_STRIPE_WINDOW_BUDGET_H_

#include <algorithm>
#include <cstdint>
#include <memory>

namespace braid::proxy {

class WindowBudget {
 public:
  explicit WindowBudget(uint64_t limit, std::shared_ptr<WindowBudget> parent = nullptr)
      : limit_(limit), parent_(std::move(parent)) {}
  WindowBudget(const WindowBudget&) = delete;
  WindowBudget& operator=(const WindowBudget&) = delete;

  // Reserve takes up to `want` bytes from this budget and every parent, and
  // returns how many it took (0 when any of them is spent).
  uint64_t Reserve(uint64_t want) {
    const uint64_t got = std::min(want, available());
    Charge(got);
    return got;
  }
  // Release gives back bytes taken by Reserve.
  void Release(uint64_t bytes) {
    for (WindowBudget* b = this; b != nullptr; b = b->parent_.get()) b->used_ -= std::min(bytes, b->used_);
  }
  // What a Reserve could take now: the least room along the chain.
  uint64_t available() const {
    uint64_t room = UINT64_MAX;
    for (const WindowBudget* b = this; b != nullptr; b = b->parent_.get()) {
      room = std::min(room, b->limit_ > b->used_ ? b->limit_ - b->used_ : 0);
    }
    return room;
  }
  // SetLimit takes a new limit (a reload). Reservations above it stay until
  // they are released; nothing new is reserved until used() is below it.
  void SetLimit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }

 private:
  void Charge(uint64_t bytes) {
    for (WindowBudget* b = this; b != nullptr; b = b->parent_.get()) b->used_ += bytes;
  }

  uint64_t limit_;
  uint64_t used_ = 0;
  const std::shared_ptr<WindowBudget> parent_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_STRIPE_WINDOW_BUDGET_H_
