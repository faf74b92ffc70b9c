#include "integration/support/gateway.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "integration/support/scratch_dir.h"

namespace braid::integration {
namespace {

constexpr Millis kLogPollPeriod(10);

size_t Count(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

::testing::AssertionResult RunBraidctl(const std::vector<std::string>& args, const std::string& scratch) {
  std::vector<std::string> argv = {kBraidctl};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunToExit(argv, scratch);
  if (r.exit_code == 0) return ::testing::AssertionSuccess();
  std::string cmd;
  for (const std::string& a : argv) cmd += a + " ";
  return ::testing::AssertionFailure() << cmd << "exited " << r.exit_code << ": " << r.err;
}

}  // namespace

::testing::AssertionResult MakeCa(const std::string& dir, const std::string& scratch) {
  return RunBraidctl({"pki", "init", dir}, scratch);
}

::testing::AssertionResult IssueCert(const std::string& dir, const std::string& name, const std::string& scratch) {
  return RunBraidctl({"pki", "issue", dir, name}, scratch);
}

GatewayProcess::GatewayProcess(std::string name, std::string dir, nlohmann::json config)
    : name_(std::move(name)), dir_(std::move(dir)), config_(std::move(config)) {}

GatewayProcess::~GatewayProcess() { Stop(); }

::testing::AssertionResult GatewayProcess::Start(Millis timeout) {
  // SIGTERM drains (flows may finish for limits.drain_timeout, 30 s by
  // default): tests stop gateways with flows still open, and a second
  // short of that, unless a test sets its own.
  if (!config_["limits"].contains("drain_timeout")) config_["limits"]["drain_timeout"] = "1s";
  if (!WriteFileAtomically(config_path(), config_.dump(2))) {
    return ::testing::AssertionFailure() << "cannot write " << config_path();
  }
  std::string error;
  // The log is whatever the gateway writes, on either stream.
  process_ = Process::Start({kBraidProxy, "--config", config_path()}, log_path(), log_path(), &error);
  if (!process_) return ::testing::AssertionFailure() << "cannot start braid-proxy: " << error;
  const size_t services = config_.contains("services") ? config_["services"].size() : 0;
  if (auto r = WaitForLog("tunnel listener on ", timeout); !r) return r;
  if (services > 0) {
    if (auto r = WaitForLog("service ", timeout, static_cast<int>(services)); !r) return r;
  }
  std::smatch m;
  const std::string log = Log();
  if (std::regex_search(log, m, std::regex(R"(tunnel listener on [0-9.]+:(\d+))"))) {
    tunnel_port_ = static_cast<uint16_t>(std::stoi(m[1]));
  }
  return ::testing::AssertionSuccess();
}

uint16_t GatewayProcess::ServicePort(const std::string& service) const {
  std::smatch m;
  const std::string log = Log();
  if (std::regex_search(log, m, std::regex("service " + service + R"( on [0-9.]+:(\d+) )"))) {
    return static_cast<uint16_t>(std::stoi(m[1]));
  }
  return 0;
}

uint16_t GatewayProcess::AdminPort() {
  if (!WaitForLog("admin endpoint on 127.0.0.1:", Millis(10'000))) return 0;
  std::smatch m;
  const std::string log = Log();
  static const std::regex kLine(R"(admin endpoint on 127\.0\.0\.1:(\d+))");
  return std::regex_search(log, m, kLine) ? static_cast<uint16_t>(std::stoi(m[1])) : 0;
}

::testing::AssertionResult GatewayProcess::WaitForLog(std::string_view needle, Millis timeout, int count) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (CountInLog(needle) >= count) return ::testing::AssertionSuccess();
    const bool running = Running();
    if (!running && CountInLog(needle) < count) {
      return ::testing::AssertionFailure() << name_ << " exited (" << DescribeWaitStatus(*process_->wait_status())
                                           << ") before logging \"" << needle << "\" x" << count << "; log:\n"
                                           << LogTail(30);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure() << name_ << " did not log \"" << needle << "\" x" << count << " within "
                                           << timeout.count() << "ms (seen " << CountInLog(needle)
                                           << "); log:\n" << LogTail(30);
    }
    std::this_thread::sleep_for(kLogPollPeriod);
  }
}

int GatewayProcess::CountInLog(std::string_view needle) const { return static_cast<int>(Count(Log(), needle)); }

std::string GatewayProcess::Log() const { return ReadFile(log_path()); }

std::string GatewayProcess::LogTail(size_t lines) const {
  const std::string log = Log();
  size_t at = log.size();
  for (size_t n = 0; n <= lines && at > 0;) {
    --at;
    if (log[at] == '\n') ++n;
  }
  return log.substr(at == 0 ? 0 : at + 1);
}

std::vector<FlowRecord> GatewayProcess::Flows() const {
  static const std::regex kLine(
      R"(flow (\d+) (ingress|egress) src=(\S+) target=(\S+) peer=(\S+) tunnel=\d+ sent=(\d+) received=(\d+) duration=\d+ms end=(\w+) rule=(\S+)(?: detail=(.*))?)");
  std::vector<FlowRecord> flows;
  std::istringstream in(Log());
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) continue;
    FlowRecord f;
    f.id = static_cast<uint32_t>(std::stoul(m[1]));
    f.side = m[2];
    f.src = m[3];
    f.target = m[4];
    f.peer = m[5];
    f.sent = std::stoull(m[6]);
    f.received = std::stoull(m[7]);
    f.end = m[8];
    f.rule = m[9];
    f.detail = m[10];
    flows.push_back(std::move(f));
  }
  return flows;
}

::testing::AssertionResult GatewayProcess::WaitForFlows(size_t count, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Flows().size() < count) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure() << name_ << " logged " << Flows().size() << " of " << count
                                           << " flows within " << timeout.count() << "ms; log:\n" << LogTail(20);
    }
    std::this_thread::sleep_for(kLogPollPeriod);
  }
  return ::testing::AssertionSuccess();
}

std::optional<long> GatewayProcess::RssKiB() const {
  if (!process_) return std::nullopt;
  return RssKiBOf(process_->pid());
}

std::optional<int> GatewayProcess::OpenFds() const {
  if (!process_) return std::nullopt;
  return OpenFdsOf(process_->pid());
}

std::optional<long> RssKiBOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return std::nullopt;
}

std::optional<int> OpenFdsOf(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  if (ec) return std::nullopt;
  return n;
}

PeakRss::PeakRss(std::vector<pid_t> pids, Millis period)
    : pids_(std::move(pids)), peaks_(new std::atomic<long>[pids_.size()]) {
  for (size_t i = 0; i < pids_.size(); ++i) peaks_[i].store(0);
  thread_ = std::thread([this, period] {
    while (!stop_.load()) {
      for (size_t i = 0; i < pids_.size(); ++i) {
        const long rss = RssKiBOf(pids_[i]).value_or(0);
        if (rss > peaks_[i].load()) peaks_[i].store(rss);
      }
      ++samples_;
      std::this_thread::sleep_for(period);
    }
  });
}

void PeakRss::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool GatewayProcess::Running() { return process_ && process_->Running(); }

bool GatewayProcess::Signal(int sig) {
  // A test that sends a stop signal means the exit that follows.
  if (sig == SIGTERM || sig == SIGINT) stopped_by_test_ = true;
  return process_ && process_->Signal(sig);
}

void GatewayProcess::Kill() {
  stopped_by_test_ = true;
  if (process_) process_->Kill();
}

bool GatewayProcess::Stop(Millis grace) {
  if (!process_) return true;
  if (!process_->Running()) return true;
  stopped_by_test_ = true;
  return process_->Stop(grace);
}

std::string GatewayProcess::UnexpectedExit() {
  if (!process_ || stopped_by_test_ || process_->Running()) return "";
  return name_ + " exited on its own: " + DescribeWaitStatus(*process_->wait_status());
}

}  // namespace braid::integration
