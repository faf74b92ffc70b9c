// Fuzz target for the gateway config parser: ParseGatewayConfig, and
// ParseDuration and ParseEndpoint on the raw bytes.
//
// Beyond not crashing, it checks the promises of gateway_config.h: a
// rejected config names the file on every error line; an accepted one has
// every service's peer among its peers and endpoints that print and parse
// back to themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "proxy/config/gateway_config.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckRoundTrip(const braid::proxy::Endpoint& endpoint, bool allow_name) {
  std::optional<braid::proxy::Endpoint> again = braid::proxy::ParseEndpoint(endpoint.ToString(), allow_name);
  Check(again.has_value() && *again == endpoint);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  if (std::optional<braid::proxy::Duration> d = braid::proxy::ParseDuration(text)) Check(d->count() >= 0);
  for (bool allow_name : {false, true}) {
    if (std::optional<braid::proxy::Endpoint> e = braid::proxy::ParseEndpoint(text, allow_name)) {
      CheckRoundTrip(*e, allow_name);
    }
  }

  absl::StatusOr<braid::proxy::GatewayConfig> config = braid::proxy::ParseGatewayConfig(text, "fuzz.json", "/fuzz");
  if (!config.ok()) {
    Check(config.status().code() == absl::StatusCode::kInvalidArgument);
    for (absl::string_view line : absl::StrSplit(config.status().message(), '\n')) {
      Check(absl::StartsWith(line, "fuzz.json: "));
    }
    return 0;
  }
  Check(!config->name.empty() && !config->identity.cert.empty() && !config->policy.file.empty());
  Check(config->identity.cert[0] == '/' && config->policy.file[0] == '/');
  CheckRoundTrip(config->tunnel.listen, false);
  for (const braid::proxy::PeerConfig& peer : config->peers) CheckRoundTrip(peer.address, true);
  for (const braid::proxy::ServiceConfig& service : config->services) {
    Check(config->FindPeer(service.peer) != nullptr);
    CheckRoundTrip(service.listen, false);
    CheckRoundTrip(service.target, true);
  }
  Check(config->tunnel.keepalive_timeout > config->tunnel.keepalive_interval);
  return 0;
}
