// sft_bench: Google Benchmark of the Security Filter Table engine.
//
// For each rule-set kind (realistic, adversarial; see rule_generator.h) and
// size (1, 64, 1K, 16K, 64K rules) it measures:
//
//  - Lookup/{compiled,linear}/KIND/N: time per lookup of the compiled table
//    (sft::Compile) and of the linear first-match scan (sft::MakeLinearTable)
//    over the same rules and the same flows, half of which hit a rule and half
//    fall to the default.
//  - LookupLatency/compiled/KIND/N: the same lookups timed one by one, for
//    the median and tail of single lookups (counters p50_ns, p90_ns, p99_ns,
//    with the clock's own cost subtracted), and the medians of the flows a
//    rule decides and of those the default decides (p50_hit_ns,
//    p50_miss_ns).
//  - Compile/KIND/N: time to compile the policy, and the compiled table's
//    memory: RuleTable::MemoryUsage() and, independently, the growth of the
//    heap measured by mallinfo2() across the compile.
//
// Before any timing, each (kind, size) checks that the compiled table and
// the linear scan agree on a sample of its flows; a disagreement fails the
// benchmark rather than timing a wrong answer.
//
// The figures that matter are the medians over repetitions:
//   sft_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// bench/run_sft_bench.sh runs it that way and writes bench/RESULTS.md.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/rule_generator.h"
#include "braid/rule_table.h"
#include "sft/compile.h"
#include "sft/tuple_table.h"

namespace braid::bench {
namespace {

constexpr uint64_t kSeed = 20240601;
constexpr size_t kFlowCount = 32768;
constexpr size_t kRuleCounts[] = {1, 64, 1024, 16384, 65536};
constexpr RuleSetKind kKinds[] = {RuleSetKind::kRealistic, RuleSetKind::kAdversarial};
// Rule-times-flow budget of the correctness check done before timing: about
// a second of linear scanning at the largest size.
constexpr size_t kCheckBudget = size_t{1} << 28;

// Fixture: everything one (kind, size) needs, built once and shared by its
// benchmarks.
struct Fixture {
  Policy policy;
  std::shared_ptr<const RuleTable> compiled;
  std::shared_ptr<const RuleTable> linear;
  FlowSet flows;
  size_t tuples = 0;
  std::string error;  // non-empty: the fixture is unusable, say why
};

const Fixture& GetFixture(RuleSetKind kind, size_t rule_count) {
  static std::map<std::pair<RuleSetKind, size_t>, std::unique_ptr<Fixture>> cache;
  auto& slot = cache[{kind, rule_count}];
  if (slot) return *slot;
  slot = std::make_unique<Fixture>();
  Fixture& f = *slot;
  f.policy = GenerateRules(kind, rule_count, kSeed);
  absl::StatusOr<std::shared_ptr<const RuleTable>> compiled = sft::Compile(f.policy);
  if (!compiled.ok()) {
    f.error = "compile failed: " + std::string(compiled.status().message());
    return f;
  }
  f.compiled = *std::move(compiled);
  f.linear = sft::MakeLinearTable(f.policy);
  if (const auto* tuple_table = dynamic_cast<const sft::TupleTable*>(f.compiled.get())) {
    f.tuples = tuple_table->tuple_count();
  }
  const RuleTable& table = *f.compiled;
  f.flows = GenerateFlows(f.policy, kFlowCount, kSeed,
                          [&table](const FlowKey& flow) { return table.Lookup(flow).is_default(); });
  const size_t check = std::min(f.flows.flows.size(), std::max<size_t>(256, kCheckBudget / rule_count));
  for (size_t i = 0; i < check; ++i) {
    const FlowKey& flow = f.flows.flows[i];
    const Decision want = f.linear->Lookup(flow);
    const Decision got = f.compiled->Lookup(flow);
    if (!(want == got)) {
      f.error = "compiled table disagrees with the linear scan on flow " + std::to_string(i) + " (" +
                flow.src.ToString() + " -> " + flow.dst.ToString() + ":" + std::to_string(flow.dst_port) +
                "): linear rule " + std::to_string(want.rule) + ", compiled rule " + std::to_string(got.rule);
      std::fprintf(stderr, "sft_bench: %s/%zu: %s\n", std::string(RuleSetKindName(kind)).c_str(),
                   rule_count, f.error.c_str());
      break;
    }
  }
  return f;
}

void AddFixtureCounters(benchmark::State& state, const Fixture& f) {
  state.counters["rules"] = static_cast<double>(f.policy.rules.size());
  state.counters["miss_fraction"] =
      static_cast<double>(f.flows.misses) / static_cast<double>(std::max<size_t>(1, f.flows.flows.size()));
  if (f.tuples) state.counters["tuples"] = static_cast<double>(f.tuples);
}

void BM_Lookup(benchmark::State& state, RuleSetKind kind, size_t rule_count, bool compiled) {
  const Fixture& f = GetFixture(kind, rule_count);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const RuleTable& table = compiled ? *f.compiled : *f.linear;
  const std::vector<FlowKey>& flows = f.flows.flows;
  // Carried across repetitions, so a slow table with few iterations per
  // repetition still sees all the flows over a run.
  static size_t next = 0;
  size_t i = next % flows.size();
  for (auto _ : state) {
    Decision d = table.Lookup(flows[i]);
    benchmark::DoNotOptimize(d);
    if (++i == flows.size()) i = 0;
  }
  next = i;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  AddFixtureCounters(state, f);
}

// The cost of reading the clock, to subtract from single-lookup timings.
double ClockOverheadNs() {
  using Clock = std::chrono::steady_clock;
  std::vector<double> samples(4096);
  for (double& s : samples) {
    const auto a = Clock::now();
    const auto b = Clock::now();
    s = std::chrono::duration<double, std::nano>(b - a).count();
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

double Percentile(std::vector<double>& v, double p) {
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void BM_LookupLatency(benchmark::State& state, RuleSetKind kind, size_t rule_count) {
  using Clock = std::chrono::steady_clock;
  const Fixture& f = GetFixture(kind, rule_count);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const RuleTable& table = *f.compiled;
  const std::vector<FlowKey>& flows = f.flows.flows;
  const double overhead = ClockOverheadNs();
  std::vector<double> ns(flows.size());
  for (auto _ : state) {
    for (size_t i = 0; i < flows.size(); ++i) {
      const auto a = Clock::now();
      Decision d = table.Lookup(flows[i]);
      benchmark::DoNotOptimize(d);
      const auto b = Clock::now();
      ns[i] = std::max(0.0, std::chrono::duration<double, std::nano>(b - a).count() - overhead);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * flows.size()));
  // Flows the default decides probe every tuple of their family; flows a
  // rule decides may stop early. Their medians apart show which dominates.
  std::vector<double> hit_ns, miss_ns;
  for (size_t i = 0; i < flows.size(); ++i) {
    (table.Lookup(flows[i]).is_default() ? miss_ns : hit_ns).push_back(ns[i]);
  }
  if (!hit_ns.empty()) state.counters["p50_hit_ns"] = Percentile(hit_ns, 0.50);
  if (!miss_ns.empty()) state.counters["p50_miss_ns"] = Percentile(miss_ns, 0.50);
  state.counters["p50_ns"] = Percentile(ns, 0.50);
  state.counters["p90_ns"] = Percentile(ns, 0.90);
  state.counters["p99_ns"] = Percentile(ns, 0.99);
  state.counters["max_ns"] = *std::max_element(ns.begin(), ns.end());
  state.counters["clock_ns"] = overhead;
  AddFixtureCounters(state, f);
}

// Bytes the heap has handed out and not taken back, main arena, other
// arenas and mmapped blocks together.
size_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

void BM_Compile(benchmark::State& state, RuleSetKind kind, size_t rule_count) {
  using Clock = std::chrono::steady_clock;
  const Fixture& f = GetFixture(kind, rule_count);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  size_t memory_usage = 0;
  size_t heap_growth = 0;
  for (auto _ : state) {
    // Compile takes the policy by value; the copy is made outside the timed
    // part, and moved in, so the heap growth is the compiled structures
    // alone.
    Policy copy = f.policy;
    const size_t before = HeapInUse();
    const auto start = Clock::now();
    absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::Compile(std::move(copy));
    const auto stop = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    if (!table.ok()) {
      state.SkipWithError("compile failed");
      return;
    }
    const size_t after = HeapInUse();
    heap_growth = after > before ? after - before : 0;
    memory_usage = (*table)->MemoryUsage();
    benchmark::DoNotOptimize(table);
  }
  using Counter = benchmark::Counter;
  state.counters["memory_usage_bytes"] = Counter(static_cast<double>(memory_usage), Counter::kDefaults,
                                                 Counter::OneK::kIs1024);
  state.counters["heap_growth_bytes"] = Counter(static_cast<double>(heap_growth), Counter::kDefaults,
                                                Counter::OneK::kIs1024);
  state.counters["bytes_per_rule"] = static_cast<double>(heap_growth) / static_cast<double>(rule_count);
  AddFixtureCounters(state, f);
}

void RegisterAll() {
  for (RuleSetKind kind : kKinds) {
    const std::string k(RuleSetKindName(kind));
    for (size_t n : kRuleCounts) {
      const std::string suffix = k + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(("Lookup/compiled/" + suffix).c_str(), BM_Lookup, kind, n, true);
      benchmark::RegisterBenchmark(("Lookup/linear/" + suffix).c_str(), BM_Lookup, kind, n, false);
      benchmark::RegisterBenchmark(("LookupLatency/compiled/" + suffix).c_str(), BM_LookupLatency, kind, n)
          ->Iterations(1);
      benchmark::RegisterBenchmark(("Compile/" + suffix).c_str(), BM_Compile, kind, n)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  braid::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
