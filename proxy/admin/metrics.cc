#include "proxy/admin/metrics.h"

#include <cmath>
#include <cstdio>

namespace braid::proxy {
namespace {

// AppendEscaped escapes a label value as the text format requires.
void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// AppendSeries writes `name{labels,extra} value`.
void AppendSeries(std::string_view name, const std::vector<std::string>& labels,
                  const std::vector<std::string>& values, std::string_view extra, std::string_view value,
                  std::string* out) {
  out->append(name);
  if (!labels.empty() || !extra.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out->push_back(',');
      out->append(labels[i]).append("=\"");
      AppendEscaped(values[i], out);
      out->push_back('"');
    }
    if (!extra.empty()) {
      if (!labels.empty()) out->push_back(',');
      out->append(extra);
    }
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

void AppendHeader(std::string_view name, std::string_view help, std::string_view type, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return "+Inf";
  char buf[32];
  // Whole numbers (bytes, rates in bytes/s) in full rather than as 2.34e+09;
  // below 2^53 a double holds them exactly.
  const bool whole = v == std::floor(v) && std::fabs(v) < 0x1p53;
  std::snprintf(buf, sizeof(buf), whole ? "%.0f" : "%.9g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0) sum_nanos_.fetch_add(static_cast<uint64_t>(value * 1e9), std::memory_order_relaxed);
}

double Histogram::sum() const { return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9; }

void RenderCounters(const Family<Counter>& family, std::string* out) {
  AppendHeader(family.name(), family.help(), "counter", out);
  family.ForEach([&](const std::vector<std::string>& values, const Counter& c) {
    AppendSeries(family.name(), family.labels(), values, "", std::to_string(c.value()), out);
  });
}

void RenderGauges(const Family<Gauge>& family, std::string* out) {
  AppendHeader(family.name(), family.help(), "gauge", out);
  family.ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
    AppendSeries(family.name(), family.labels(), values, "", std::to_string(g.value()), out);
  });
}

void RenderHistograms(const HistogramFamily& family, std::string* out) {
  AppendHeader(family.name(), family.help(), "histogram", out);
  const std::string bucket = family.name() + "_bucket";
  family.ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
    // Buckets are stored apart and rendered cumulatively; count is the sum
    // of what was rendered, so a scrape racing an Observe stays consistent.
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h.bounds().size(); ++i) {
      cumulative += h.bucket(i);
      const double le = i < h.bounds().size() ? h.bounds()[i] : INFINITY;
      AppendSeries(bucket, family.labels(), values, "le=\"" + FormatDouble(le) + "\"", std::to_string(cumulative),
                   out);
    }
    AppendSeries(family.name() + "_sum", family.labels(), values, "", FormatDouble(h.sum()), out);
    AppendSeries(family.name() + "_count", family.labels(), values, "", std::to_string(cumulative), out);
  });
}

void RenderSamples(std::string_view name, std::string_view help, std::string_view type,
                   const std::vector<std::string>& labels, std::span<const Sample> samples, std::string* out) {
  AppendHeader(name, help, type, out);
  for (const Sample& s : samples) AppendSeries(name, labels, s.values, "", FormatDouble(s.value), out);
}

}  // namespace braid::proxy
