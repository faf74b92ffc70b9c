// Fuzz target for the controller's config parser, ParseControllerConfig.
//
// Beyond not crashing, it checks the promises of controller_config.h:
//   - a rejected config is InvalidArgument and names the source on every
//     error line;
//   - an accepted one holds only valid values: an IP literal to listen on,
//     absolute normal paths, a non-empty list of unique valid admin names,
//     durations within their bounds, a certificate validity in days;
//   - written back as JSON (every value as the parser stored it), it parses
//     again to the same config.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// controller_config_fuzz_replay, which replays the seed corpus as a test.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "absl/strings/str_cat.h"
#include "controller/config/controller_config.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"
#include "proxy/config/config_names.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::controller {
namespace {

using fuzz::Check;
using fuzz::CheckPath;
using nlohmann::json;

constexpr size_t kMaxInput = 64 * 1024;
constexpr char kSource[] = "controller.json";
constexpr char kBaseDir[] = "/fuzz";

std::string Ms(proxy::Duration d) { return absl::StrCat(d.count(), "ms"); }

json ToJson(const ControllerConfig& c) {
  json out = {{"listen", c.listen.ToString()},
              {"identity", {{"cert", c.identity_cert}, {"key", c.identity_key}}},
              {"ca", {{"cert", c.ca_cert}, {"key", c.ca_key}}},
              {"admins", c.admins},
              {"enrollment",
               {{"token_ttl", Ms(c.token_ttl)},
                {"certificate_validity", absl::StrCat(c.certificate_validity.count(), "d")}}},
              {"gateway_poll", Ms(c.gateway_poll)},
              {"log", {{"level", c.log.level}, {"json", c.log.json}}}};
  if (c.etcd) {
    json endpoints = json::array();
    for (const proxy::Endpoint& e : c.etcd->endpoints) endpoints.push_back(e.ToString());
    out["etcd"] = {{"endpoints", endpoints}, {"prefix", c.etcd->prefix}, {"timeout", Ms(c.etcd->timeout)}};
  } else {
    out["state_dir"] = c.state_dir;
  }
  return out;
}

void CheckAccepted(const ControllerConfig& c) {
  Check(c.source == kSource, "source is not the source", c.source);
  std::optional<proxy::Endpoint> listen = proxy::ParseEndpoint(c.listen.ToString(), /*allow_name=*/false);
  Check(listen && *listen == c.listen, "listen does not parse back to itself as an IP:port", c.listen.ToString());
  for (const std::string* path : {&c.identity_cert, &c.identity_key, &c.ca_cert, &c.ca_key}) CheckPath(*path);
  // The state lives in exactly one place.
  if (c.etcd) {
    Check(c.state_dir.empty(), "state_dir beside etcd", c.state_dir);
    Check(!c.etcd->endpoints.empty(), "etcd with no endpoint");
    for (const proxy::Endpoint& e : c.etcd->endpoints) {
      boost::system::error_code ec;
      Check(boost::asio::ip::make_address(e.host, ec).is_loopback() && !ec && e.port != 0,
            "an etcd endpoint that is not loopback", e.ToString());
    }
    Check(!c.etcd->prefix.empty() && c.etcd->prefix.back() == '/' &&
              ValidateStoreKey(c.etcd->prefix.substr(0, c.etcd->prefix.size() - 1)).ok(),
          "a bad etcd prefix", c.etcd->prefix);
    Check(c.etcd->timeout >= kMinEtcdTimeout && c.etcd->timeout <= kMaxEtcdTimeout, "etcd timeout out of range");
  } else {
    CheckPath(c.state_dir);
  }
  Check(!c.admins.empty(), "accepted no admins");
  std::set<std::string> seen;
  for (const std::string& admin : c.admins) {
    Check(proxy::IsGatewayName(admin), "accepted a bad admin name", admin);
    Check(seen.insert(admin).second, "accepted a duplicate admin", admin);
  }
  Check(c.token_ttl >= kMinTokenTtl && c.token_ttl <= kMaxTokenTtl, "token_ttl out of range", Ms(c.token_ttl));
  Check(c.certificate_validity >= kMinCertificateValidity && c.certificate_validity <= kMaxCertificateValidity,
        "certificate_validity out of range");
  Check(c.gateway_poll >= kMinGatewayPoll && c.gateway_poll <= kMaxGatewayPoll, "gateway_poll out of range");

  // Paths are absolute by now: another base directory changes nothing.
  fuzz::CheckWrittenBack(c, ToJson,
                         [](const std::string& text) { return ParseControllerConfig(text, kSource, "/elsewhere"); });
}

}  // namespace
}  // namespace braid::controller

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::controller;
  if (size > kMaxInput) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ControllerConfig> config = ParseControllerConfig(text, kSource, kBaseDir);
  if (!config.ok()) {
    braid::fuzz::CheckRejection(config.status(), std::string(kSource) + ": ");
    return 0;
  }
  CheckAccepted(*config);
  return 0;
}
