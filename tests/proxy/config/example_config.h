// The reference gateway config of the config tests (the example of the
// issue and of docs/configuration.md), and helpers to vary it.
#ifndef BRAID_TESTS_PROXY_CONFIG_EXAMPLE_CONFIG_H_
#define BRAID_TESTS_PROXY_CONFIG_EXAMPLE_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "proxy/config/gateway_config.h"

namespace braid::proxy::testing {

// The example from the issue (section 1), the reference config of the docs.
constexpr char kExample[] = R"({
  "name": "gw-onprem",
  "identity": {"cert": "pki/gw-onprem.crt", "key": "pki/gw-onprem.key", "ca": "pki/ca.crt"},
  "tunnel": {"listen": "0.0.0.0:4433", "lanes": 0, "idle_timeout": "60s"},
  "peers": [{"name": "gw-cloud", "address": "198.51.100.7:4433"}],
  "services": [{"name": "pg", "listen": "127.0.0.1:15432", "peer": "gw-cloud", "target": "10.2.0.9:5432"}],
  "policy": {"file": "policies/db-replication.json"},
  "admin": {"listen": "127.0.0.1:9901"}
})";

inline nlohmann::json Example() { return nlohmann::json::parse(kExample); }

// Patched returns the example with an RFC 7386 merge patch applied (null
// removes a key; a list replaces the whole list).
inline std::string Patched(const std::string& patch) {
  nlohmann::json doc = Example();
  doc.merge_patch(nlohmann::json::parse(patch));
  return doc.dump();
}

// Message copies a status message: Debian's Abseil has its own string_view,
// which gmock's string matchers do not take.
inline std::string Message(const absl::StatusOr<GatewayConfig>& config) { return std::string(config.status().message()); }


}  // namespace braid::proxy::testing

#endif  // BRAID_TESTS_PROXY_CONFIG_EXAMPLE_CONFIG_H_
