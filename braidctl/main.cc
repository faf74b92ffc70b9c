// braidctl: policy tools, PKI, status views, and the controller's client.
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "braidctl/command.h"

int main(int argc, char** argv) {
  CLI::App app{"braidctl: policy tools, PKI, status views and lane control, and the controller client (tokens, enrollment, fleet, policy push)"};
  app.set_version_flag("--version", "braidctl 0.1.0");
  app.require_subcommand(1, 1);
  int exit_code = braid::ctl::kExitOk;
  braid::ctl::AddPolicyCommands(app, exit_code);
  braid::ctl::AddPkiCommands(app, exit_code);
  braid::ctl::AddStatusCommands(app, exit_code);
  braid::ctl::AddLanesCommands(app, exit_code);
  braid::ctl::AddControllerCommands(app, exit_code);
  braid::ctl::AddEnrollCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the error and the usage line to stderr
    return braid::ctl::kExitUsage;
  }
  std::fflush(stdout);
  return exit_code;
}
