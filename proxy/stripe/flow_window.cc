#include "proxy/stripe/flow_window.h"

#include <algorithm>
#include <utility>

namespace braid::proxy {

FlowWindow::FlowWindow(Options options, std::shared_ptr<WindowBudget> budget)
    : options_{options.initial_bytes, std::max(options.max_bytes, options.initial_bytes)},
      budget_(std::move(budget)),
      bytes_(options.initial_bytes) {}

FlowWindow::~FlowWindow() {
  if (budget_) budget_->Release(charged_);
}

void FlowWindow::OnCreditDue(Clock::time_point now, Clock::duration round_trip) {
  const std::optional<Clock::time_point> previous = std::exchange(last_grant_, now);
  if (!previous || round_trip <= Clock::duration::zero() || !budget_) return;
  if (now - *previous >= 2 * round_trip || bytes_ >= options_.max_bytes) return;
  const uint32_t target = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{bytes_} * 2, options_.max_bytes));
  // Only the part of the growth that the charge does not already cover (a
  // window that shrank while its old credit was still outstanding) is new.
  const uint64_t need = target - options_.initial_bytes;
  const uint64_t got = need > charged_ ? budget_->Reserve(need - charged_) : 0;
  charged_ += got;
  // Never below initial_bytes: target is not, and neither is initial + charge.
  bytes_ = static_cast<uint32_t>(std::min<uint64_t>(target, options_.initial_bytes + charged_));
}

void FlowWindow::OnIdle(uint64_t outstanding) {
  bytes_ = options_.initial_bytes;
  last_grant_.reset();
  Settle(outstanding);
}

void FlowWindow::Settle(uint64_t outstanding) {
  const uint64_t need = std::max<uint64_t>(bytes_, outstanding);
  const uint64_t keep = need > options_.initial_bytes ? need - options_.initial_bytes : 0;
  if (keep >= charged_) return;
  if (budget_) budget_->Release(charged_ - keep);
  charged_ = keep;
}

}  // namespace braid::proxy
