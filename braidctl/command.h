// Command groups of braidctl. Each Add*Commands registers its subcommands on
// the top-level app; a subcommand's callback stores the process exit code in
// `exit_code`.
//
// Exit codes, for every command: 0 success, 1 the command ran and failed
// (an invalid policy, a file that cannot be written), 2 bad arguments.
#ifndef BRAID_BRAIDCTL_COMMAND_H_
#define BRAID_BRAIDCTL_COMMAND_H_

#include "CLI/CLI.hpp"

namespace braid::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void AddPolicyCommands(CLI::App& app, int& exit_code);
void AddPkiCommands(CLI::App& app, int& exit_code);
void AddStatusCommands(CLI::App& app, int& exit_code);
// `lanes list|kill|retire`: a gateway's lanes, through its admin endpoint.
void AddLanesCommands(CLI::App& app, int& exit_code);
// The controller's admin commands (token, gateways, policy apply...); call
// after AddPolicyCommands, whose `policy` group they join.
void AddControllerCommands(CLI::App& app, int& exit_code);
void AddEnrollCommand(CLI::App& app, int& exit_code);

}  // namespace braid::ctl

#endif  // BRAID_BRAIDCTL_COMMAND_H_
