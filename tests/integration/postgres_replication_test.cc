// PostgreSQL streaming replication carried by a real gateway pair, under the
// sample database-replication policy (policies/db-replication.json):
//
//   standby -> gw-onprem service -> tunnel -> gw-cloud -> primary
//
// A primary and a standby (PostgreSQL 15) run on loopback. The standby's base
// backup and its replication connection go through braid: pg_basebackup and
// primary_conninfo name gw-onprem's service port, never the primary's own.
// pgbench writes on the primary in three rounds:
//   1. while the standby streams: the standby catches up, and both servers
//      give the same row counts and checksums;
//   2. while the standby is stopped: with no flow left, gw-onprem tears the
//      tunnel down after its idle timeout (1s);
//   3. while the standby starts again: its replication connection builds a
//      new tunnel, it catches up with everything it missed, and the checksums
//      match again.
// Meanwhile a connection from 127.0.0.2, a host the policy does not permit,
// is reset at once and logged as denied, and never reaches gw-cloud.
//
// Skipped, saying what to install, where PostgreSQL 15 is not installed.
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "integration/support/postgres.h"

namespace braid::integration {
namespace {

constexpr char kSamplePolicy[] = BRAID_SAMPLE_POLICY;
constexpr char kSlot[] = "standby";
constexpr uint64_t kMiB = uint64_t{1} << 20;

// Each pgbench round: this many transactions from each of kClients clients,
// at kRate transactions a second in all (a few seconds a round, and load
// that leaves the two gateways some CPU). Every transaction adds one row to
// pgbench_history.
constexpr int kClients = 2;
constexpr int kRate = 250;
constexpr int kTransactionsPerRound = 250;
// Round 3 is longer: it is still writing while the standby reconnects.
constexpr int kTransactionsLastRound = 500;

// What both servers must agree on: for each pgbench table, its row count,
// the sum of its balance column and an MD5 of every row in a fixed order.
constexpr char kChecksums[] = R"(
SELECT 'accounts', count(*), sum(abalance), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pgbench_accounts t
UNION ALL
SELECT 'branches', count(*), sum(bbalance), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pgbench_branches t
UNION ALL
SELECT 'tellers', count(*), sum(tbalance), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pgbench_tellers t
UNION ALL
SELECT 'history', count(*), sum(delta), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pgbench_history t
ORDER BY 1)";

// SamplePolicyOnLoopback is the sample policy with its permit rule moved
// onto loopback. The sample permits Host A (10.1.0.5) to reach Host B's
// PostgreSQL (10.2.0.9:5432) from gw-onprem to gw-cloud. Here both hosts are
// 127.0.0.1 and the primary listens on a free port, so rule "a-to-b-pg" gets
// src 127.0.0.1/32, dst 127.0.0.1 and that port. Everything else (rule
// "no-ssh", the gateway names, the default deny) is the sample's own, and is
// checked to still say what this test relies on.
::testing::AssertionResult SamplePolicyOnLoopback(uint16_t primary_port, nlohmann::json* out) {
  std::ifstream in(kSamplePolicy);
  nlohmann::json policy = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (policy.is_discarded()) return ::testing::AssertionFailure() << "cannot parse " << kSamplePolicy;
  if (policy.value("default", "") != "deny") {
    return ::testing::AssertionFailure() << kSamplePolicy << " no longer denies by default";
  }
  for (nlohmann::json& rule : policy["rules"]) {
    if (rule.value("id", "") != "a-to-b-pg") continue;
    if (rule.value("src_gateway", nlohmann::json()) != nlohmann::json{kOnprem} ||
        rule.value("dst_gateway", nlohmann::json()) != nlohmann::json{kCloud}) {
      return ::testing::AssertionFailure() << kSamplePolicy << ": rule a-to-b-pg no longer names " << kOnprem
                                           << " to " << kCloud;
    }
    rule["src"] = {"127.0.0.1/32"};
    rule["dst"] = {"127.0.0.1"};
    rule["dst_ports"] = {primary_port};
    *out = std::move(policy);
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << kSamplePolicy << " has no rule a-to-b-pg";
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class PostgresReplicationTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    std::string why_not;
    tools_ = PgTools::Find(&why_not);
    if (!tools_) GTEST_SKIP() << why_not;
    GatewayPairTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(tools_->OpenToUser(dir_.path())) << dir_.path();
    ASSERT_TRUE(tools_->MakeDir(Path("pg"))) << Path("pg");
  }

  void TearDown() override {
    if (HasFailure()) {
      for (PostgresServer* pg : {primary_.get(), standby_.get()}) {
        if (pg != nullptr) std::cerr << "---- " << pg->name() << " log (tail) ----\n" << pg->LogTail(40);
      }
    }
    // Servers first: a standby whose gateway went away first would only log
    // reconnection attempts.
    standby_.reset();
    primary_.reset();
    GatewayPairTest::TearDown();
  }

  // PgbenchArgs are pgbench's arguments for one round of writes on the
  // primary. No vacuum before the round: it would empty pgbench_history.
  std::vector<std::string> PgbenchArgs(int transactions) const {
    return Concat(PgTools::ClientArgs(primary_->port()),
                  {"-n", "-c", std::to_string(kClients), "-j", std::to_string(kClients), "-t",
                   std::to_string(transactions), "-R", std::to_string(kRate), "postgres"});
  }

  void Pgbench(int transactions) {
    RunResult r = tools_->Run("pgbench", PgbenchArgs(transactions), dir_.path());
    ASSERT_EQ(r.exit_code, 0) << "pgbench: " << r.err << r.out;
  }

  // WaitForStreaming waits until the standby streams from `port` (gw-onprem's
  // service) and the primary sees it doing so.
  ::testing::AssertionResult WaitForStreaming(uint16_t port) {
    if (auto r = standby_->WaitForQuery("SELECT status || ' ' || sender_host || ':' || sender_port "
                                        "FROM pg_stat_wal_receiver",
                                        "streaming 127.0.0.1:" + std::to_string(port), Millis(30'000));
        !r) {
      return r;
    }
    return primary_->WaitForQuery("SELECT count(*) FROM pg_stat_replication "
                                  "WHERE application_name = 'standby' AND state = 'streaming'",
                                  "1", Millis(30'000));
  }

  // ExpectSameData waits until the standby has replayed everything the
  // primary has written so far, then compares the checksums, and checks that
  // the primary's history holds `history_rows` rows (so that the comparison
  // is about data that was written, not two empty tables).
  void ExpectSameData(int history_rows) {
    std::string lsn;
    ASSERT_TRUE(primary_->Query("SELECT pg_current_wal_lsn()", &lsn));
    ASSERT_TRUE(standby_->WaitForQuery("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn", "t",
                                       Millis(30'000)))
        << "the standby did not catch up with the primary's WAL at " << lsn;
    std::string on_primary, on_standby;
    ASSERT_TRUE(primary_->Query(kChecksums, &on_primary));
    ASSERT_TRUE(standby_->Query(kChecksums, &on_standby));
    EXPECT_EQ(on_standby, on_primary) << "the standby's data differs from the primary's";
    std::string rows;
    ASSERT_TRUE(primary_->Query("SELECT count(*) FROM pgbench_history", &rows));
    EXPECT_EQ(rows, std::to_string(history_rows));
  }

  // ExpectRefusedHost connects to gw-onprem's service from 127.0.0.2. The
  // policy permits only 127.0.0.1 (Host A), so the default denies it: the
  // host sees its connection reset at once, gw-onprem logs the denial, and
  // nothing reaches gw-cloud.
  void ExpectRefusedHost(uint16_t service, uint16_t primary) {
    const auto start = Clock::now();
    int connect_error = 0;
    Socket s = ConnectFrom("127.0.0.2", service, After(Millis(5'000)), &connect_error);
    ReceiveResult r;
    if (s.valid()) r = ReceiveAll(s, After(Millis(5'000)));
    const auto elapsed = Clock::now() - start;
    // A gateway that accepts and resets at once can beat the connect's
    // completion: the reset shows in either place.
    EXPECT_TRUE(connect_error == ECONNRESET || r.end == StreamEnd::kReset)
        << "connect: " << (connect_error == 0 ? "ok" : strerror(connect_error)) << ", then "
        << StreamEndName(r.end) << ": a host the policy does not permit must see a reset";
    EXPECT_LT(elapsed, Millis(2'000)) << "a denied connection must be reset at once";
    ASSERT_TRUE(onprem_->WaitForLog("connection from 127.0.0.2:", Millis(5'000)));
    const std::regex denied("connection from 127\\.0\\.0\\.2:\\d+ to 127\\.0\\.0\\.1:" + std::to_string(primary) +
                            " denied by rule \\(default\\)");
    EXPECT_TRUE(std::regex_search(onprem_->Log(), denied)) << onprem_->LogTail(10);
    EXPECT_EQ(cloud_->CountInLog("127.0.0.2"), 0) << "a denied connection must not reach the far gateway";
  }

  std::optional<PgTools> tools_;
  std::unique_ptr<PostgresServer> primary_;
  std::unique_ptr<PostgresServer> standby_;
};

TEST_F(PostgresReplicationTest, StandbyConvergesThroughBraidAcrossAnIdleTeardown) {
  // PostgreSQL needs its port before it starts: two free ports, distinct.
  const uint16_t primary_port = FreePort();
  uint16_t standby_port = FreePort();
  while (standby_port == primary_port) standby_port = FreePort();
  ASSERT_NE(primary_port, 0);
  ASSERT_NE(standby_port, 0);

  // The primary, with pgbench's tables (100,000 accounts), written directly:
  // pgbench runs beside the primary, only replication crosses the link.
  primary_ = std::make_unique<PostgresServer>(*tools_, "primary", Path("pg"), dir_.path(), primary_port);
  ASSERT_TRUE(primary_->InitDb());
  ASSERT_TRUE(primary_->Start());
  RunResult init =
      tools_->Run("pgbench", Concat(PgTools::ClientArgs(primary_port), {"-i", "-s", "1", "-q", "postgres"}), dir_.path());
  ASSERT_EQ(init.exit_code, 0) << "pgbench -i: " << init.err;

  // The gateway pair, both sides under the sample policy; gw-cloud's target
  // is the primary. gw-onprem dials the tunnel and tears it down when idle.
  nlohmann::json policy;
  ASSERT_TRUE(SamplePolicyOnLoopback(primary_port, &policy));
  WritePolicy(kOnpremPolicy, policy);
  WritePolicy(kCloudPolicy, policy);
  ASSERT_TRUE(StartPair(primary_port, [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["tunnel"]["idle_timeout"] = "1s";
  }));
  const uint16_t braid_port = service_port();

  // The standby's base backup, through braid. It also makes the replication
  // slot that keeps on the primary whatever WAL the standby has not had yet,
  // so that the standby can catch up after being away.
  standby_ = std::make_unique<PostgresServer>(*tools_, "standby", Path("pg"), dir_.path(), standby_port);
  RunResult backup = tools_->Run(
      "pg_basebackup", Concat(PgTools::ClientArgs(braid_port), {"-D", standby_->data_dir(), "-X", "stream", "-c",
                                                               "fast", "-C", "-S", kSlot, "--no-sync"}),
      dir_.path());
  ASSERT_EQ(backup.exit_code, 0) << "pg_basebackup: " << backup.err;
  ASSERT_TRUE(standby_->AddSettings("primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(braid_port) +
                                    " user=postgres application_name=standby'\n"
                                    "primary_slot_name = '" + std::string(kSlot) + "'"));
  ASSERT_TRUE(WriteFileAtomically(standby_->data_dir() + "/standby.signal", ""));
  ASSERT_TRUE(standby_->Start());
  ASSERT_TRUE(WaitForStreaming(braid_port));
  std::string recovering;
  ASSERT_TRUE(standby_->Query("SELECT pg_is_in_recovery()", &recovering));
  ASSERT_EQ(recovering, "t") << "the second server must be a standby, or comparing the two proves nothing";

  {
    SCOPED_TRACE("round 1: pgbench while the standby streams");
    ASSERT_NO_FATAL_FAILURE(Pgbench(kTransactionsPerRound));
    ASSERT_NO_FATAL_FAILURE(ExpectSameData(kClients * kTransactionsPerRound));
  }

  const int dials = onprem_->CountInLog("dialing");
  {
    SCOPED_TRACE("round 2: pgbench while the standby is stopped and the tunnel idles out");
    const int teardowns = onprem_->CountInLog("closed: idle");
    ASSERT_TRUE(standby_->Stop());
    ASSERT_TRUE(onprem_->WaitForLog("closed: idle", Millis(10'000), teardowns + 1));
    ASSERT_NO_FATAL_FAILURE(Pgbench(kTransactionsPerRound));
  }

  {
    SCOPED_TRACE("round 3: pgbench while the standby reconnects through a new tunnel");
    std::string error;
    std::unique_ptr<Process> writer =
        tools_->Spawn("pgbench", PgbenchArgs(kTransactionsLastRound), Path("pgbench-round3.log"), &error);
    ASSERT_NE(writer, nullptr) << error;
    ASSERT_TRUE(standby_->Start());
    ASSERT_TRUE(WaitForStreaming(braid_port));
    EXPECT_GT(onprem_->CountInLog("dialing"), dials) << "replication did not build a new tunnel";
    ASSERT_NO_FATAL_FAILURE(ExpectRefusedHost(braid_port, primary_port));
    const std::optional<int> wrote = writer->WaitForExit(Millis(60'000));
    ASSERT_TRUE(wrote.has_value()) << "pgbench did not finish its round within 60s";
    ASSERT_TRUE(WIFEXITED(*wrote) && WEXITSTATUS(*wrote) == 0)
        << "pgbench: " << DescribeWaitStatus(*wrote) << "\n" << ReadFile(Path("pgbench-round3.log"));
    ASSERT_NO_FATAL_FAILURE(ExpectSameData(kClients * (2 * kTransactionsPerRound + kTransactionsLastRound)));
  }

  // The bytes went through the gateways: the flows that have ended (the
  // base backup's two, the standby's first replication connection) all went
  // to the primary, and one of them carried the base backup.
  const std::vector<FlowRecord> flows = onprem_->Flows();
  EXPECT_GE(flows.size(), 3u);
  uint64_t largest = 0;
  for (const FlowRecord& f : flows) {
    EXPECT_EQ(f.target, "127.0.0.1:" + std::to_string(primary_port));
    largest = std::max(largest, f.received);
  }
  EXPECT_GT(largest, 10 * kMiB) << "no flow through gw-onprem carried the base backup";
}

}  // namespace
}  // namespace braid::integration
