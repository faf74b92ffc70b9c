// Process: a child process started by a test (braid-proxy, braidctl), with
// its stdout and stderr in files that the test can poll while it runs.
//
// Ownership: the Process object owns the child. Its destructor stops it
// (SIGTERM, a grace period, then SIGKILL) and reaps it, so no test leaves a
// process behind. A child also gets SIGKILL if the test binary itself dies
// (PR_SET_PDEATHSIG, set between fork and exec; posix_spawn has no hook for
// it), so even a crashed or timed-out test cannot leak gateways. For that
// reason a Process must be started and destroyed on the same thread: the
// death signal follows the thread that forked.
//
// When the child has been reaped, its output files are searched for a
// sanitizer's report (sanitizers/sanitizer_report.h), and one found fails
// the running test: in a sanitizer build a bug in a gateway fails the test
// that ran it, whether the gateway crashed, exited on its own or was
// stopped by the test.
//
// Only the test's main thread uses a Process; it is not thread-safe.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_PROCESS_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace braid::integration {

using Millis = std::chrono::milliseconds;

class Process {
 public:
  // Start runs argv[0] (a path) with `argv`, stdin from /dev/null and
  // stdout/stderr truncated into the two files (the same path: one file). Returns nullptr and sets
  // `*error` if it cannot be started.
  static std::unique_ptr<Process> Start(const std::vector<std::string>& argv, const std::string& stdout_path,
                                        const std::string& stderr_path, std::string* error);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Running reaps the child if it has exited; true while it runs.
  bool Running();
  // Signal sends `sig`; false if the child has already been reaped.
  bool Signal(int sig);
  // WaitForExit waits up to `timeout` for the child to exit and returns its
  // wait status (see DescribeWaitStatus), or nullopt if it is still running.
  std::optional<int> WaitForExit(Millis timeout);
  // Stop sends SIGTERM, waits up to `grace`, then SIGKILLs. Returns true if
  // the child exited by itself within the grace period (or already had).
  bool Stop(Millis grace);
  // Kill sends SIGKILL and reaps the child.
  void Kill();
  // The wait status once the child has been reaped.
  std::optional<int> wait_status() const { return wait_status_; }

 private:
  Process(pid_t pid, std::string program, std::vector<std::string> output_paths)
      : pid_(pid), program_(std::move(program)), output_paths_(std::move(output_paths)) {}
  bool Reap(bool block);
  // CheckForSanitizerReport adds a test failure for a report in the output.
  void CheckForSanitizerReport() const;

  pid_t pid_;
  std::string program_;
  std::vector<std::string> output_paths_;  // one path if both streams share it
  std::optional<int> wait_status_;
};

// DescribeWaitStatus: "exit 1", "signal 9 (Killed)".
std::string DescribeWaitStatus(int status);

// RunResult is what RunToExit collects.
struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or by the deadline
  std::string out;
  std::string err;
};

// RunToExit runs a short-lived command (braidctl, braid-proxy --check) to
// completion, killing it after `timeout`. `scratch` is a directory for the
// output files.
RunResult RunToExit(const std::vector<std::string>& argv, const std::string& scratch, Millis timeout = Millis(60'000));

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_PROCESS_H_
