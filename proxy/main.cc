// braid-proxy: the braid gateway. Only wires the command line to Gateway.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "proxy/config/gateway_config.h"
#include "proxy/gateway.h"
#include "proxy/runtime/allocator.h"
#include "proxy/runtime/daemon_command_line.h"
#include "proxy/runtime/logging.h"
#include "sft/compile.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  // A SIGHUP before the gateway listens for it (a reload right after start)
  // must not kill it; the gateway's own handler replaces this one.
  std::signal(SIGHUP, SIG_IGN);
  braid::proxy::ConfigureAllocator();
  braid::proxy::DaemonCommandLine cli;
  if (std::optional<int> exit = braid::proxy::ParseDaemonCommandLine(
          argc, argv,
          {.name = "braid-proxy",
           .summary = "the braid gateway (TLS 1.3 tunnels, striping, Security Filter Table)",
           .config_help = "Gateway configuration file (JSON)",
           .check_help = "Validate the configuration, policy and identity, then exit"},
          &cli)) {
    return *exit;
  }

  absl::StatusOr<braid::proxy::GatewayConfig> config = braid::proxy::LoadGatewayConfig(cli.config_path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  // Logs go to stderr, as a service's do (systemd's journal takes them from
  // there); stdout stays free for command output such as --check.
  braid::proxy::ConfigureLogging(cli.LogLevel(config->log.level), config->log.json);
  if (cli.check) {
    // Everything Create() reads, without binding ports a running gateway
    // may hold.
    // A managed gateway's policy comes from the controller: nothing to
    // read here.
    absl::Status status =
        config->controller ? absl::OkStatus() : braid::sft::LoadAndCompile(config->policy.file).status();
    if (status.ok()) status = braid::proxy::LoadTls(*config).status();
    if (!status.ok()) {
      std::cerr << cli.config_path << ": " << status.message() << "\n";
      return 1;
    }
    if (config->controller) {
      std::cout << cli.config_path << ": configuration and identity are valid (policy from the controller at "
                << config->controller->AddressList() << ")\n";
    } else {
      std::cout << cli.config_path << ": configuration, policy and identity are valid\n";
    }
    return 0;
  }
  auto shared = std::make_shared<const braid::proxy::GatewayConfig>(*std::move(config));
  absl::StatusOr<std::unique_ptr<braid::proxy::Gateway>> gateway =
      braid::proxy::Gateway::Create(shared, cli.config_path, /*log_level_override=*/!cli.log_level.empty());
  if (!gateway.ok()) {
    std::cerr << cli.config_path << ": " << gateway.status().message() << "\n";
    return 1;
  }
  return (*gateway)->Run();
}
