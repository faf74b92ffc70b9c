#include "integration/support/postgres.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "integration/support/net.h"
#include "integration/support/scratch_dir.h"

namespace braid::integration {
namespace {

// The user that runs PostgreSQL when the test runs as root.
constexpr char kPostgresUser[] = "postgres";
constexpr char kSetpriv[] = "/usr/bin/setpriv";
constexpr char kEnv[] = "/usr/bin/env";
// How often a waiting test asks a server again.
constexpr Millis kRetryPeriod(100);

// The settings of every test cluster (see the header). The port is given on
// the command line instead, so a standby made from a copy of the primary's
// files still gets its own.
constexpr char kSettings[] = R"(
# Added by the braid integration tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
max_wal_senders = 4
max_replication_slots = 4
wal_retrieve_retry_interval = '500ms'
log_connections = on
log_disconnections = on
log_replication_commands = on
)";

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::optional<PgTools> PgTools::Find(std::string* why_not) {
  PgTools tools;
  tools.bin_dir_ = kPostgresBinDir;
  for (const char* program : {"initdb", "postgres", "psql", "pg_basebackup", "pgbench"}) {
    const std::string path = tools.bin_dir_ + "/" + program;
    if (access(path.c_str(), X_OK) != 0) {
      *why_not = "PostgreSQL 15 is not installed (no " + path +
                 "): install the Debian packages postgresql-15 and postgresql-client-15 (scripts/bootstrap does)";
      return std::nullopt;
    }
  }
  if (geteuid() != 0) {
    // Already unprivileged: run the programs as this user, in a clean
    // environment.
    tools.run_as_ = {kEnv, "-i", "PATH=/usr/bin:/bin"};
    return tools;
  }
  const passwd* user = getpwnam(kPostgresUser);
  if (user == nullptr || user->pw_uid == 0) {
    *why_not = std::string("PostgreSQL refuses to run as root and there is no unprivileged user \"") + kPostgresUser +
               "\" to run it as: install the Debian package postgresql-15, which creates it (scripts/bootstrap does)";
    return std::nullopt;
  }
  if (access(kSetpriv, X_OK) != 0) {
    *why_not = std::string("no ") + kSetpriv + " to run PostgreSQL as \"" + kPostgresUser + "\": install util-linux";
    return std::nullopt;
  }
  tools.uid_ = user->pw_uid;
  tools.gid_ = user->pw_gid;
  // Changing the user clears the parent-death signal that Process sets, so
  // setpriv sets it again after the change.
  tools.run_as_ = {kSetpriv,
                   "--reuid", std::to_string(tools.uid_),
                   "--regid", std::to_string(tools.gid_),
                   "--clear-groups",
                   "--reset-env",
                   "--pdeathsig", "KILL",
                   "--"};
  return tools;
}

std::vector<std::string> PgTools::Argv(const std::string& program, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = run_as_;
  argv.push_back(bin_dir_ + "/" + program);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

RunResult PgTools::Run(const std::string& program, const std::vector<std::string>& args, const std::string& scratch,
                       Millis timeout) const {
  return RunToExit(Argv(program, args), scratch, timeout);
}

std::unique_ptr<Process> PgTools::Spawn(const std::string& program, const std::vector<std::string>& args,
                                        const std::string& log_path, std::string* error) const {
  return Process::Start(Argv(program, args), log_path, log_path, error);
}

bool PgTools::MakeDir(const std::string& path) const {
  if (mkdir(path.c_str(), 0700) != 0) return false;
  return geteuid() != 0 || chown(path.c_str(), uid_, gid_) == 0;
}

bool PgTools::OpenToUser(const std::string& dir) const { return geteuid() != 0 || chmod(dir.c_str(), 0711) == 0; }

std::vector<std::string> PgTools::ClientArgs(uint16_t port) {
  return {"-h", "127.0.0.1", "-p", std::to_string(port), "-U", kPostgresUser};
}

PostgresServer::PostgresServer(const PgTools& tools, std::string name, const std::string& dir, std::string scratch,
                               uint16_t port)
    : tools_(tools),
      name_(std::move(name)),
      dir_(dir),
      data_dir_(dir + "/" + name_),
      scratch_(std::move(scratch)),
      port_(port) {}

PostgresServer::~PostgresServer() { StopImmediately(); }

std::string PostgresServer::LogTail(size_t lines) const {
  std::string log;
  for (const std::string& path : logs_) log += "---- " + path + " ----\n" + ReadFile(path);
  size_t at = log.size();
  for (size_t n = 0; n <= lines && at > 0;) {
    --at;
    if (log[at] == '\n') ++n;
  }
  return log.substr(at == 0 ? 0 : at + 1);
}

::testing::AssertionResult PostgresServer::InitDb() {
  RunResult r = tools_.Run("initdb", {"-D", data_dir_, "-U", kPostgresUser, "--auth=trust", "--encoding=UTF8",
                                      "--locale=C", "--no-sync", "--no-instructions"},
                           scratch_);
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure() << "initdb " << data_dir_ << " exited " << r.exit_code << ": " << r.err;
  }
  std::ofstream conf(data_dir_ + "/postgresql.conf", std::ios::app);
  conf << kSettings;
  conf.flush();
  if (!conf) return ::testing::AssertionFailure() << "cannot append to " << data_dir_ << "/postgresql.conf";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult PostgresServer::AddSettings(const std::string& lines) {
  std::ofstream conf(data_dir_ + "/postgresql.auto.conf", std::ios::app);
  conf << lines << "\n";
  conf.flush();
  if (!conf) return ::testing::AssertionFailure() << "cannot append to " << data_dir_ << "/postgresql.auto.conf";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult PostgresServer::Start(Millis timeout) {
  // Each start has a log of its own, so a restarted server's earlier life
  // stays readable after a failure.
  logs_.push_back(dir_ + "/" + name_ + "." + std::to_string(logs_.size() + 1) + ".log");
  std::string error;
  process_ = Process::Start(tools_.Argv("postgres", {"-D", data_dir_, "-p", std::to_string(port_)}), logs_.back(),
                            logs_.back(), &error);
  if (!process_) return ::testing::AssertionFailure() << "cannot start postgres: " << error;
  const Deadline deadline = After(timeout);
  std::string out;
  for (;;) {
    if (Query("SELECT 1", &out, Millis(5'000)) && out == "1") return ::testing::AssertionSuccess();
    if (!process_->Running()) {
      return ::testing::AssertionFailure() << name_ << " exited (" << DescribeWaitStatus(*process_->wait_status())
                                           << ") before accepting connections; log:\n" << LogTail(30);
    }
    if (Clock::now() >= deadline) {
      return ::testing::AssertionFailure() << name_ << " did not accept connections within " << timeout.count()
                                           << "ms; log:\n" << LogTail(30);
    }
    std::this_thread::sleep_for(kRetryPeriod);
  }
}

::testing::AssertionResult PostgresServer::Stop(Millis timeout) {
  if (!process_ || !process_->Running()) return ::testing::AssertionFailure() << name_ << " is not running";
  process_->Signal(SIGINT);
  if (std::optional<int> status = process_->WaitForExit(timeout); !status) {
    return ::testing::AssertionFailure() << name_ << " did not shut down within " << timeout.count() << "ms";
  }
  return ::testing::AssertionSuccess();
}

void PostgresServer::StopImmediately() {
  if (!process_ || !process_->Running()) return;
  process_->Signal(SIGQUIT);
  if (!process_->WaitForExit(Millis(5'000))) process_->Kill();
}

::testing::AssertionResult PostgresServer::Query(const std::string& sql, std::string* out, Millis timeout) const {
  std::vector<std::string> args = PgTools::ClientArgs(port_);
  args.insert(args.end(), {"-d", "postgres", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql});
  RunResult r = tools_.Run("psql", args, scratch_, timeout);
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure() << "psql on " << name_ << " (port " << port_ << ") exited " << r.exit_code
                                         << " for \"" << sql << "\": " << r.err;
  }
  *out = TrimNewline(r.out);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult PostgresServer::WaitForQuery(const std::string& sql, const std::string& expected,
                                                        Millis timeout) const {
  const Deadline deadline = After(timeout);
  std::string out;
  ::testing::AssertionResult last = ::testing::AssertionFailure() << "not run";
  for (;;) {
    last = Query(sql, &out, Millis(5'000));
    if (last && out == expected) return ::testing::AssertionSuccess();
    if (Clock::now() >= deadline) {
      ::testing::AssertionResult failure = ::testing::AssertionFailure();
      failure << name_ << ": \"" << sql << "\" did not return \"" << expected << "\" within " << timeout.count()
              << "ms; ";
      if (last) {
        failure << "last result \"" << out << "\"";
      } else {
        failure << last.message();
      }
      return failure;
    }
    std::this_thread::sleep_for(kRetryPeriod);
  }
}

}  // namespace braid::integration
