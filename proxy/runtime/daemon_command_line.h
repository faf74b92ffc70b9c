// The command line that braid's daemons share (braid-proxy and
// braid-controller):
//
//   NAME --config FILE [--check] [--log-level LEVEL]
//   NAME --help | --version
//
// Exit statuses, the same for both: 0 after --help, --version or a good
// --check; 1 for a bad configuration (or anything it names); 2 for a usage
// error, which CLI11 explains on stderr.
#ifndef BRAID_PROXY_RUNTIME_DAEMON_COMMAND_LINE_H_
#define BRAID_PROXY_RUNTIME_DAEMON_COMMAND_LINE_H_

#include <optional>
#include <string>

#include "spdlog/spdlog.h"

namespace braid::proxy {

// What the daemon is, for --help and --version.
struct DaemonDescription {
  const char* name;         // "braid-proxy"
  const char* summary;      // the first line of --help
  const char* config_help;  // what --config names
  const char* check_help;   // what --check validates
};

struct DaemonCommandLine {
  std::string config_path;
  std::string log_level;  // empty: the configuration's log.level
  bool check = false;

  // LogLevel is --log-level if given, else `configured`.
  spdlog::level::level_enum LogLevel(const std::string& configured) const {
    return spdlog::level::from_str(log_level.empty() ? configured : log_level);
  }
};

// ParseDaemonCommandLine parses argv into *out. When the program must stop
// here (--help or --version printed: 0; a usage error: 2) it returns that
// exit status instead.
std::optional<int> ParseDaemonCommandLine(int argc, char** argv, const DaemonDescription& daemon,
                                          DaemonCommandLine* out);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_DAEMON_COMMAND_LINE_H_
