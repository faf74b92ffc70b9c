// How braidctl reaches the controller: the --controller, --cert, --key and
// --ca options (or BRAID_CONTROLLER, BRAID_CERT, BRAID_KEY, BRAID_CA), and
// one call to its API.
#ifndef BRAID_BRAIDCTL_CONTROLLER_CONNECTION_H_
#define BRAID_BRAIDCTL_CONTROLLER_CONNECTION_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace braid::ctl {

struct ControllerOptions {
  std::string address;  // host:port
  std::string cert;
  std::string key;
  std::string ca;
  std::string name = "controller";  // the name in the controller's certificate
};

// AddControllerOptions adds the connection options to `command`; values
// missing from the command line are taken from the environment when the
// command runs (FillFromEnvironment).
void AddControllerOptions(CLI::App* command, ControllerOptions* options);

// CallController sends one request and returns the JSON body of a 2xx
// response. Errors say what failed: a missing option, a file, the
// connection, TLS, or the controller's own error text.
absl::StatusOr<nlohmann::json> CallController(ControllerOptions options, const std::string& method,
                                              const std::string& target, const nlohmann::json& body = nullptr);

}  // namespace braid::ctl

#endif  // BRAID_BRAIDCTL_CONTROLLER_CONNECTION_H_
