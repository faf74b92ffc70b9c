// FlowWindow and WindowBudget: the receive window's auto-tuning, on a model
// clock, and on a model link that carries the real ReassemblyBuffer's
// credit across a round trip.
#include "proxy/stripe/flow_window.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "proxy/stripe/reassembly_buffer.h"
#include "proxy/stripe/window_budget.h"

namespace braid::proxy {
namespace {

using Clock = FlowWindow::Clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr uint32_t kMiB = 1u << 20;

TEST(WindowBudgetTest, ReservesWithinEveryLevelAndReleases) {
  auto gateway = std::make_shared<WindowBudget>(10 * kMiB);
  WindowBudget tunnel_a(8 * kMiB, gateway);
  WindowBudget tunnel_b(8 * kMiB, gateway);
  EXPECT_EQ(tunnel_a.Reserve(6 * kMiB), 6 * kMiB);
  // The tunnel has 2 MiB left; the gateway 4.
  EXPECT_EQ(tunnel_a.Reserve(5 * kMiB), 2 * kMiB);
  EXPECT_EQ(tunnel_a.Reserve(1), 0u);
  // The other tunnel is bound by what the gateway has left.
  EXPECT_EQ(tunnel_b.Reserve(8 * kMiB), 2 * kMiB);
  EXPECT_EQ(gateway->used(), 10 * kMiB);
  tunnel_a.Release(8 * kMiB);
  EXPECT_EQ(tunnel_a.used(), 0u);
  EXPECT_EQ(gateway->used(), 2 * kMiB);
  EXPECT_EQ(tunnel_b.Reserve(8 * kMiB), 6 * kMiB);
  // A lower limit keeps what is reserved and lends nothing new.
  gateway->SetLimit(1 * kMiB);
  EXPECT_EQ(tunnel_a.Reserve(1), 0u);
  tunnel_b.Release(8 * kMiB);
  EXPECT_EQ(gateway->used(), 0u);
  EXPECT_EQ(tunnel_a.Reserve(4 * kMiB), 1 * kMiB);
}

TEST(FlowWindowTest, DoublesOnlyWhenGrantsComeFasterThanTwoRoundTrips) {
  auto budget = std::make_shared<WindowBudget>(1024 * kMiB);
  FlowWindow w({.initial_bytes = 1 * kMiB, .max_bytes = 16 * kMiB}, budget);
  const auto rtt = milliseconds(40);
  Clock::time_point t{};
  w.OnCreditDue(t, rtt);  // the first grant only starts the clock
  EXPECT_EQ(w.bytes(), 1 * kMiB);
  t += milliseconds(79);
  w.OnCreditDue(t, rtt);
  EXPECT_EQ(w.bytes(), 2 * kMiB);
  EXPECT_EQ(budget->used(), 1 * kMiB);
  t += milliseconds(80);  // exactly two round trips: the link, not the window, is the limit
  w.OnCreditDue(t, rtt);
  EXPECT_EQ(w.bytes(), 2 * kMiB);
  for (int i = 0; i < 10; ++i) {
    t += milliseconds(10);
    w.OnCreditDue(t, rtt);
  }
  EXPECT_EQ(w.bytes(), 16 * kMiB);  // the ceiling
  EXPECT_EQ(w.charged(), 15 * kMiB);
  EXPECT_EQ(w.frames(), 16 * kMiB / 4096);
}

TEST(FlowWindowTest, UnknownRoundTripOrNoBudgetNeverGrows) {
  FlowWindow no_rtt({.initial_bytes = 1 * kMiB, .max_bytes = 16 * kMiB}, std::make_shared<WindowBudget>(kMiB * 64));
  FlowWindow no_budget({.initial_bytes = 1 * kMiB, .max_bytes = 16 * kMiB}, nullptr);
  Clock::time_point t{};
  for (int i = 0; i < 10; ++i) {
    t += microseconds(100);
    no_rtt.OnCreditDue(t, Clock::duration::zero());
    no_budget.OnCreditDue(t, milliseconds(40));
  }
  EXPECT_EQ(no_rtt.bytes(), 1 * kMiB);
  EXPECT_EQ(no_budget.bytes(), 1 * kMiB);
  EXPECT_EQ(FlowWindow::FramesFor(1 * kMiB), FlowWindow::kMinFrames);
}

TEST(FlowWindowTest, GrowthStopsAtTheBudgetAndTheRestGoesToOthers) {
  auto budget = std::make_shared<WindowBudget>(5 * kMiB);
  FlowWindow a({.initial_bytes = 1 * kMiB, .max_bytes = 64 * kMiB}, budget);
  FlowWindow b({.initial_bytes = 1 * kMiB, .max_bytes = 64 * kMiB}, budget);
  Clock::time_point t{};
  for (int i = 0; i < 8; ++i) {
    t += milliseconds(1);
    a.OnCreditDue(t, milliseconds(40));
  }
  // 1 -> 2 -> 4 -> 6 (the 5 MiB budget: 1 + 5).
  EXPECT_EQ(a.bytes(), 6 * kMiB);
  EXPECT_EQ(budget->used(), 5 * kMiB);
  for (int i = 0; i < 4; ++i) {
    t += milliseconds(1);
    b.OnCreditDue(t, milliseconds(40));
  }
  EXPECT_EQ(b.bytes(), 1 * kMiB);  // nothing left to grow with
  {
    FlowWindow gone({.initial_bytes = 1 * kMiB, .max_bytes = 64 * kMiB}, budget);
  }
  a.OnIdle(0);  // everything was consumed: the whole charge comes back
  EXPECT_EQ(a.bytes(), 1 * kMiB);
  EXPECT_EQ(budget->used(), 0u);
  for (int i = 0; i < 4; ++i) {
    t += milliseconds(1);
    b.OnCreditDue(t, milliseconds(40));
  }
  EXPECT_EQ(b.bytes(), 6 * kMiB);
}

TEST(FlowWindowTest, IdleKeepsTheCreditStillOutstandingChargedUntilUsed) {
  auto budget = std::make_shared<WindowBudget>(64 * kMiB);
  FlowWindow w({.initial_bytes = 1 * kMiB, .max_bytes = 8 * kMiB}, budget);
  Clock::time_point t{};
  for (int i = 0; i < 5; ++i) {
    t += milliseconds(1);
    w.OnCreditDue(t, milliseconds(40));
  }
  ASSERT_EQ(w.bytes(), 8 * kMiB);
  // The peer may still send 6 MiB granted before the flow went quiet.
  w.OnIdle(6 * kMiB);
  EXPECT_EQ(w.bytes(), 1 * kMiB);
  EXPECT_EQ(budget->used(), 5 * kMiB);
  w.Settle(3 * kMiB);
  EXPECT_EQ(budget->used(), 2 * kMiB);
  w.Settle(512 * 1024);
  EXPECT_EQ(budget->used(), 0u);
  // After idle the first grant only restarts the clock.
  w.OnCreditDue(t + milliseconds(1), milliseconds(40));
  EXPECT_EQ(w.bytes(), 1 * kMiB);
}

// A model of one flow over a link: the sender sends whatever its credit
// allows at up to the link rate, each byte reaches the receiver half a
// round trip later, the receiver's host consumes at up to host_rate, and
// each CREDIT frame takes half a round trip back. The receiver side is the
// real ReassemblyBuffer and FlowWindow, as Flow::GrantCredit drives them.
struct LinkModel {
  double link_bytes_per_s;
  double host_bytes_per_s;
  Clock::duration rtt;
};

struct ModelResult {
  double delivered_bytes_per_s;  // over the last half of the run
  uint32_t final_window;
  size_t max_buffered;
};

ModelResult RunModel(const LinkModel& link, FlowWindow::Options options, std::shared_ptr<WindowBudget> budget,
                     Clock::duration run) {
  FlowWindow window(options, budget);
  ReassemblyBuffer rx({.window_bytes = window.bytes(), .window_frames = window.frames()});
  const auto step = microseconds(100);
  const double dt = std::chrono::duration<double>(step).count();
  uint64_t sender_limit = rx.advertised_byte_limit();
  uint64_t sent = 0, seq = 0;
  std::deque<std::pair<Clock::time_point, uint32_t>> data_in_flight;    // arrival, bytes
  std::deque<std::pair<Clock::time_point, uint64_t>> credit_in_flight;  // arrival, byte limit
  ModelResult result{};
  uint64_t consumed_at_half = 0;
  Clock::time_point t{};
  const Clock::time_point end = t + run;
  double link_budget = 0, host_budget = 0;
  const std::string frame(16 * 1024, 'x');
  for (; t < end; t += step) {
    while (!credit_in_flight.empty() && credit_in_flight.front().first <= t) {
      sender_limit = std::max(sender_limit, credit_in_flight.front().second);
      credit_in_flight.pop_front();
    }
    link_budget = std::min(link_budget + link.link_bytes_per_s * dt, 16.0 * frame.size());
    while (link_budget >= frame.size() && sent + frame.size() <= sender_limit) {
      data_in_flight.emplace_back(t + link.rtt / 2, frame.size());
      sent += frame.size();
      link_budget -= frame.size();
    }
    while (!data_in_flight.empty() && data_in_flight.front().first <= t) {
      EXPECT_EQ(rx.OnData(seq++, std::string_view(frame).substr(0, data_in_flight.front().second)),
                ReassemblyBuffer::Status::kOk);
      data_in_flight.pop_front();
    }
    result.max_buffered = std::max(result.max_buffered, rx.buffered_bytes());
    host_budget = std::min(host_budget + link.host_bytes_per_s * dt, 16.0 * frame.size());
    const size_t take = std::min<size_t>(rx.readable_bytes(), static_cast<size_t>(host_budget));
    if (take > 0) {
      rx.MarkConsumed(take);
      host_budget -= take;
      if (rx.CreditDue()) {
        window.OnCreditDue(t, link.rtt);
        rx.SetWindow(window.bytes(), window.frames());
      }
      window.Settle(rx.credit_ahead());
      uint64_t byte_limit = 0, seq_limit = 0;
      if (rx.MaybeGrantCredit(&byte_limit, &seq_limit)) credit_in_flight.emplace_back(t + link.rtt / 2, byte_limit);
    }
    if (t - Clock::time_point{} == run / 2) consumed_at_half = rx.consumed_bytes();
  }
  result.delivered_bytes_per_s =
      static_cast<double>(rx.consumed_bytes() - consumed_at_half) / std::chrono::duration<double>(run / 2).count();
  result.final_window = window.bytes();
  return result;
}

TEST(FlowWindowModelTest, FillsALongFatLinkByItself) {
  // 2.5 Gbit/s over 40 ms: the bandwidth-delay product is 12.5 MB, three
  // times the 4 MiB initial window.
  const LinkModel link{.link_bytes_per_s = 312.5e6, .host_bytes_per_s = 10e9, .rtt = milliseconds(40)};
  auto budget = std::make_shared<WindowBudget>(uint64_t{1} << 30);
  const ModelResult fixed =
      RunModel(link, {.initial_bytes = 4 * kMiB, .max_bytes = 4 * kMiB}, budget, std::chrono::seconds(4));
  const ModelResult tuned =
      RunModel(link, {.initial_bytes = 4 * kMiB, .max_bytes = 256 * kMiB}, budget, std::chrono::seconds(4));
  // A fixed window carries at most window / round trip.
  EXPECT_LT(fixed.delivered_bytes_per_s, 0.4 * link.link_bytes_per_s);
  EXPECT_GT(tuned.delivered_bytes_per_s, 0.95 * link.link_bytes_per_s);
  // And it stopped growing at a few bandwidth-delay products, far below
  // the ceiling.
  EXPECT_GE(tuned.final_window, 16 * kMiB);
  EXPECT_LE(tuned.final_window, 64 * kMiB);
  EXPECT_EQ(budget->used(), 0u);  // both windows gave their growth back
}

TEST(FlowWindowModelTest, ShortLinkKeepsTheInitialWindow) {
  // Loopback-like: 100 us round trip at 5 Gbit/s; half of 4 MiB takes
  // over 3 ms to drain, far more than two round trips.
  const LinkModel link{.link_bytes_per_s = 625e6, .host_bytes_per_s = 10e9, .rtt = microseconds(100)};
  auto budget = std::make_shared<WindowBudget>(uint64_t{1} << 30);
  const ModelResult r =
      RunModel(link, {.initial_bytes = 4 * kMiB, .max_bytes = 256 * kMiB}, budget, std::chrono::seconds(1));
  EXPECT_EQ(r.final_window, 4 * kMiB);
  EXPECT_GT(r.delivered_bytes_per_s, 0.95 * link.link_bytes_per_s);
}

TEST(FlowWindowModelTest, SlowHostBoundsTheWindowAndTheBuffer) {
  // The link could carry 2.5 Gbit/s but the host reads 200 MB/s: the
  // window stops growing once it covers what the host reads in two round
  // trips, and the buffer never holds more than the window.
  const LinkModel link{.link_bytes_per_s = 312.5e6, .host_bytes_per_s = 25e6, .rtt = milliseconds(40)};
  auto budget = std::make_shared<WindowBudget>(uint64_t{1} << 30);
  const ModelResult r =
      RunModel(link, {.initial_bytes = 1 * kMiB, .max_bytes = 256 * kMiB}, budget, std::chrono::seconds(4));
  EXPECT_GT(r.delivered_bytes_per_s, 0.95 * link.host_bytes_per_s);
  EXPECT_LE(r.final_window, 8 * kMiB);
  EXPECT_LE(r.max_buffered, r.final_window);
}

TEST(FlowWindowModelTest, TheBudgetCapsTheWindowAndTheThroughputFollows) {
  const LinkModel link{.link_bytes_per_s = 312.5e6, .host_bytes_per_s = 10e9, .rtt = milliseconds(40)};
  auto budget = std::make_shared<WindowBudget>(4 * kMiB);
  const ModelResult r =
      RunModel(link, {.initial_bytes = 4 * kMiB, .max_bytes = 256 * kMiB}, budget, std::chrono::seconds(4));
  EXPECT_EQ(r.final_window, 8 * kMiB);
  EXPECT_LE(r.max_buffered, 8 * kMiB);
}

}  // namespace
}  // namespace braid::proxy
