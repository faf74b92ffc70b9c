#include "proxy/runtime/daemon_command_line.h"

#include "CLI/CLI.hpp"

namespace braid::proxy {

std::optional<int> ParseDaemonCommandLine(int argc, char** argv, const DaemonDescription& daemon,
                                          DaemonCommandLine* out) {
  CLI::App app{std::string(daemon.name) + ": " + daemon.summary};
  app.set_version_flag("--version", std::string(daemon.name) + " 0.1.0");
  app.add_option("-c,--config", out->config_path, daemon.config_help)->required();
  app.add_flag("--check", out->check, daemon.check_help);
  app.add_option("--log-level", out->log_level, "trace, debug, info, warn, error (overrides log.level)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version or the error
    return code == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace braid::proxy
