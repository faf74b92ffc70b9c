// Integration tests of `braidctl policy check|lint|eval`: the real binary on
// policy files in a temporary directory, checking exit codes, stdout and
// stderr. Covers single and batch evaluation, bad input lines in batch mode,
// bad arguments (exit 2 with usage) and --help on every command.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sanitizers/sanitizer_report.h"

extern char** environ;

namespace braid {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kBraidctl[] = BRAIDCTL_PATH;
constexpr auto kRunDeadline = std::chrono::seconds(60);

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally (signal or timeout)
  std::string out;
  std::string err;
};

// RunBraidctl starts braidctl with `args`, feeds it `input` on stdin and collects
// stdout and stderr until it exits. Uses poll so that a child writing a lot
// while we are still writing its input cannot deadlock; kills the child after
// kRunDeadline.
RunResult RunBraidctl(const std::vector<std::string>& args, const std::string& input = "") {
  // A child that exits without reading all its input must not kill us.
  signal(SIGPIPE, SIG_IGN);
  RunResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);

  std::vector<std::string> argv_storage = {kBraidctl};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, kBraidctl, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << kBraidctl << ": " << std::strerror(rc);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return result;
  }

  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out[0], err_fd = err[0];
  const auto deadline = std::chrono::steady_clock::now() + kRunDeadline;
  bool timed_out = false;
  while (out_fd >= 0 || err_fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (poll(fds, static_cast<nfds_t>(n), static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE: child closed stdin
        if (written == input.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (fds[i].fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        int& fd = fds[i].fd == out_fd ? out_fd : err_fd;
        close(fd);
        fd = -1;
      }
    }
  }
  if (timed_out) kill(pid, SIGKILL);
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (std::string report = ::braid::sanitizers::SanitizerReport(result.err); !report.empty()) {
    ADD_FAILURE() << "braidctl printed a sanitizer report:\n" << report;
  }
  if (timed_out) {
    ADD_FAILURE() << "braidctl timed out";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else {
    ADD_FAILURE() << "braidctl died with signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  return result;
}

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

constexpr char kDbReplication[] = R"({
  "name": "db-replication",
  "default": "deny",
  "rules": [
    {"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
    {"id": "a-to-b-pg", "action": "permit", "proto": "tcp",
     "src": ["10.1.0.5/32"], "dst": ["10.2.0.9"], "dst_ports": [5432],
     "src_gateway": ["gw-onprem"], "dst_gateway": ["gw-cloud"],
     "comment": "only Host A may reach Host B's PostgreSQL"}
  ]
})";

constexpr char kPermitDefault[] = R"({
  "default": "permit",
  "rules": [
    {"id": "v6-block", "action": "deny", "src": ["2001:db8::/32"], "dst": ["2001:db8:1::/48"], "dst_ports": ["8000-8999"]},
    {"id": "dns", "action": "permit", "proto": "udp", "src_ports": ["1024-65535"], "dst_ports": [53]},
    {"id": "no-udp", "action": "deny", "proto": "udp"}
  ]
})";

constexpr char kShadowed[] = R"({
  "rules": [
    {"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
    {"id": "admin-ssh", "action": "permit", "proto": "tcp", "src": ["10.0.0.1"], "dst_ports": [22]}
  ]
})";

constexpr char kInvalid[] = R"({
  "rules": [
    {"id": "a", "action": "allow"},
    {"id": "a-to-b-pg", "action": "permit", "dst": ["10.0.0.300/24"]},
    {"id": "a", "action": "deny", "dst_ports": [70000]}
  ]
})";

class BraidctlPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "braidctl_policy_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    db_ = Write("db.json", kDbReplication);
    permit_ = Write("permit.json", kPermitDefault);
    shadowed_ = Write("shadowed.json", kShadowed);
    invalid_ = Write("invalid.json", kInvalid);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Eval runs a single `policy eval` and returns its stdout without the
  // trailing newline, expecting exit 0 and exactly one line.
  std::string Eval(const std::string& file, std::vector<std::string> flags) {
    std::vector<std::string> args = {"policy", "eval", file};
    args.insert(args.end(), flags.begin(), flags.end());
    RunResult r = RunBraidctl(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_EQ(Lines(r.out).size(), 1u) << Describe(r);
    EXPECT_THAT(r.out, testing::EndsWith("\n")) << Describe(r);
    return r.out.empty() ? "" : r.out.substr(0, r.out.size() - (r.out.back() == '\n' ? 1 : 0));
  }

  std::filesystem::path dir_;
  std::string db_, permit_, shadowed_, invalid_;
};

// ---------------------------------------------------------------------------
// check

TEST_F(BraidctlPolicyTest, CheckValid) {
  RunResult r = RunBraidctl({"policy", "check", db_});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(BraidctlPolicyTest, CheckInvalidReportsEveryError) {
  RunResult r = RunBraidctl({"policy", "check", invalid_});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(invalid_ + R"(: rule #1 (id "a"): action: "allow" must be "permit" or "deny")"));
  EXPECT_THAT(r.err, HasSubstr(invalid_ + R"(: rule #2 (id "a-to-b-pg"): dst[0]: "10.0.0.300/24" is not a CIDR)"));
  EXPECT_THAT(r.err, HasSubstr(invalid_ + R"(: rule #3 (id "a"): id: duplicate of rule #1)"));
  EXPECT_THAT(r.err, HasSubstr(invalid_ + R"(: rule #3 (id "a"): dst_ports[0]: 70000 is not a port (0-65535))"));
}

TEST_F(BraidctlPolicyTest, CheckInvalidJson) {
  std::string path = Write("syntax.json", "{\"rules\": [\n  {\"id\": \"x\",,}\n]}");
  RunResult r = RunBraidctl({"policy", "check", path});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(path + ": line 2, column "));
  EXPECT_THAT(r.err, HasSubstr("invalid JSON"));
}

TEST_F(BraidctlPolicyTest, CheckMissingFileFails) {
  RunResult r = RunBraidctl({"policy", "check", (dir_ / "missing.json").string()});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("missing.json"));
}

// ---------------------------------------------------------------------------
// lint

TEST_F(BraidctlPolicyTest, LintWarnsOnStdout) {
  RunResult r = RunBraidctl({"policy", "lint", shadowed_});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(R"(rule #2 (id "admin-ssh"))")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(R"(rule #1 (id "no-ssh"))")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("shadowed")) << Describe(r);
}

TEST_F(BraidctlPolicyTest, LintStrictFailsOnWarnings) {
  RunResult r = RunBraidctl({"policy", "lint", shadowed_, "--strict"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(R"(rule #2 (id "admin-ssh"))")) << Describe(r);
  RunResult before = RunBraidctl({"policy", "lint", "--strict", shadowed_});
  EXPECT_EQ(before.exit_code, 1) << Describe(before);
}

TEST_F(BraidctlPolicyTest, LintCleanPolicy) {
  RunResult r = RunBraidctl({"policy", "lint", db_});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, Not(HasSubstr("rule #"))) << Describe(r);
  RunResult strict = RunBraidctl({"policy", "lint", db_, "--strict"});
  EXPECT_EQ(strict.exit_code, 0) << Describe(strict);
}

TEST_F(BraidctlPolicyTest, LintHostBits) {
  std::string path = Write("hostbits.json", R"({"rules": [{"id": "h", "action": "permit", "src": ["10.0.0.5/24"]}]})");
  RunResult r = RunBraidctl({"policy", "lint", path, "--strict"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("10.0.0.5/24")) << Describe(r);
}

TEST_F(BraidctlPolicyTest, LintInvalidPolicyFails) {
  RunResult r = RunBraidctl({"policy", "lint", invalid_});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(R"(dst[0]: "10.0.0.300/24" is not a CIDR)"));
}

// ---------------------------------------------------------------------------
// eval, one flow

TEST_F(BraidctlPolicyTest, EvalPermitByRule) {
  EXPECT_EQ(Eval(db_, {"--src", "10.1.0.5", "--src-port", "40000", "--dst", "10.2.0.9", "--dst-port", "5432",
                       "--proto", "tcp", "--src-gateway", "gw-onprem", "--dst-gateway", "gw-cloud"}),
            R"({"action":"permit","rule":"a-to-b-pg"})");
}

TEST_F(BraidctlPolicyTest, EvalProtoDefaultsToTcp) {
  EXPECT_EQ(Eval(db_, {"--src", "10.1.0.5", "--dst", "10.2.0.9", "--dst-port", "5432", "--src-gateway", "gw-onprem",
                       "--dst-gateway", "gw-cloud"}),
            R"({"action":"permit","rule":"a-to-b-pg"})");
}

TEST_F(BraidctlPolicyTest, EvalDenyByRule) {
  EXPECT_EQ(Eval(db_, {"--src", "10.1.0.5", "--dst", "10.2.0.9", "--dst-port", "22", "--proto", "tcp"}),
            R"({"action":"deny","rule":"no-ssh"})");
}

TEST_F(BraidctlPolicyTest, EvalDenyByDefault) {
  // The right hosts but no gateways: an unknown gateway never matches.
  EXPECT_EQ(Eval(db_, {"--src", "10.1.0.5", "--dst", "10.2.0.9", "--dst-port", "5432", "--proto", "tcp"}),
            R"({"action":"deny","rule":null})");
  EXPECT_EQ(Eval(db_, {"--src", "10.1.0.5", "--dst", "10.2.0.9", "--dst-port", "22", "--proto", "udp"}),
            R"({"action":"deny","rule":null})");
  EXPECT_EQ(Eval(db_, {"--src", "2001:db8::1", "--dst", "2001:db8::2", "--dst-port", "5432"}),
            R"({"action":"deny","rule":null})");
}

TEST_F(BraidctlPolicyTest, EvalPermitByDefaultAndIpv6) {
  EXPECT_EQ(Eval(permit_, {"--src", "2001:db8::5", "--dst", "2001:db8:1::9", "--dst-port", "8999"}),
            R"({"action":"deny","rule":"v6-block"})");
  EXPECT_EQ(Eval(permit_, {"--src", "2001:db8::5", "--dst", "2001:db8:2::9", "--dst-port", "8999"}),
            R"({"action":"permit","rule":null})");
  EXPECT_EQ(Eval(permit_, {"--src", "2001:db8::5", "--dst", "2001:db8:1::9", "--dst-port", "9000"}),
            R"({"action":"permit","rule":null})");
}

TEST_F(BraidctlPolicyTest, EvalSrcPortAndProto) {
  EXPECT_EQ(Eval(permit_, {"--src", "10.0.0.1", "--src-port", "5353", "--dst", "10.0.0.53", "--dst-port", "53",
                           "--proto", "udp"}),
            R"({"action":"permit","rule":"dns"})");
  EXPECT_EQ(Eval(permit_, {"--src", "10.0.0.1", "--src-port", "53", "--dst", "10.0.0.53", "--dst-port", "53",
                           "--proto", "udp"}),
            R"({"action":"deny","rule":"no-udp"})");
  EXPECT_EQ(Eval(permit_, {"--src", "10.0.0.1", "--src-port", "5353", "--dst", "10.0.0.53", "--dst-port", "53",
                           "--proto", "tcp"}),
            R"({"action":"permit","rule":null})");
}

TEST_F(BraidctlPolicyTest, EvalInvalidPolicyFails) {
  RunResult r = RunBraidctl({"policy", "eval", invalid_, "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "1"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(R"(action: "allow" must be "permit" or "deny")"));
}

// ---------------------------------------------------------------------------
// eval --batch

TEST_F(BraidctlPolicyTest, BatchOneLinePerInputInOrder) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"src":"10.1.0.5","src_port":40000,"dst":"10.2.0.9","dst_port":5432,"proto":"tcp","src_gateway":"gw-onprem","dst_gateway":"gw-cloud"})",
       R"({"action":"permit","rule":"a-to-b-pg"})"},
      {R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22})", R"({"action":"deny","rule":"no-ssh"})"},
      {R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":5432})", R"({"action":"deny","rule":null})"},
      {R"({"dst_port":5432,"dst_gateway":"gw-cloud","src":"10.1.0.5","dst":"10.2.0.9","src_gateway":"gw-onprem"})",
       R"({"action":"permit","rule":"a-to-b-pg"})"},
      {R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22,"proto":"udp"})", R"({"action":"deny","rule":null})"},
      {R"({"src":"::1","dst":"::2","dst_port":22})", R"({"action":"deny","rule":"no-ssh"})"},
  };
  std::string input;
  for (const auto& [line, _] : cases) input += line + "\n";
  RunResult r = RunBraidctl({"policy", "eval", db_, "--batch"}, input);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), cases.size()) << Describe(r);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(lines[i], cases[i].second) << "input: " << cases[i].first;
}

TEST_F(BraidctlPolicyTest, BatchBadLinesGetErrorsAndTheRestGoOn) {
  const std::vector<std::string> input_lines = {
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22})",  // ok
      R"(this is not json)",
      R"({"src":"10.1.0.5","dst":"10.2.0.9"})",                  // dst_port missing
      R"({"dst":"10.2.0.9","dst_port":22})",                     // src missing
      R"({"src":"10.1.0.5","dst_port":22})",                     // dst missing
      R"({"src":"10.1.0.999","dst":"10.2.0.9","dst_port":22})",  // bad address
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":70000})", // bad port
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":"22x"})", // bad port type
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22,"proto":"icmp"})",
      R"([1,2,3])",
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22,"src_port":-1})",
      R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":22})",  // ok again
  };
  std::string input;
  for (const std::string& l : input_lines) input += l + "\n";
  RunResult r = RunBraidctl({"policy", "eval", db_, "--batch"}, input);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), input_lines.size()) << Describe(r);
  EXPECT_EQ(lines.front(), R"({"action":"deny","rule":"no-ssh"})");
  EXPECT_EQ(lines.back(), R"({"action":"deny","rule":"no-ssh"})");
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    SCOPED_TRACE("input: " + input_lines[i]);
    EXPECT_THAT(lines[i], StartsWith(R"({"error":)"));
    nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << lines[i];
    EXPECT_EQ(j.size(), 1u) << lines[i];
    ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << lines[i];
    EXPECT_FALSE(j["error"].get<std::string>().empty());
  }
}

TEST_F(BraidctlPolicyTest, BatchLastLineWithoutNewline) {
  RunResult r = RunBraidctl({"policy", "eval", db_, "--batch"},
                    "{\"src\":\"10.1.0.5\",\"dst\":\"10.2.0.9\",\"dst_port\":22}\n"
                    "{\"src\":\"10.1.0.5\",\"dst\":\"10.2.0.9\",\"dst_port\":23}");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Lines(r.out),
            (std::vector<std::string>{R"({"action":"deny","rule":"no-ssh"})", R"({"action":"deny","rule":null})"}));
}

TEST_F(BraidctlPolicyTest, BatchEmptyInput) {
  RunResult r = RunBraidctl({"policy", "eval", db_, "--batch"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, IsEmpty());
}

// Many lines: output keeps pace and order (and the pipe plumbing of both
// sides copes with more than a pipe buffer).
TEST_F(BraidctlPolicyTest, BatchManyLines) {
  constexpr int kLines = 20000;
  std::string input;
  for (int i = 0; i < kLines; ++i) {
    input += R"({"src":"10.1.0.5","dst":"10.2.0.9","dst_port":)" + std::to_string(i % 3 == 0 ? 22 : 1000 + i) + "}\n";
  }
  RunResult r = RunBraidctl({"policy", "eval", db_, "--batch"}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines)) << r.err;
  int wrong = 0;
  for (int i = 0; i < kLines; ++i) {
    const char* want = i % 3 == 0 ? R"({"action":"deny","rule":"no-ssh"})" : R"({"action":"deny","rule":null})";
    if (lines[static_cast<size_t>(i)] != want && ++wrong <= 3) ADD_FAILURE() << "line " << i << ": " << lines[i];
  }
}

// The batch answers agree with one-at-a-time answers.
TEST_F(BraidctlPolicyTest, BatchAgreesWithSingleEval) {
  struct Flow {
    std::string src, dst, proto;
    int sport, dport;
  };
  const std::vector<Flow> flows = {
      {"10.0.0.1", "10.0.0.53", "udp", 5353, 53}, {"10.0.0.1", "10.0.0.53", "udp", 53, 53},
      {"2001:db8::5", "2001:db8:1::9", "tcp", 1, 8000}, {"2001:db8::5", "2001:db8:1::9", "tcp", 1, 7999},
      {"10.0.0.1", "10.0.0.2", "tcp", 0, 0}, {"::ffff:10.0.0.1", "2001:db8:1::1", "udp", 65535, 65535},
  };
  std::string input;
  std::vector<std::string> single;
  for (const Flow& f : flows) {
    input += R"({"src":")" + f.src + R"(","src_port":)" + std::to_string(f.sport) + R"(,"dst":")" + f.dst +
             R"(","dst_port":)" + std::to_string(f.dport) + R"(,"proto":")" + f.proto + "\"}\n";
    single.push_back(Eval(permit_, {"--src", f.src, "--src-port", std::to_string(f.sport), "--dst", f.dst,
                                    "--dst-port", std::to_string(f.dport), "--proto", f.proto}));
  }
  RunResult r = RunBraidctl({"policy", "eval", permit_, "--batch"}, input);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Lines(r.out), single);
}

// ---------------------------------------------------------------------------
// Bad arguments and --help.

struct BadArgs {
  const char* name;
  std::vector<std::string> args;  // "FILE" is replaced by a valid policy path
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const BadArgs& c, std::ostream* os) { *os << c.name; }

class BraidctlBadArgsTest : public BraidctlPolicyTest, public ::testing::WithParamInterface<BadArgs> {};

TEST_P(BraidctlBadArgsTest, ExitTwoWithUsage) {
  std::vector<std::string> args = GetParam().args;
  for (std::string& a : args) {
    if (a == "FILE") a = db_;
  }
  RunResult r = RunBraidctl(args);
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, ContainsRegex("[Uu]sage|--help")) << Describe(r);
  EXPECT_THAT(r.out, Not(HasSubstr("\"action\""))) << Describe(r);
}

INSTANTIATE_TEST_SUITE_P(
    BadArgs, BraidctlBadArgsTest,
    ::testing::Values(
        BadArgs{"NoCommand", {}},
        BadArgs{"PolicyWithoutSubcommand", {"policy"}},
        BadArgs{"UnknownSubcommand", {"policy", "frobnicate", "FILE"}},
        BadArgs{"CheckWithoutFile", {"policy", "check"}},
        BadArgs{"CheckUnknownFlag", {"policy", "check", "FILE", "--frobnicate"}},
        BadArgs{"LintWithoutFile", {"policy", "lint"}},
        BadArgs{"EvalNothing", {"policy", "eval", "FILE"}},
        BadArgs{"EvalWithoutFile", {"policy", "eval", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "1"}},
        BadArgs{"EvalMissingDst", {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst-port", "1"}},
        BadArgs{"EvalMissingSrc", {"policy", "eval", "FILE", "--dst", "10.0.0.1", "--dst-port", "1"}},
        BadArgs{"EvalMissingDstPort", {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "10.0.0.2"}},
        BadArgs{"EvalBadSrc", {"policy", "eval", "FILE", "--src", "10.0.0.300", "--dst", "10.0.0.2", "--dst-port", "1"}},
        BadArgs{"EvalBadDst", {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "host", "--dst-port", "1"}},
        BadArgs{"EvalPortTooBig", {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "70000"}},
        BadArgs{"EvalPortNotNumber", {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "ssh"}},
        BadArgs{"EvalNegativeSrcPort",
                {"policy", "eval", "FILE", "--src", "10.0.0.1", "--src-port", "-1", "--dst", "10.0.0.2", "--dst-port", "1"}},
        BadArgs{"EvalBadProto",
                {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "1", "--proto", "icmp"}},
        BadArgs{"EvalUnknownFlag",
                {"policy", "eval", "FILE", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--dst-port", "1", "--sport", "5"}}),
    [](const ::testing::TestParamInfo<BadArgs>& param_info) { return param_info.param.name; });

class BraidctlHelpTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(BraidctlHelpTest, ExitsZeroWithUsage) {
  RunResult r = RunBraidctl(GetParam());
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, ContainsRegex("[Uu]sage")) << Describe(r);
}

INSTANTIATE_TEST_SUITE_P(HelpCommands, BraidctlHelpTest,
                         ::testing::Values(std::vector<std::string>{"--help"},
                                           std::vector<std::string>{"policy", "--help"},
                                           std::vector<std::string>{"policy", "check", "--help"},
                                           std::vector<std::string>{"policy", "lint", "--help"},
                                           std::vector<std::string>{"policy", "eval", "--help"}));

TEST(BraidctlHelpContentTest, EvalHelpListsItsOptions) {
  RunResult r = RunBraidctl({"policy", "eval", "--help"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* opt : {"--src", "--src-port", "--dst", "--dst-port", "--proto", "--src-gateway", "--dst-gateway",
                          "--batch"}) {
    EXPECT_THAT(r.out, HasSubstr(opt));
  }
  RunResult lint = RunBraidctl({"policy", "lint", "--help"});
  EXPECT_THAT(lint.out, HasSubstr("--strict"));
}

}  // namespace
}  // namespace braid
