#include "integration/support/controller.h"

#include <regex>
#include <thread>

#include "integration/support/gateway.h"
#include "integration/support/scratch_dir.h"

namespace braid::integration {

ControllerProcess::ControllerProcess(std::string dir, std::string pki) : dir_(std::move(dir)), pki_(std::move(pki)) {
  config_ = {
      {"listen", "127.0.0.1:0"},
      {"identity", {{"cert", pki_ + "/controller.crt"}, {"key", pki_ + "/controller.key"}}},
      {"ca", {{"cert", pki_ + "/ca.crt"}, {"key", pki_ + "/ca.key"}}},
      {"state_dir", state_dir()},
      {"admins", {"admin"}},
      {"gateway_poll", "5s"},
  };
}

ControllerProcess::~ControllerProcess() { Stop(); }

nlohmann::json ManagedGatewayConfig(nlohmann::json config, const std::string& name,
                                    const std::string& controller_address) {
  config.erase("policy");
  config.erase("peers");
  const std::string id = "enrolled-" + name + "/";
  config["identity"] = {{"cert", id + name + ".crt"}, {"key", id + name + ".key"}, {"ca", id + "ca.crt"}};
  config["controller"] = {{"address", controller_address}};
  config["state_dir"] = "state-" + name;
  config["tunnel"]["keepalive_interval"] = "500ms";
  config["tunnel"]["keepalive_timeout"] = "3s";
  return config;
}

::testing::AssertionResult ControllerProcess::Start(Millis timeout) {
  const std::string path = dir_ + "/ctl.json";
  if (!WriteFileAtomically(path, config_.dump(2))) return ::testing::AssertionFailure() << "cannot write " << path;
  std::string error;
  std::string run_log = dir_ + "/controller.run.log";
  process_ = Process::Start({kBraidController, "--config", path}, run_log, run_log, &error);
  if (!process_) return ::testing::AssertionFailure() << "cannot start braid-controller: " << error;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::regex port_line(R"(controller API on [0-9.]+:(\d+))");
  for (;;) {
    const std::string log = ReadFile(run_log);
    std::smatch m;
    if (std::regex_search(log, m, port_line)) {
      port_ = static_cast<uint16_t>(std::stoi(m[1]));
      break;
    }
    if (!process_->Running()) {
      return ::testing::AssertionFailure() << "braid-controller exited: "
                                           << DescribeWaitStatus(*process_->wait_status()) << "\n" << log;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure() << "braid-controller did not log its port:\n" << log;
    }
    std::this_thread::sleep_for(Millis(10));
  }
  // Later starts keep the same port, so gateways find it again.
  config_["listen"] = "127.0.0.1:" + std::to_string(port_);
  return ::testing::AssertionSuccess();
}

std::string ControllerProcess::Log() const { return ReadFile(dir_ + "/controller.run.log"); }

::testing::AssertionResult ControllerProcess::WaitForLog(std::string_view needle, Millis timeout, int count) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string log = Log();
    int n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    if (n >= count) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure() << "controller did not log \"" << needle << "\" x" << count << ":\n"
                                           << log;
    }
    std::this_thread::sleep_for(Millis(10));
  }
}

void ControllerProcess::Kill() {
  if (process_) process_->Kill();
}

bool ControllerProcess::Stop(Millis grace) {
  if (!process_ || !process_->Running()) return true;
  return process_->Stop(grace);
}

bool ControllerProcess::Running() { return process_ && process_->Running(); }

RunResult ControllerProcess::Ctl(const std::vector<std::string>& args, const std::string& identity) {
  std::vector<std::string> argv = {kBraidctl};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& a : {std::string("--controller"), ctl_controllers_.empty() ? address() : ctl_controllers_,
                               std::string("--cert"),
                               pki_ + "/" + identity + ".crt", std::string("--key"), pki_ + "/" + identity + ".key",
                               std::string("--ca"), pki_ + "/ca.crt"}) {
    argv.push_back(a);
  }
  return RunToExit(argv, dir_, Millis(60'000));
}

nlohmann::json ControllerProcess::CtlJson(const std::vector<std::string>& args) {
  std::vector<std::string> with_json = args;
  with_json.push_back("--json");
  RunResult r = Ctl(with_json);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return nullptr;
  nlohmann::json parsed = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << r.out;
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

std::string ControllerProcess::Token(const std::string& name, const std::string& ttl) {
  std::vector<std::string> args = {"token", "create", name};
  if (!ttl.empty()) {
    args.push_back("--ttl");
    args.push_back(ttl);
  }
  RunResult r = Ctl(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  EXPECT_EQ(token.find('\n'), std::string::npos) << "the token is alone on its line: " << r.out;
  return token;
}

RunResult ControllerProcess::Enroll(const std::string& token, const std::string& out) {
  return RunToExit({kBraidctl, "enroll", "--controller", address(), "--token", token, "--out", out}, dir_,
                   Millis(60'000));
}

}  // namespace braid::integration
