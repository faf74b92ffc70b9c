// braidctl pki: placeholder until the PKI module lands (being written now).
#include "braidctl/command.h"

namespace braid::ctl {
void AddPkiCommands(CLI::App&, int&) {}
}  // namespace braid::ctl
