// FlowWindow: the receive window of one direction of one flow, sized to the
// link it crosses.
//
// The window is the credit a receiver grants ahead of what its host has
// consumed, so one flow can carry at most about window / round trip. A
// fixed window is either too small for a long link (4 MiB over 40 ms is
// 0.8 Gbit/s at best) or too large to give every flow. So, as QUIC
// receivers do (Chromium's QuicFlowController, quiche's
// FlowController::MaybeAutoTuneWindow), the window starts small and grows
// while it limits the flow:
//   - the receiver grants new credit each time half of the window has been
//     consumed (ReassemblyBuffer::CreditDue);
//   - if that moment comes less than two round trips after the previous
//     grant, the sender used the window faster than the link's round trip
//     lets credit come back, i.e. the window, not the link or the host, is
//     what limits the flow: the window doubles, up to max_bytes;
//   - growth stops once half a window takes two round trips to drain, which
//     is when the window holds about four times what the link carries per
//     round trip (bandwidth-delay product): enough that credit never runs
//     out while the next CREDIT frame crosses.
// A flow that receives nothing for idle_reset goes back to its initial
// window, so a burst does not hold a large window for ever.
//
// Memory: every byte of growth is reserved in a WindowBudget (the tunnel's,
// nested in the gateway's) before it is granted, and given back when the
// window shrinks and the credit outstanding above it has been used, or when
// the flow ends. The peer may still send what was granted before a shrink,
// so what stays charged is max(window, outstanding credit) - initial.
//
// Thread-safety: none; owned by its flow on the control worker.
//
// Expected use (Flow::TunnelToHost):
//   FlowWindow window({.initial_bytes = ..., .max_bytes = ...}, budget);
//   ReassemblyBuffer rx({window.bytes(), window.frames()});
//   after consuming:  if (rx.CreditDue()) {
//                       window.OnCreditDue(now, tunnel_round_trip);
//                       rx.SetWindow(window.bytes(), window.frames());
//                     }
//                     window.Settle(rx.credit_ahead());
//                     if (rx.MaybeGrantCredit(&b, &s)) send CREDIT{b, s};
//   idle_reset with nothing received:
//                     window.OnIdle(rx.credit_ahead());
//                     rx.SetWindow(window.bytes(), window.frames());
#ifndef BRAID_PROXY_STRIPE_FLOW_WINDOW_H_
#define BRAID_PROXY_STRIPE_FLOW_WINDOW_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "proxy/stripe/window_budget.h"

namespace braid::proxy {

class FlowWindow {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    uint32_t initial_bytes = 4u << 20;  // the window every flow starts with
    uint32_t max_bytes = 128u << 20;    // the most it grows to (>= initial)
  };

  // The sequence window that goes with a byte window: one frame per 4 KiB,
  // and at least kMinFrames. Full DATA frames carry 16 KiB, so the byte
  // window binds a bulk flow; a flow of small frames is bounded to at most
  // (frames x ~80 bytes) of bookkeeping.
  static constexpr uint32_t kMinFrames = 4096;
  static uint32_t FramesFor(uint32_t window_bytes) { return std::max(kMinFrames, window_bytes / 4096); }

  // `budget` (may be null: no growth) is where growth is reserved.
  FlowWindow(Options options, std::shared_ptr<WindowBudget> budget);
  ~FlowWindow();
  FlowWindow(const FlowWindow&) = delete;
  FlowWindow& operator=(const FlowWindow&) = delete;

  uint32_t bytes() const { return bytes_; }
  uint32_t frames() const { return FramesFor(bytes_); }
  uint32_t initial_bytes() const { return options_.initial_bytes; }
  bool grown() const { return bytes_ > options_.initial_bytes; }
  // Bytes reserved in the budget on this window's behalf.
  uint64_t charged() const { return charged_; }

  // OnCreditDue: the receiver is about to grant credit at `now`. Doubles
  // the window (as far as max_bytes and the budget allow) when the previous
  // grant was less than 2 x `round_trip` ago. A zero round trip (not yet
  // measured) never grows the window.
  void OnCreditDue(Clock::time_point now, Clock::duration round_trip);
  // OnIdle: nothing has arrived for a while; the window goes back to its
  // initial size. `outstanding` is the credit granted ahead of the host
  // (ReassemblyBuffer::credit_ahead), which stays charged until it is used.
  void OnIdle(uint64_t outstanding);
  // Settle gives back the charge that neither the window nor the
  // `outstanding` credit needs any more. Call after bytes are consumed.
  void Settle(uint64_t outstanding);

 private:
  const Options options_;
  const std::shared_ptr<WindowBudget> budget_;
  uint32_t bytes_;
  uint64_t charged_ = 0;
  std::optional<Clock::time_point> last_grant_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_STRIPE_FLOW_WINDOW_H_
