// ControllerProcess: one real braid-controller run by a test, with its own
// PKI identities, and the braidctl calls a test makes against it.
//
// A ControllerFixture-style test makes one CA (`braidctl pki init`), the
// controller's and an admin's certificates (`braidctl pki issue`), writes
// ctl.json, starts the controller on port 0 and reads the port from its
// log. Gateways then enroll with tokens through the real `braidctl enroll`.
//
// Main test thread only; not thread-safe.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_CONTROLLER_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_CONTROLLER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/process.h"
#include "nlohmann/json.hpp"

namespace braid::integration {

inline constexpr char kBraidController[] = BRAID_CONTROLLER_PATH;

class ControllerProcess {
 public:
  // `dir` holds ctl.json, controller.log and state/; `pki` holds ca.crt,
  // ca.key, controller.crt/key and admin.crt/key.
  ControllerProcess(std::string dir, std::string pki);
  ~ControllerProcess();

  // Start writes ctl.json (first time) and starts the controller; waits
  // until it logs its API port.
  ::testing::AssertionResult Start(Millis timeout = Millis(20'000));
  void Kill();
  bool Stop(Millis grace = Millis(5'000));
  bool Running();

  uint16_t port() const { return port_; }
  // The process id while it runs (0 before Start).
  pid_t pid() const { return process_ ? process_->pid() : 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  nlohmann::json& config() { return config_; }
  std::string state_dir() const { return dir_ + "/state"; }
  std::string log_path() const { return dir_ + "/controller.log"; }
  std::string Log() const;
  ::testing::AssertionResult WaitForLog(std::string_view needle, Millis timeout, int count = 1);

  // Ctl runs braidctl ARGS as `identity` (a NAME whose NAME.crt/NAME.key
  // are in the PKI directory, "admin" by default), against this
  // controller.
  RunResult Ctl(const std::vector<std::string>& args, const std::string& identity = "admin");
  // set_ctl_controllers sets the --controller Ctl passes ("A,B": several
  // controllers, tried in turn); by default, this controller's address.
  void set_ctl_controllers(std::string addresses) { ctl_controllers_ = std::move(addresses); }
  // CtlJson runs Ctl with --json and parses stdout; a failure is a test
  // failure and returns null.
  nlohmann::json CtlJson(const std::vector<std::string>& args);

  // Token makes a join token for `name` (empty on failure).
  std::string Token(const std::string& name, const std::string& ttl = "");
  // Enroll runs `braidctl enroll` for `token` into `out`.
  RunResult Enroll(const std::string& token, const std::string& out);

  const std::string& pki() const { return pki_; }

 private:
  std::string dir_;
  std::string pki_;
  nlohmann::json config_;
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  std::string ctl_controllers_;
};

// ManagedGatewayConfig turns a gateway pair config into one managed by the
// controller at `controller_address`: no policy file, no peers (the
// controller tells), the identity `braidctl enroll` wrote to enrolled-NAME/
// beside the config, state in state-NAME/, and a keepalive short enough
// for tests that stop a gateway's peer.
nlohmann::json ManagedGatewayConfig(nlohmann::json config, const std::string& name,
                                    const std::string& controller_address);

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_CONTROLLER_H_
