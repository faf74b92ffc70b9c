// GatewayProcess: one real braid-proxy run by a test, and what a test reads
// from it: its log (stdout and stderr together, polled with deadlines), its listening ports (from
// the log, so configs can use port 0), the per-flow log lines, its memory.
//
// Also the PKI helpers that drive the real `braidctl pki`.
//
// Main test thread only; not thread-safe.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/process.h"
#include "nlohmann/json.hpp"

namespace braid::integration {

inline constexpr char kBraidProxy[] = BRAID_PROXY_PATH;
inline constexpr char kBraidctl[] = BRAIDCTL_PATH;

// MakeCa runs `braidctl pki init DIR`; IssueCert runs `braidctl pki issue DIR
// NAME`. `scratch` holds their output.
::testing::AssertionResult MakeCa(const std::string& dir, const std::string& scratch);
::testing::AssertionResult IssueCert(const std::string& dir, const std::string& name, const std::string& scratch);

// FlowRecord is one "flow ID SIDE src=... end=REASON" log line.
struct FlowRecord {
  uint32_t id = 0;
  std::string side;  // "ingress" or "egress"
  std::string src, target, peer;
  uint64_t sent = 0, received = 0;
  std::string end;     // a CloseReason name: completed, tunnel_lost, ...
  std::string rule;    // the rule that admitted or refused it; "(default)"
  std::string detail;  // "" when none
};

class GatewayProcess {
 public:
  // `dir` holds NAME.json (the config, written by Start) and NAME.log.
  GatewayProcess(std::string name, std::string dir, nlohmann::json config);
  ~GatewayProcess();

  const std::string& name() const { return name_; }
  nlohmann::json& config() { return config_; }
  std::string config_path() const { return dir_ + "/" + name_ + ".json"; }
  std::string log_path() const { return dir_ + "/" + name_ + ".log"; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Start writes the config, starts braid-proxy on it and waits until it
  // logs its tunnel listener and every service listener.
  ::testing::AssertionResult Start(Millis timeout = Millis(20'000));
  uint16_t tunnel_port() const { return tunnel_port_; }
  // ServicePort is the port of the service `name` (0 if unknown).
  uint16_t ServicePort(const std::string& service) const;
  // AdminPort waits (10 s at most) for the admin endpoint's log line and
  // returns its port (0 if none).
  uint16_t AdminPort();

  // WaitForLog waits until `needle` occurs at least `count` times in the
  // log. Fails early, with the log's tail, if the gateway exits.
  ::testing::AssertionResult WaitForLog(std::string_view needle, Millis timeout, int count = 1);
  int CountInLog(std::string_view needle) const;
  std::string Log() const;
  std::string LogTail(size_t lines) const;
  // Flows parses every finished-flow line of the log.
  std::vector<FlowRecord> Flows() const;
  // WaitForFlows waits until `count` flow lines were logged.
  ::testing::AssertionResult WaitForFlows(size_t count, Millis timeout);

  // RssKiB reads VmRSS from /proc/PID/status; nullopt if not running.
  std::optional<long> RssKiB() const;
  // OpenFds counts the entries of /proc/PID/fd; nullopt if not running.
  std::optional<int> OpenFds() const;

  bool Running();
  bool Signal(int sig);
  // Kill sends SIGKILL and reaps it; the test meant it, so TearDown does not
  // report the exit.
  void Kill();
  // Stop sends SIGTERM and waits `grace`, then kills. True if it stopped by
  // itself.
  bool Stop(Millis grace = Millis(5'000));
  // UnexpectedExit describes an exit the test did not cause ("" if none):
  // a crash, an abort, an exit on its own.
  std::string UnexpectedExit();

 private:
  std::string name_;
  std::string dir_;
  nlohmann::json config_;
  std::unique_ptr<Process> process_;
  uint16_t tunnel_port_ = 0;
  bool stopped_by_test_ = false;
};

// kRssMeasuresBraid is false in a sanitizer build (scripts/test-sanitizers),
// where a gateway's RSS is mostly the sanitizer's own memory: ASan's shadow,
// the redzones around every block and its quarantine of freed blocks (256
// MiB by default, filled by any transfer, since every frame is freed), or
// TSan's shadow. The tests' memory bounds are checked only where RSS
// measures braid; what a test checks besides (limits, data, resets) holds
// in every build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kRssMeasuresBraid = false;
#else
inline constexpr bool kRssMeasuresBraid = true;
#endif

// RssKiBOf and OpenFdsOf read any process's VmRSS and descriptor count
// from /proc; nullopt if it is gone. Safe from any thread.
std::optional<long> RssKiBOf(pid_t pid);
std::optional<int> OpenFdsOf(pid_t pid);

// PeakRss samples the VmRSS of a few processes every `period` on a thread
// of its own, from construction until Stop() (or destruction), and keeps
// each one's peak: a test's memory bound is checked against the highest
// value seen while something ran, not only against the value at its end.
class PeakRss {
 public:
  PeakRss(std::vector<pid_t> pids, Millis period = Millis(50));
  ~PeakRss() { Stop(); }
  PeakRss(const PeakRss&) = delete;
  PeakRss& operator=(const PeakRss&) = delete;
  void Stop();
  // The highest VmRSS (KiB) of pids[i] sampled so far (0 if never read).
  long peak(size_t i) const { return peaks_[i].load(); }
  int samples() const { return samples_.load(); }

 private:
  std::vector<pid_t> pids_;
  std::unique_ptr<std::atomic<long>[]> peaks_;
  std::atomic<int> samples_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_GATEWAY_H_
