// How braidctl reaches a gateway's admin endpoint (admin.listen): the
// --admin option, one plain-HTTP request, and the JSON views (/tunnels,
// /flows) checked to be a gateway's. Used by `braidctl status` and
// `braidctl lanes`.
//
// One request per connection, blocking, with a 5 s deadline for the whole
// exchange: these are one-shot commands.
#ifndef BRAID_BRAIDCTL_ADMIN_CLIENT_H_
#define BRAID_BRAIDCTL_ADMIN_CLIENT_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace braid::ctl {

// The admin address braidctl uses when neither --admin nor BRAID_ADMIN says
// another: the one the examples configure.
inline constexpr char kDefaultAdmin[] = "127.0.0.1:9901";

// AddAdminOption adds --admin to `command`, storing into *admin, whose
// default is BRAID_ADMIN when set, else kDefaultAdmin.
void AddAdminOption(CLI::App* command, std::string* admin);

// ViewOptions are those of a command that shows what the endpoint reports
// (status, lanes list): where the endpoint is, and JSON rather than tables.
struct ViewOptions {
  std::string admin;
  bool json = false;
};
// AddViewOptions adds --admin (as AddAdminOption) and --json to `command`.
void AddViewOptions(CLI::App* command, ViewOptions* options);

// AdminReply is the gateway's answer: any status, 200 or not.
struct AdminReply {
  unsigned status = 0;
  std::string body;
};

// AdminRequest sends `method` ("GET", "POST" with an empty body) for `path`
// to the admin endpoint `admin` ("host:port", "[v6]:port"). Returns the
// answer whatever its status; an error (InvalidArgument for a malformed
// address, Unavailable otherwise) when no answer came: the endpoint cannot
// be resolved, reached or read within the deadline. The error's message
// names the request and the endpoint.
absl::StatusOr<AdminReply> AdminRequest(const std::string& admin, const std::string& method, const std::string& path);

// GetAdminJson GETs `path` and returns its JSON body, which must be an
// object with member `key` (as /tunnels has "tunnels"). Returns an error
// when the endpoint cannot be reached (as AdminRequest) or does not answer
// like a braid-proxy admin endpoint (a status other than 200, not JSON, no
// `key`: FailedPrecondition).
absl::StatusOr<nlohmann::json> GetAdminJson(const std::string& admin, const std::string& path, const char* key);

// FirstLine is `text` up to its first newline: a plain-text answer of the
// gateway ("lane 3 is not up\n") as one line of a message.
std::string FirstLine(const std::string& text);

}  // namespace braid::ctl

#endif  // BRAID_BRAIDCTL_ADMIN_CLIENT_H_
