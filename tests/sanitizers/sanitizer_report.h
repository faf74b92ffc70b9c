// SanitizerReport: finds a sanitizer's report in what a child process wrote.
//
// The integration tests run the real binaries (braid-proxy, braidctl) as
// child processes. In a sanitizer build (scripts/test-sanitizers) the
// children are instrumented too, and a child's report goes to its own
// stderr, which the test has captured into a file or a string: unless the
// test looks there, nothing fails. A child's exit status is not enough
// either: a gateway stopped by the test with SIGTERM is not checked for it,
// and ThreadSanitizer carries on after a report. So every harness that runs
// a child passes its output through SanitizerReport and fails the test when
// it finds one (tests/integration/support/process.cc does it for every
// Process when it reaps it).
#ifndef BRAID_TESTS_SANITIZERS_SANITIZER_REPORT_H_
#define BRAID_TESTS_SANITIZERS_SANITIZER_REPORT_H_

#include <algorithm>
#include <string>
#include <string_view>

namespace braid::sanitizers {

// SanitizerReport returns `output` from the line where the first sanitizer
// report starts ("==PID==ERROR: AddressSanitizer: ...", "WARNING:
// ThreadSanitizer: data race", "SUMMARY: UndefinedBehaviorSanitizer: ...",
// ...), at most `max_size` bytes of it, or "" if there is none.
inline std::string SanitizerReport(std::string_view output, size_t max_size = 16 * 1024) {
  static constexpr std::string_view kLevels[] = {"ERROR: ", "WARNING: ", "FATAL: ", "SUMMARY: "};
  static constexpr std::string_view kTools[] = {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                                                "UndefinedBehaviorSanitizer"};
  size_t first = std::string_view::npos;
  for (std::string_view level : kLevels) {
    for (std::string_view tool : kTools) {
      const std::string marker = std::string(level) + std::string(tool);
      first = std::min(first, output.find(marker));
    }
  }
  if (first == std::string_view::npos) return "";
  // A UBSan report opens with "file:line:col: runtime error: ..." on the
  // line or two before its SUMMARY; start from there when it is near.
  const size_t runtime_error = output.rfind(": runtime error: ", first);
  if (runtime_error != std::string_view::npos && first - runtime_error < 4096) first = runtime_error;
  const size_t line = output.rfind('\n', first);
  return std::string(output.substr(line == std::string_view::npos ? 0 : line + 1, max_size));
}

}  // namespace braid::sanitizers

#endif  // BRAID_TESTS_SANITIZERS_SANITIZER_REPORT_H_
