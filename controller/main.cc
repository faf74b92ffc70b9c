// braid-controller: pushes the Security Filter Table to the fleet, enrolls
// gateways, keeps the fleet view. Only wires the command line to
// Controller.
#include <csignal>
#include <iostream>
#include <optional>

#include "controller/config/controller_config.h"
#include "controller/controller.h"
#include "proxy/runtime/daemon_command_line.h"
#include "proxy/runtime/logging.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  braid::proxy::DaemonCommandLine cli;
  if (std::optional<int> exit = braid::proxy::ParseDaemonCommandLine(
          argc, argv,
          {.name = "braid-controller",
           .summary = "enrollment, policy push and fleet view for braid gateways",
           .config_help = "Controller configuration file (JSON)",
           .check_help = "Validate the configuration, the CA and the identity, then exit (the state, a directory or etcd, is not opened)"},
          &cli)) {
    return *exit;
  }
  absl::StatusOr<braid::controller::ControllerConfig> config = braid::controller::LoadControllerConfig(cli.config_path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  braid::proxy::ConfigureLogging(cli.LogLevel(config->log.level), config->log.json);
  if (cli.check) {
    // Everything Create() reads, without binding the port or touching the
    // state directory.
    absl::Status status =
        braid::pki::CertificateAuthority::LoadFiles(config->ca_cert, config->ca_key).status();
    if (status.ok()) {
      status = braid::controller::MakeServerTls(config->identity_cert, config->identity_key, config->ca_cert).status();
    }
    if (!status.ok()) {
      std::cerr << cli.config_path << ": " << status.message() << "\n";
      return 1;
    }
    std::cout << cli.config_path << ": configuration, CA and identity are valid\n";
    return 0;
  }
  absl::StatusOr<std::unique_ptr<braid::controller::Controller>> controller =
      braid::controller::Controller::Create(*config);
  if (!controller.ok()) {
    std::cerr << cli.config_path << ": " << controller.status().message() << "\n";
    return 1;
  }
  return (*controller)->Run();
}
