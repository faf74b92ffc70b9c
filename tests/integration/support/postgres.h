// PostgreSQL for integration tests: the PostgreSQL 15 programs (PgTools) and
// one server run by a test (PostgresServer), on loopback TCP only.
//
// PostgreSQL refuses to run as root. When the test runs as root, every
// PostgreSQL program is run as the unprivileged `postgres` user (the one the
// Debian package creates) through setpriv, which also sets the parent-death
// signal again, so a crashed test leaves no server behind. As any other
// user, the programs run as that user. Either way they start with a clean
// environment.
//
// Every server listens on 127.0.0.1 and a port chosen by the test, with no
// Unix socket, trusts every local connection, and skips fsync: these are
// throwaway clusters. Clients always name host, port, user and database, so
// nothing in the environment (PGHOST, PGPORT, ...) can redirect them.
//
// Main test thread only; not thread-safe.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_POSTGRES_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_POSTGRES_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/process.h"

namespace braid::integration {

// Where the Debian package puts the PostgreSQL 15 programs.
inline constexpr char kPostgresBinDir[] = "/usr/lib/postgresql/15/bin";

class PgTools {
 public:
  // Find checks that the programs are installed and that there is a user to
  // run them as. nullopt, with the reason in *why_not, when they cannot be
  // used here.
  static std::optional<PgTools> Find(std::string* why_not);

  // Argv is the command line that runs `program` (a name in the bin
  // directory) with `args` as the unprivileged user.
  std::vector<std::string> Argv(const std::string& program, const std::vector<std::string>& args) const;
  // Run runs `program` to completion (see RunToExit).
  RunResult Run(const std::string& program, const std::vector<std::string>& args, const std::string& scratch,
                Millis timeout = Millis(60'000)) const;
  // Spawn starts `program` in the background, its output in `log_path`.
  // nullptr, with *error set, if it cannot be started.
  std::unique_ptr<Process> Spawn(const std::string& program, const std::vector<std::string>& args,
                                 const std::string& log_path, std::string* error) const;
  // MakeDir makes `path` (mode 0700), owned by the user that runs the
  // programs. False on any error.
  bool MakeDir(const std::string& path) const;
  // OpenToUser lets that user reach the files below `dir` (a directory of
  // the test's own, mode 0700): execute permission only, so the user can
  // pass through it without listing it. Nothing to do when the test does
  // not run as root.
  bool OpenToUser(const std::string& dir) const;

  // ClientArgs are the connection options of psql, pgbench and
  // pg_basebackup for a server on 127.0.0.1:port.
  static std::vector<std::string> ClientArgs(uint16_t port);

 private:
  std::string bin_dir_;
  std::vector<std::string> run_as_;  // the argv prefix; empty when not root
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

class PostgresServer {
 public:
  // `dir` holds the data directory NAME (owned by the PostgreSQL user) and
  // the server's logs, NAME.1.log for its first start, NAME.2.log for the
  // next; `scratch` is for client output.
  PostgresServer(const PgTools& tools, std::string name, const std::string& dir, std::string scratch, uint16_t port);
  // The destructor stops the server at once (StopImmediately).
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  const std::string& name() const { return name_; }
  const std::string& data_dir() const { return data_dir_; }
  uint16_t port() const { return port_; }
  // LogTail is the end of the server's logs, every start's in turn.
  std::string LogTail(size_t lines) const;

  // InitDb makes a new cluster in data_dir() with the settings above; the
  // user "postgres" is its superuser.
  ::testing::AssertionResult InitDb();
  // AddSettings appends `lines` to postgresql.auto.conf, which overrides
  // postgresql.conf (a base backup copies both from the primary).
  ::testing::AssertionResult AddSettings(const std::string& lines);

  // Start starts the server on data_dir() and waits until it answers a
  // query (a standby: until it accepts read-only queries).
  ::testing::AssertionResult Start(Millis timeout = Millis(30'000));
  // Stop is a fast shutdown (what `pg_ctl stop -m fast` does): clients are
  // disconnected, the server writes a shutdown checkpoint and exits.
  ::testing::AssertionResult Stop(Millis timeout = Millis(30'000));
  // StopImmediately is an immediate shutdown (`pg_ctl stop -m immediate`),
  // then SIGKILL if it takes more than a few seconds. For clean-up.
  void StopImmediately();
  bool Running() { return process_ && process_->Running(); }

  // Query runs `sql` with psql and puts its result in *out: unaligned, one
  // row a line, columns separated by '|', no header, no trailing newline.
  ::testing::AssertionResult Query(const std::string& sql, std::string* out, Millis timeout = Millis(30'000)) const;
  // WaitForQuery runs `sql` until it returns `expected`; a query that fails
  // counts as not yet.
  ::testing::AssertionResult WaitForQuery(const std::string& sql, const std::string& expected, Millis timeout) const;

 private:
  const PgTools& tools_;
  std::string name_;
  std::string dir_;
  std::string data_dir_;
  std::vector<std::string> logs_;  // one per start
  std::string scratch_;
  uint16_t port_;
  std::unique_ptr<Process> process_;
};

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_POSTGRES_H_
