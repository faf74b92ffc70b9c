// braid-controller: pushes the Security Filter Table to the fleet, enrolls
// gateways, keeps the fleet view. Only wires the command line to
// Controller.
#include <csignal>
#include <iostream>

#include "CLI/CLI.hpp"
#include "controller/config/controller_config.h"
#include "controller/controller.h"
#include "proxy/runtime/logging.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"braid-controller: enrollment, policy push and fleet view for braid gateways"};
  std::string config_path, log_level;
  bool check = false;
  app.set_version_flag("--version", "braid-controller 0.1.0");
  app.add_option("-c,--config", config_path, "Controller configuration file (JSON)")->required();
  app.add_flag("--check", check, "Validate the configuration, CA, identity and state directory, then exit");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (overrides log.level)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  absl::StatusOr<braid::controller::ControllerConfig> config = braid::controller::LoadControllerConfig(config_path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  braid::proxy::ConfigureLogging(spdlog::level::from_str(log_level.empty() ? config->log.level : log_level),
                                 config->log.json);
  if (check) {
    // Everything Create() reads, without binding the port or touching the
    // state directory.
    absl::Status status =
        braid::pki::CertificateAuthority::LoadFiles(config->ca_cert, config->ca_key).status();
    if (status.ok()) {
      status = braid::controller::MakeServerTls(config->identity_cert, config->identity_key, config->ca_cert).status();
    }
    if (!status.ok()) {
      std::cerr << config_path << ": " << status.message() << "\n";
      return 1;
    }
    std::cout << config_path << ": configuration, CA and identity are valid\n";
    return 0;
  }
  absl::StatusOr<std::unique_ptr<braid::controller::Controller>> controller =
      braid::controller::Controller::Create(*config);
  if (!controller.ok()) {
    std::cerr << config_path << ": " << controller.status().message() << "\n";
    return 1;
  }
  return (*controller)->Run();
}
