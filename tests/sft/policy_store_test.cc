// Tests of PolicyStore: the empty store denies, Update's versioning, old
// snapshots outliving updates, and readers racing one writer that swaps
// tables many times (each reader checks that every snapshot it sees is
// whole: the table's policy carries the snapshot's version in its name and
// in the port it permits). Run under ThreadSanitizer in CI
// (scripts/test-sanitizers thread).
#include "braid/policy_store.h"

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "braid/policy.h"
#include "gtest/gtest.h"
#include "sft/compile.h"

// Under ThreadSanitizer, GCC 12's std::atomic<std::shared_ptr> is reported
// as racing with itself: run it through scripts/test-sanitizers thread,
// which passes the suppression (tests/sanitizers/tsan.supp says why).

namespace braid {
namespace {

constexpr int kReaders = 3;
constexpr uint64_t kUpdates = 500;

// TableFor compiles a policy named "v<version>" whose single rule permits TCP
// to port version % 65536; everything else is denied by default.
std::shared_ptr<const RuleTable> TableFor(uint64_t version) {
  Policy p;
  p.name = "v" + std::to_string(version);
  p.default_action = Action::kDeny;
  Rule r;
  r.id = "port-" + std::to_string(version % 65536);
  r.action = Action::kPermit;
  r.proto = ProtoMatch::kTcp;
  uint16_t port = static_cast<uint16_t>(version % 65536);
  r.dst_ports = std::vector<PortRange>{{port, port}};
  p.rules.push_back(r);
  absl::StatusOr<std::shared_ptr<const RuleTable>> t = sft::Compile(std::move(p));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

FlowKey FlowToPort(uint16_t port) {
  FlowKey f;
  f.src = IpAddress::V4(0x0a000001);
  f.dst = IpAddress::V4(0x0a000002);
  f.src_port = 40000;
  f.dst_port = port;
  f.proto = Protocol::kTcp;
  return f;
}

TEST(PolicyStoreTest, StartsEmptyAndDenies) {
  PolicyStore store;
  std::shared_ptr<const PolicySnapshot> s = store.Current();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->table, nullptr);
  EXPECT_EQ(s->version, 0u);
  Decision d = s->Decide(FlowToPort(80));
  EXPECT_EQ(d.action, Action::kDeny);
  EXPECT_TRUE(d.is_default());
}

TEST(PolicyStoreTest, UpdateBumpsVersion) {
  PolicyStore store;
  std::shared_ptr<const RuleTable> t1 = TableFor(1);
  std::shared_ptr<const PolicySnapshot> s1 = store.Update(t1);
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->version, 1u);
  EXPECT_EQ(s1->table, t1);
  EXPECT_EQ(store.Current(), s1);
  EXPECT_EQ(store.Current()->Decide(FlowToPort(1)), (Decision{Action::kPermit, 0}));
  EXPECT_EQ(store.Current()->Decide(FlowToPort(2)), (Decision{Action::kDeny, Decision::kDefault}));

  std::shared_ptr<const PolicySnapshot> s2 = store.Update(TableFor(2));
  EXPECT_EQ(s2->version, 2u);
  EXPECT_EQ(store.Current()->version, 2u);
  EXPECT_EQ(store.Current()->table->policy().name, "v2");
}

TEST(PolicyStoreTest, ExplicitVersion) {
  PolicyStore store;
  EXPECT_EQ(store.Update(TableFor(42), 42)->version, 42u);
  EXPECT_EQ(store.Current()->version, 42u);
  EXPECT_EQ(store.Current()->table->policy().name, "v42");
  // Automatic numbering goes on from the explicit one.
  EXPECT_EQ(store.Update(TableFor(43))->version, 43u);
  EXPECT_EQ(store.Update(TableFor(1000), 1000)->version, 1000u);
  EXPECT_EQ(store.Update(TableFor(1001))->version, 1001u);
}

TEST(PolicyStoreTest, OldSnapshotOutlivesUpdates) {
  PolicyStore store;
  store.Update(TableFor(1));
  std::shared_ptr<const PolicySnapshot> held = store.Current();
  for (uint64_t v = 2; v <= 10; ++v) store.Update(TableFor(v));
  // The held snapshot still answers with policy 1.
  EXPECT_EQ(held->version, 1u);
  EXPECT_EQ(held->table->policy().name, "v1");
  EXPECT_EQ(held->Decide(FlowToPort(1)), (Decision{Action::kPermit, 0}));
  EXPECT_EQ(held->Decide(FlowToPort(10)), (Decision{Action::kDeny, Decision::kDefault}));
  EXPECT_EQ(store.Current()->version, 10u);
  EXPECT_EQ(store.Current()->Decide(FlowToPort(10)), (Decision{Action::kPermit, 0}));
}

struct ReaderResult {
  uint64_t snapshots = 0;
  uint64_t distinct_versions = 0;
  uint64_t errors = 0;
  std::string first_error;
};

// RaiseTo sets `max` to at least `v`.
void RaiseTo(std::atomic<uint64_t>& max, uint64_t v) {
  uint64_t cur = max.load();
  while (cur < v && !max.compare_exchange_weak(cur, v)) {
  }
}

void Reader(const PolicyStore& store, const std::atomic<bool>& done, std::atomic<int>& ready,
            std::atomic<uint64_t>& observed, ReaderResult& out) {
  ready.fetch_add(1);
  uint64_t last = 0;
  auto fail = [&](const std::string& what) {
    if (out.errors++ == 0) out.first_error = what;
  };
  // Read at least once after the writer is done, so the last version is seen.
  for (bool stop = false; !stop;) {
    stop = done.load(std::memory_order_acquire);
    std::shared_ptr<const PolicySnapshot> s = store.Current();
    ++out.snapshots;
    if (s == nullptr) {
      fail("null snapshot");
      continue;
    }
    if (s->version < last) fail("version went back from " + std::to_string(last) + " to " + std::to_string(s->version));
    if (s->version != last) ++out.distinct_versions;
    last = s->version;
    RaiseTo(observed, last);
    if (s->table == nullptr) {
      if (s->version != 0) fail("no table at version " + std::to_string(s->version));
      continue;
    }
    const std::string want = "v" + std::to_string(s->version);
    if (s->table->policy().name != want) {
      fail("snapshot version " + std::to_string(s->version) + " has policy " + s->table->policy().name);
    }
    uint16_t port = static_cast<uint16_t>(s->version % 65536);
    if (s->Decide(FlowToPort(port)) != Decision{Action::kPermit, 0}) {
      fail("version " + std::to_string(s->version) + " does not permit its port");
    }
    if (s->Decide(FlowToPort(static_cast<uint16_t>(port + 1))) != Decision{Action::kDeny, Decision::kDefault}) {
      fail("version " + std::to_string(s->version) + " permits the next port");
    }
  }
  if (last != kUpdates) fail("last version seen " + std::to_string(last) + ", want " + std::to_string(kUpdates));
}

TEST(PolicyStoreTest, ReadersSeeWholeSnapshotsWhileWriterSwaps) {
  // Compile everything up front so the writer swaps as fast as it can.
  std::vector<std::shared_ptr<const RuleTable>> tables;
  tables.reserve(kUpdates + 1);
  tables.push_back(nullptr);
  for (uint64_t v = 1; v <= kUpdates; ++v) tables.push_back(TableFor(v));

  PolicyStore store;
  std::atomic<bool> done{false};
  std::atomic<int> ready{0};
  std::atomic<uint64_t> observed{0};
  std::vector<ReaderResult> results(kReaders);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back(Reader, std::cref(store), std::cref(done), std::ref(ready), std::ref(observed),
                         std::ref(results[i]));
  }
  // Start swapping once every reader is reading. After each swap the writer
  // waits (without sleeping) until some reader has seen the new version, so
  // that every swap races with readers even on a single loaded core.
  while (ready.load() < kReaders) std::this_thread::yield();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (uint64_t v = 1; v <= kUpdates; ++v) {
    // Alternate automatic and explicit versions; both must give v.
    std::shared_ptr<const PolicySnapshot> s = v % 2 ? store.Update(tables[v]) : store.Update(tables[v], v);
    EXPECT_EQ(s->version, v);  // not ASSERT: the readers must still be stopped
    // Drop the writer's reference so readers hold the last ones.
    tables[v].reset();
    while (observed.load() < v && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  EXPECT_EQ(observed.load(), kUpdates) << "readers did not keep up before the deadline";
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();

  for (int i = 0; i < kReaders; ++i) {
    EXPECT_EQ(results[i].errors, 0u) << "reader " << i << ": " << results[i].first_error;
    EXPECT_GT(results[i].snapshots, 0u);
    std::cout << "reader " << i << ": " << results[i].snapshots << " snapshots, " << results[i].distinct_versions
              << " distinct versions\n";
  }
  EXPECT_EQ(store.Current()->version, kUpdates);
}

}  // namespace
}  // namespace braid
