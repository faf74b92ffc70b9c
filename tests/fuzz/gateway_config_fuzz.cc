// Fuzz target for the gateway config parser: ParseGatewayConfig, and
// ParseDuration and ParseEndpoint on the raw bytes.
//
// Beyond not crashing, it checks the promises of gateway_config.h:
//   - a rejected config is InvalidArgument and names the file on every
//     error line;
//   - an accepted one holds only valid values: a gateway name, absolute
//     normal paths, either a policy file or a controller (with a state_dir),
//     unique peer and service names, every service's peer among the peers
//     (unless a controller supplies them), values within their bounds,
//     keepalive_timeout longer than keepalive_interval, no two listeners on
//     the same address and port, endpoints that print and parse back to
//     themselves;
//   - written back as JSON (every value as the parser stored it), it parses
//     again to the same config.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// gateway_config_fuzz_replay, which replays the seed corpus as a test.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "proxy/config/config_names.h"
#include "proxy/config/gateway_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::proxy {
namespace {

using fuzz::Check;
using fuzz::CheckPath;
using nlohmann::json;

constexpr size_t kMaxInput = 64 * 1024;
constexpr char kSource[] = "fuzz.json";
constexpr char kBaseDir[] = "/fuzz";

std::string Ms(Duration d) { return absl::StrCat(d.count(), "ms"); }

void CheckRoundTrip(const Endpoint& endpoint, bool allow_name) {
  std::optional<Endpoint> again = ParseEndpoint(endpoint.ToString(), allow_name);
  Check(again.has_value() && *again == endpoint, "endpoint does not parse back to itself", endpoint.ToString());
}

// ToJson writes the config back in the file's syntax, every value as the
// parser stored it (durations in milliseconds, paths absolute).
json ToJson(const GatewayConfig& c) {
  const TunnelConfig& t = c.tunnel;
  json tunnel = {{"listen", t.listen.ToString()},
                 {"lanes", t.lanes},
                 {"idle_timeout", Ms(t.idle_timeout)},
                 {"handshake_timeout", Ms(t.handshake_timeout)},
                 {"keepalive_interval", Ms(t.keepalive_interval)},
                 {"keepalive_timeout", Ms(t.keepalive_timeout)},
                 {"key_update_records", t.key_update_records},
                 {"flow_window_bytes", t.flow_window_bytes}};
  if (t.advertise) tunnel["advertise"] = t.advertise->ToString();
  json peers = json::array();
  for (const PeerConfig& p : c.peers) peers.push_back({{"name", p.name}, {"address", p.address.ToString()}});
  json services = json::array();
  for (const ServiceConfig& s : c.services) {
    services.push_back(
        {{"name", s.name}, {"listen", s.listen.ToString()}, {"peer", s.peer}, {"target", s.target.ToString()}});
  }
  const LimitsConfig& l = c.limits;
  json out = {{"name", c.name},
              {"identity", {{"cert", c.identity.cert}, {"key", c.identity.key}, {"ca", c.identity.ca}}},
              {"tunnel", std::move(tunnel)},
              {"peers", std::move(peers)},
              {"services", std::move(services)},
              {"limits",
               {{"max_flows", l.max_flows},
                {"max_flows_per_source", l.max_flows_per_source},
                {"max_handshakes", l.max_handshakes},
                {"connect_timeout", Ms(l.connect_timeout)},
                {"open_timeout", Ms(l.open_timeout)},
                {"drain_timeout", Ms(l.drain_timeout)}}},
              {"log", {{"level", c.log.level}, {"json", c.log.json}}}};
  if (c.controller) {
    nlohmann::json addresses = nlohmann::json::array();
    for (const Endpoint& a : c.controller->addresses) addresses.push_back(a.ToString());
    out["controller"] = {{"address", addresses}, {"name", c.controller->name}};
  } else {
    out["policy"] = {{"file", c.policy.file}};
  }
  if (!c.state_dir.empty()) out["state_dir"] = c.state_dir;
  if (c.admin.listen) out["admin"] = {{"listen", c.admin.listen->ToString()}};
  return out;
}

void CheckAccepted(const GatewayConfig& c) {
  Check(IsGatewayName(c.name), "accepted a bad gateway name", c.name);
  Check(c.source_path == kSource, "source_path is not the source", c.source_path);
  for (const std::string* path : {&c.identity.cert, &c.identity.key, &c.identity.ca}) CheckPath(*path);
  Check(c.policy.file.empty() == c.controller.has_value(), "not exactly one of policy.file and controller");
  if (!c.policy.file.empty()) CheckPath(c.policy.file);
  if (c.controller) {
    Check(!c.state_dir.empty(), "a managed gateway without state_dir");
    Check(IsGatewayName(c.controller->name), "accepted a bad controller name", c.controller->name);
    Check(!c.controller->addresses.empty(), "no controller address");
    for (const Endpoint& a : c.controller->addresses) {
      CheckRoundTrip(a, true);
      Check(a.port != 0, "controller port 0");
    }
  }
  if (!c.state_dir.empty()) CheckPath(c.state_dir);

  const TunnelConfig& t = c.tunnel;
  Check(t.lanes <= 256, "lanes out of range");
  for (Duration d : {t.idle_timeout, t.handshake_timeout, t.keepalive_interval, t.keepalive_timeout,
                     c.limits.connect_timeout, c.limits.open_timeout, c.limits.drain_timeout}) {
    Check(d.count() > 0, "a timeout of zero or less");
  }
  Check(t.keepalive_timeout > t.keepalive_interval, "keepalive_timeout not longer than keepalive_interval");
  Check(t.key_update_records >= 1 && t.key_update_records <= (uint64_t{1} << 24), "key_update_records out of range");
  Check(t.flow_window_bytes >= (64u << 10) && t.flow_window_bytes <= (1u << 30), "flow_window_bytes out of range");
  Check(c.limits.max_flows >= 1 && c.limits.max_flows_per_source >= 1 && c.limits.max_handshakes >= 1,
        "a limit of zero");
  CheckRoundTrip(t.listen, false);
  if (t.advertise) {
    CheckRoundTrip(*t.advertise, true);
    Check(t.advertise->port != 0, "advertise port 0");
  }

  std::set<std::string> peer_names;
  for (const PeerConfig& peer : c.peers) {
    Check(IsGatewayName(peer.name) && peer.name != c.name, "accepted a bad peer name", peer.name);
    Check(peer_names.insert(peer.name).second, "two peers of one name", peer.name);
    CheckRoundTrip(peer.address, true);
    Check(peer.address.port != 0, "peer port 0");
  }
  std::set<std::string> service_names;
  std::vector<Endpoint> listeners = {t.listen};
  if (c.admin.listen) listeners.push_back(*c.admin.listen);
  for (const ServiceConfig& service : c.services) {
    Check(IsServiceName(service.name), "accepted a bad service name", service.name);
    Check(service_names.insert(service.name).second, "two services of one name", service.name);
    if (!c.controller) Check(c.FindPeer(service.peer) != nullptr, "a service's peer is not a peer", service.peer);
    CheckRoundTrip(service.listen, false);
    CheckRoundTrip(service.target, true);
    Check(service.target.port != 0, "target port 0");
    listeners.push_back(service.listen);
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = i + 1; j < listeners.size(); ++j) {
      Check(listeners[i].port == 0 || !(listeners[i] == listeners[j]), "two listeners on one endpoint",
            listeners[i].ToString());
    }
  }

  // Paths are absolute by now: another base directory changes nothing.
  fuzz::CheckWrittenBack(c, ToJson,
                         [](const std::string& text) { return ParseGatewayConfig(text, kSource, "/elsewhere"); });
}

}  // namespace
}  // namespace braid::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::proxy;
  if (size > kMaxInput) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);

  if (std::optional<Duration> d = ParseDuration(text)) {
    braid::fuzz::Check(d->count() >= 0, "negative duration", text);
    braid::fuzz::Check(ParseDuration(Ms(*d)) == d, "a duration in ms does not parse back", text);
  }
  for (bool allow_name : {false, true}) {
    if (std::optional<Endpoint> e = ParseEndpoint(text, allow_name)) CheckRoundTrip(*e, allow_name);
  }

  absl::StatusOr<GatewayConfig> config = ParseGatewayConfig(text, kSource, kBaseDir);
  if (!config.ok()) {
    braid::fuzz::CheckRejection(config.status(), std::string(kSource) + ": ");
    return 0;
  }
  CheckAccepted(*config);
  return 0;
}
