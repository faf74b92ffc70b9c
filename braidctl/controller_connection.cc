#include "braidctl/controller_connection.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/api/control_client.h"
#include "controller/api/control_tls.h"
#include "pki/pem_files.h"

namespace braid::ctl {
namespace {

void FromEnvironment(std::string* value, const char* variable) {
  if (!value->empty()) return;
  if (const char* v = std::getenv(variable)) *value = v;
}

}  // namespace

void AddControllerOptions(CLI::App* command, ControllerOptions* options) {
  command->add_option("--controller", options->address,
                      "Controller address HOST:PORT, or several separated by commas (env BRAID_CONTROLLER)");
  command->add_option("--cert", options->cert, "Admin certificate PEM file (env BRAID_CERT)");
  command->add_option("--key", options->key, "Admin private key PEM file (env BRAID_KEY)");
  command->add_option("--ca", options->ca, "CA certificate PEM file (env BRAID_CA)");
  command->add_option("--controller-name", options->name, "Name in the controller's certificate")
      ->default_val("controller");
}

absl::StatusOr<nlohmann::json> CallController(ControllerOptions options, const std::string& method,
                                              const std::string& target, const nlohmann::json& body) {
  FromEnvironment(&options.address, "BRAID_CONTROLLER");
  FromEnvironment(&options.cert, "BRAID_CERT");
  FromEnvironment(&options.key, "BRAID_KEY");
  FromEnvironment(&options.ca, "BRAID_CA");
  for (const auto& [value, what] : {std::pair{&options.address, "--controller (or BRAID_CONTROLLER)"},
                                    std::pair{&options.cert, "--cert (or BRAID_CERT)"},
                                    std::pair{&options.key, "--key (or BRAID_KEY)"},
                                    std::pair{&options.ca, "--ca (or BRAID_CA)"}}) {
    if (value->empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
  }
  absl::StatusOr<std::string> ca_pem = pki::ReadFile(options.ca);
  if (!ca_pem.ok()) return ca_pem.status();
  controller::ClientTlsOptions tls_options;
  tls_options.ca_pem = *std::move(ca_pem);
  tls_options.server_name = options.name;
  tls_options.cert_file = options.cert;
  tls_options.key_file = options.key;
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> tls = controller::MakeClientTls(tls_options);
  if (!tls.ok()) return tls.status();
  const auto verb = boost::beast::http::string_to_verb(method);
  // Several controllers sharing their state: the next is tried when one
  // cannot be reached, or (a read) does not answer; a write that may have
  // reached one is not sent again to another.
  const std::vector<std::string> addresses = absl::StrSplit(options.address, ',', absl::SkipWhitespace());
  absl::StatusOr<controller::ControlResponse> response = absl::UnavailableError("no controller address");
  std::vector<std::string> failures;
  for (const std::string& address : addresses) {
    response = controller::RequestBlocking(*tls, std::string(absl::StripAsciiWhitespace(address)), verb, target,
                                           body.is_null() ? "" : body.dump(), std::chrono::seconds(30));
    if (response.ok()) break;
    const bool read = verb == boost::beast::http::verb::get;
    const bool unanswered = absl::IsUnavailable(response.status()) || absl::IsDeadlineExceeded(response.status());
    if (!controller::RequestNotSent(response.status()) && !(read && unanswered)) return response.status();
    failures.emplace_back(response.status().message());
  }
  if (!response.ok()) {
    return failures.size() > 1 ? absl::UnavailableError(absl::StrJoin(failures, "; ")) : response.status();
  }
  if (absl::Status s = controller::ErrorFromResponse(*response); !s.ok()) return s;
  nlohmann::json parsed = nlohmann::json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) return absl::DataLossError("the controller's answer is not JSON");
  return parsed;
}

}  // namespace braid::ctl
