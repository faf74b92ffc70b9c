// Metric primitives and their Prometheus text rendering: counters, gauges,
// histograms, and labelled families of them.
//
// Debian 12 packages no Prometheus client library for C++, so these are
// written here, kept to what the gateway needs (text format 0.0.4 only).
//
// Thread-safety: updating a Counter, Gauge or Histogram is a relaxed atomic
// operation, safe from any worker. Family::With() takes a mutex: call it
// when an object is set up (a tunnel, a lane, a rule seen for the first
// time), keep the reference (it stays valid as long as the family), and
// update through it on the data path.
#ifndef BRAID_PROXY_ADMIN_METRICS_H_
#define BRAID_PROXY_ADMIN_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace braid::proxy {

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(int64_t n = 1) { value_.fetch_sub(n, std::memory_order_relaxed); }
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Histogram counts observations into cumulative buckets with fixed upper
// bounds (seconds, for the gateway's histograms), plus their count and sum.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void Observe(double value);
  // What Render needs: per-bucket (not cumulative) counts, the sum, count.
  std::span<const double> bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};  // sum in units of 1e-9, integral to stay atomic
};

// Family: one metric name with a fixed list of label names; one series per
// combination of label values, made on first use and never removed.
template <typename M>
class Family {
 public:
  // `make` builds a new series; M's default constructor when empty.
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::function<std::unique_ptr<M>()> make = nullptr)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)), make_(std::move(make)) {}

  // With returns the series for `values` (one per label name, in order).
  M& With(const std::vector<std::string>& values) ABSL_LOCKS_EXCLUDED(mu_) {
    std::lock_guard lock(mu_);
    std::unique_ptr<M>& slot = series_[values];
    if (!slot) {
      if constexpr (std::is_default_constructible_v<M>) {
        slot = make_ ? make_() : std::make_unique<M>();
      } else {
        slot = make_();
      }
    }
    return *slot;
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // ForEach calls f(label values, series) for every series, in label order.
  template <typename F>
  void ForEach(F&& f) const ABSL_LOCKS_EXCLUDED(mu_) {
    std::lock_guard lock(mu_);
    for (const auto& [values, series] : series_) f(values, *series);
  }

 private:
  const std::string name_, help_;
  const std::vector<std::string> labels_;
  const std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_ ABSL_GUARDED_BY(mu_);
};

class HistogramFamily : public Family<Histogram> {
 public:
  // `bounds` are the buckets' upper bounds, ascending, in static storage.
  HistogramFamily(std::string name, std::string help, std::vector<std::string> labels, std::span<const double> bounds)
      : Family(std::move(name), std::move(help), std::move(labels),
               [bounds] { return std::make_unique<Histogram>(bounds); }) {}
};

// Sample: one series of a metric computed from live objects at each scrape
// (RenderSamples) instead of kept in a Family. A Family never forgets a
// series, so a gauge of something that comes and goes (a lane of a tunnel)
// would keep showing its last value after the thing is gone; samples
// disappear with it.
struct Sample {
  std::vector<std::string> values;  // one per label name, in order
  double value;
};

// Render* append one family in the Prometheus text format to *out.
void RenderCounters(const Family<Counter>& family, std::string* out);
void RenderGauges(const Family<Gauge>& family, std::string* out);
void RenderHistograms(const HistogramFamily& family, std::string* out);
// RenderSamples appends metric `name` of `type` ("gauge" or "counter") with
// one series per sample; the header even when there are none.
void RenderSamples(std::string_view name, std::string_view help, std::string_view type,
                   const std::vector<std::string>& labels, std::span<const Sample> samples, std::string* out);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_ADMIN_METRICS_H_
