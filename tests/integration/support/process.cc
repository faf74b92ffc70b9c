#include "integration/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "gtest/gtest.h"
#include "integration/support/scratch_dir.h"
#include "sanitizers/sanitizer_report.h"

namespace braid::integration {
namespace {

// How often WaitForExit looks at the child. Waiting is on a condition with a
// deadline; this is only the polling period.
constexpr Millis kPollPeriod(5);

}  // namespace

std::unique_ptr<Process> Process::Start(const std::vector<std::string>& argv, const std::string& stdout_path,
                                        const std::string& stderr_path, std::string* error) {
  if (argv.empty()) {
    *error = "empty argv";
    return nullptr;
  }
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  // One file for both streams shares one descriptor (and offset), so lines
  // written to either interleave instead of overwriting each other.
  const int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  const int err = stderr_path == stdout_path ? fcntl(out, F_DUPFD_CLOEXEC, 0)
                                             : open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || err < 0 || in < 0) {
    *error = "cannot open output files in " + stdout_path + ": " + strerror(errno);
    for (int fd : {out, err, in}) {
      if (fd >= 0) close(fd);
    }
    return nullptr;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died before prctl
    signal(SIGPIPE, SIG_DFL);             // the child starts with default dispositions
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    // No descriptor of the test (a sink's socket, say) may live on in a
    // gateway: it would keep connections open after the test closes them.
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execv(args[0], args.data());
    const char msg[] = "exec failed\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  const int fork_errno = errno;
  close(out);
  close(err);
  close(in);
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(fork_errno);
    return nullptr;
  }
  std::vector<std::string> output_paths = {stdout_path};
  if (stderr_path != stdout_path) output_paths.push_back(stderr_path);
  return std::unique_ptr<Process>(new Process(pid, argv[0], std::move(output_paths)));
}

Process::~Process() { Stop(Millis(5'000)); }

bool Process::Reap(bool block) {
  if (wait_status_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    wait_status_ = status;
    CheckForSanitizerReport();
    return true;
  }
  return false;
}

void Process::CheckForSanitizerReport() const {
  for (const std::string& path : output_paths_) {
    if (std::string report = braid::sanitizers::SanitizerReport(ReadFile(path)); !report.empty()) {
      ADD_FAILURE() << program_ << " (pid " << pid_ << ", " << DescribeWaitStatus(*wait_status_)
                    << ") printed a sanitizer report in " << path << ":\n"
                    << report;
    }
  }
}

bool Process::Running() { return !Reap(false); }

bool Process::Signal(int sig) {
  if (Reap(false)) return false;
  return kill(pid_, sig) == 0;
}

std::optional<int> Process::WaitForExit(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollPeriod);
  }
  return wait_status_;
}

bool Process::Stop(Millis grace) {
  if (Reap(false)) return true;
  kill(pid_, SIGTERM);
  if (WaitForExit(grace)) return true;
  Kill();
  return false;
}

void Process::Kill() {
  if (Reap(false)) return;
  kill(pid_, SIGKILL);
  Reap(true);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  }
  return "status " + std::to_string(status);
}

RunResult RunToExit(const std::vector<std::string>& argv, const std::string& scratch, Millis timeout) {
  static std::atomic<int> counter{0};
  const std::string base = scratch + "/run-" + std::to_string(counter++);
  RunResult result;
  std::string error;
  std::unique_ptr<Process> p = Process::Start(argv, base + ".out", base + ".err", &error);
  if (!p) {
    result.err = error;
    return result;
  }
  std::optional<int> status = p->WaitForExit(timeout);
  if (!status) p->Kill();
  if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  result.out = ReadFile(base + ".out");
  result.err = ReadFile(base + ".err");
  return result;
}

}  // namespace braid::integration
