// Validation of a gateway config: the structure of the file, and the checks
// that span keys (peer references, duplicate names, clashing listeners).
// Typed reads and error collection live in config_reader.h; the syntax of
// durations and endpoints in duration.cc and endpoint.cc.
#include "proxy/config/gateway_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "braid/ip_address.h"
#include "proxy/config/config_names.h"
#include "proxy/config/config_reader.h"
#include "sft/json_document.h"

namespace braid::proxy {
namespace {

using nlohmann::json;

// A gateway config is a few kilobytes; anything near this is not one.
constexpr size_t kMaxConfigFileBytes = 1u << 20;

constexpr uint64_t kMaxLanes = 256;
// RFC 8446 section 5.5: AES-GCM keys must not seal more than 2^24.5 records;
// the cap keeps an operator from configuring key updates away.
constexpr uint64_t kMaxKeyUpdateRecords = uint64_t{1} << 24;
constexpr uint64_t kMinFlowWindowBytes = uint64_t{64} << 10;
constexpr uint64_t kMaxFlowWindowBytes = uint64_t{1} << 30;
// Window budgets: 0 (windows never grow) to 1 TiB.
constexpr uint64_t kMaxWindowBudgetBytes = uint64_t{1} << 40;
constexpr uint64_t kMaxUint32 = 0xffff'ffff;

constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// FormatDuration writes a duration in the largest unit that is exact, the
// way an operator would write it back into the file.
std::string FormatDuration(Duration d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return absl::StrCat(ms / 3'600'000, "h");
  if (ms != 0 && ms % 60'000 == 0) return absl::StrCat(ms / 60'000, "m");
  if (ms % 1'000 == 0) return absl::StrCat(ms / 1'000, "s");
  return absl::StrCat(ms, "ms");
}

bool IsUnspecified(const IpAddress& ip) { return ip.hi() == 0 && ip.lo() == 0; }

// Overlaps says whether two listeners cannot both bind: the same non-zero
// port on the same address, or on a wildcard address of the same family.
bool Overlaps(const Endpoint& a, const Endpoint& b) {
  if (a.port == 0 || a.port != b.port) return false;
  std::optional<IpAddress> ia = IpAddress::Parse(a.host);
  std::optional<IpAddress> ib = IpAddress::Parse(b.host);
  if (!ia || !ib || ia->family() != ib->family()) return false;
  return *ia == *ib || IsUnspecified(*ia) || IsUnspecified(*ib);
}

class GatewayConfigParser {
 public:
  GatewayConfigParser(ConfigReader* reader, std::filesystem::path base_dir, GatewayConfig* out)
      : r_(reader), base_dir_(std::move(base_dir)), out_(out) {}

  void Parse() {
    const json& root = r_->root();
    if (!r_->Object(root, {},
                    {"name", "identity", "tunnel", "peers", "services", "policy", "controller", "state_dir",
                     "admin", "limits", "log"})) {
      return;
    }
    ParseName(root);
    ParseIdentity(root);
    ParseTunnel(root);
    ParsePeers(root);
    ParseServices(root);
    ParsePolicy(root);
    ParseController(root);
    ParseAdmin(root);
    ParseLimits(root);
    ParseLog(root);
  }

 private:
  // Section returns the object under `key`, or nullptr when it is absent or
  // not an object (recorded as an error when `required` or mistyped).
  const json* Section(const json& root, const char* key, bool required,
                      std::initializer_list<const char*> known_keys) {
    const JsonPath at = JsonPath().Key(key);
    const json* value = required ? r_->Require(root, {}, key) : ConfigReader::Find(root, key);
    if (value == nullptr || !r_->Object(*value, at, known_keys)) return nullptr;
    return value;
  }

  // With calls read(value, path) for member `key` of `object` when present;
  // a missing required key is recorded instead.
  template <typename Read>
  void With(const json& object, const JsonPath& at, const char* key, bool required, Read read) {
    const json* value = required ? r_->Require(object, at, key) : ConfigReader::Find(object, key);
    if (value != nullptr) read(*value, at.Key(key));
  }

  void ParseName(const json& root) {
    With(root, {}, "name", true, [&](const json& v, const JsonPath& at) {
      std::string name;
      if (!r_->ReadString(v, at, &name)) return;
      if (!IsGatewayName(name)) {
        return r_->Error(at, absl::StrCat(ConfigReader::Quoted(v), " is not a gateway name (", kGatewayNameRule, ")"));
      }
      out_->name = std::move(name);
    });
  }

  void ParseIdentity(const json& root) {
    const json* identity = Section(root, "identity", true, {"cert", "key", "ca"});
    if (identity == nullptr) return;
    const JsonPath at = JsonPath().Key("identity");
    for (const auto& [key, field] : {std::pair{"cert", &out_->identity.cert}, std::pair{"key", &out_->identity.key},
                                     std::pair{"ca", &out_->identity.ca}}) {
      std::string* target = field;
      With(*identity, at, key, true, [&](const json& v, const JsonPath& p) { r_->ReadPath(v, p, base_dir_, target); });
    }
  }

  void ParseTunnel(const json& root) {
    const json* tunnel = Section(root, "tunnel", true,
                                 {"listen", "lanes", "idle_timeout", "handshake_timeout", "keepalive_interval",
                                  "keepalive_timeout", "lane_loss_grace", "key_update_records", "key_limit", "flow_window_bytes",
                                  "flow_window_max_bytes", "window_budget_bytes", "advertise"});
    if (tunnel == nullptr) return;
    TunnelConfig& t = out_->tunnel;
    const JsonPath at = JsonPath().Key("tunnel");
    With(*tunnel, at, "listen", true, [&](const json& v, const JsonPath& p) {
      if (r_->ReadEndpoint(v, p, {.allow_name = false, .allow_port_zero = true}, &t.listen)) AddListener(p, t.listen);
    });
    With(*tunnel, at, "advertise", false, [&](const json& v, const JsonPath& p) {
      Endpoint advertise;
      if (r_->ReadEndpoint(v, p, {.allow_name = true, .allow_port_zero = false}, &advertise)) t.advertise = advertise;
    });
    With(*tunnel, at, "lanes", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, 0, kMaxLanes, &n, "0 = decided at start")) t.lanes = static_cast<uint32_t>(n);
    });
    bool keepalive_ok = true;
    for (const auto& [key, field] : {std::pair{"idle_timeout", &t.idle_timeout},
                                     std::pair{"handshake_timeout", &t.handshake_timeout},
                                     std::pair{"lane_loss_grace", &t.lane_loss_grace}}) {
      Duration* target = field;
      With(*tunnel, at, key, false, [&](const json& v, const JsonPath& p) { r_->ReadTimeout(v, p, target); });
    }
    for (const auto& [key, field] : {std::pair{"keepalive_interval", &t.keepalive_interval},
                                     std::pair{"keepalive_timeout", &t.keepalive_timeout}}) {
      Duration* target = field;
      With(*tunnel, at, key, false,
           [&](const json& v, const JsonPath& p) { keepalive_ok = r_->ReadTimeout(v, p, target) && keepalive_ok; });
    }
    // A lane is declared dead after keepalive_timeout of silence; with a
    // timeout no longer than the interval, an idle but healthy lane would be
    // torn down between two PINGs.
    if (keepalive_ok && t.keepalive_timeout <= t.keepalive_interval) {
      r_->Error(at.Key("keepalive_timeout"),
                absl::StrCat(FormatDuration(t.keepalive_timeout), " must be longer than keepalive_interval (",
                             FormatDuration(t.keepalive_interval), ")"));
    }
    With(*tunnel, at, "key_update_records", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, 1, kMaxKeyUpdateRecords, &n, "at most 2^24")) t.key_update_records = n;
    });
    With(*tunnel, at, "key_limit", false, [&](const json& v, const JsonPath& p) {
      std::string mode;
      if (!r_->ReadString(v, p, &mode)) return;
      if (mode == "key_update") {
        t.key_limit = TunnelConfig::KeyLimit::kKeyUpdate;
      } else if (mode == "rotate") {
        t.key_limit = TunnelConfig::KeyLimit::kRotate;
      } else {
        r_->Error(p, absl::StrCat(ConfigReader::Quoted(v), " is not a key limit action (key_update or rotate)"));
      }
    });
    With(*tunnel, at, "flow_window_bytes", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, kMinFlowWindowBytes, kMaxFlowWindowBytes, &n, "64 KiB - 1 GiB")) {
        t.flow_window_bytes = static_cast<uint32_t>(n);
      }
    });
    bool max_given = false;
    With(*tunnel, at, "flow_window_max_bytes", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, kMinFlowWindowBytes, kMaxFlowWindowBytes, &n, "64 KiB - 1 GiB")) {
        t.flow_window_max_bytes = static_cast<uint32_t>(n);
        max_given = true;
      }
    });
    if (t.flow_window_max_bytes < t.flow_window_bytes) {
      if (max_given) {
        r_->Error(at.Key("flow_window_max_bytes"),
                  absl::StrCat(t.flow_window_max_bytes, " is below tunnel.flow_window_bytes (", t.flow_window_bytes,
                               "): the window would start above its ceiling"));
      } else {
        t.flow_window_max_bytes = t.flow_window_bytes;  // a large fixed start, no growth asked for
      }
    }
    With(*tunnel, at, "window_budget_bytes", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, 0, kMaxWindowBudgetBytes, &n, "0 - 1 TiB")) t.window_budget_bytes = n;
    });
  }

  void ParsePeers(const json& root) {
    const JsonPath at = JsonPath().Key("peers");
    const json* peers = ConfigReader::Find(root, "peers");
    if (peers == nullptr) return;
    if (!r_->List(*peers, at)) {
      peer_names_complete_ = false;
      return;
    }
    for (size_t i = 0; i < peers->size(); ++i) {
      const JsonPath entry = at.Index(i);
      const json& object = (*peers)[i];
      if (!r_->Object(object, entry, {"name", "address"})) {
        peer_names_complete_ = false;
        continue;
      }
      PeerConfig peer;
      peer_names_complete_ = peer_names_complete_ && object.contains("name");
      With(object, entry, "name", true, [&](const json& v, const JsonPath& p) {
        if (!r_->ReadString(v, p, &peer.name)) {
          peer_names_complete_ = false;
          return;
        }
        const std::string quoted = ConfigReader::Quoted(v);
        if (!IsGatewayName(peer.name)) {
          peer_names_complete_ = false;
          return r_->Error(p, absl::StrCat(quoted, " is not a gateway name (", kGatewayNameRule, ")"));
        }
        if (peer.name == out_->name) return r_->Error(p, absl::StrCat(quoted, " is this gateway's own name"));
        auto [it, inserted] = peer_index_.emplace(peer.name, i);
        if (!inserted) r_->Error(p, absl::StrCat(quoted, " is also the name of peers[", it->second, "]"));
      });
      With(object, entry, "address", true, [&](const json& v, const JsonPath& p) {
        r_->ReadEndpoint(v, p, {.allow_name = true, .allow_port_zero = false}, &peer.address);
      });
      out_->peers.push_back(std::move(peer));
    }
  }

  void ParseServices(const json& root) {
    const JsonPath at = JsonPath().Key("services");
    const json* services = ConfigReader::Find(root, "services");
    if (services == nullptr || !r_->List(*services, at)) return;
    std::map<std::string, size_t> names;
    for (size_t i = 0; i < services->size(); ++i) {
      const JsonPath entry = at.Index(i);
      const json& object = (*services)[i];
      if (!r_->Object(object, entry, {"name", "listen", "peer", "target"})) continue;
      ServiceConfig service;
      With(object, entry, "name", true, [&](const json& v, const JsonPath& p) {
        if (!r_->ReadString(v, p, &service.name)) return;
        const std::string quoted = ConfigReader::Quoted(v);
        if (!IsServiceName(service.name)) {
          return r_->Error(p, absl::StrCat(quoted, " is not a service name (", kServiceNameRule, ")"));
        }
        auto [it, inserted] = names.emplace(service.name, i);
        if (!inserted) r_->Error(p, absl::StrCat(quoted, " is also the name of services[", it->second, "]"));
      });
      With(object, entry, "listen", true, [&](const json& v, const JsonPath& p) {
        if (r_->ReadEndpoint(v, p, {.allow_name = false, .allow_port_zero = true}, &service.listen)) {
          AddListener(p, service.listen);
        }
      });
      With(object, entry, "peer", true, [&](const json& v, const JsonPath& p) {
        if (!r_->ReadString(v, p, &service.peer)) return;
        // When a peer's name could not be read, an unknown reference may be
        // that peer: say nothing rather than pile a second error on the first.
        // With a controller, peers may come from it: any valid name will do.
        if (r_->root().contains("controller")) {
          if (!IsGatewayName(service.peer)) r_->Error(p, absl::StrCat(ConfigReader::Quoted(v), " is not a gateway name"));
          return;
        }
        if (!peer_index_.contains(service.peer) && peer_names_complete_) r_->Error(p, NotAPeer(v));
      });
      With(object, entry, "target", true, [&](const json& v, const JsonPath& p) {
        r_->ReadEndpoint(v, p, {.allow_name = true, .allow_port_zero = false}, &service.target);
      });
      out_->services.push_back(std::move(service));
    }
  }

  std::string NotAPeer(const json& value) const {
    std::string message = absl::StrCat(ConfigReader::Quoted(value), " is not a configured peer");
    // A peer whose entry had errors but a good name is still in peer_index_,
    // so the list below is what the operator wrote.
    if (peer_index_.empty()) return absl::StrCat(message, " (no peers are configured)");
    absl::StrAppend(&message, " (peers:");
    size_t shown = 0;
    for (const auto& [name, index] : peer_index_) {
      if (shown++ == 5) {
        absl::StrAppend(&message, " ...");
        break;
      }
      absl::StrAppend(&message, shown == 1 ? " " : ", ", ConfigReader::Quoted(json(name)));
    }
    return absl::StrCat(message, ")");
  }

  void ParsePolicy(const json& root) {
    // The policy comes from a file or from a controller, never both.
    const bool managed = root.contains("controller");
    if (managed && root.contains("policy")) {
      return r_->Error(JsonPath().Key("policy"),
                       "not with \"controller\": a managed gateway takes its policy from the controller");
    }
    const json* policy = Section(root, "policy", !managed, {"file"});
    if (policy == nullptr) return;
    With(*policy, JsonPath().Key("policy"), "file", true,
         [&](const json& v, const JsonPath& p) { r_->ReadPath(v, p, base_dir_, &out_->policy.file); });
  }

  void ParseController(const json& root) {
    const json* controller = Section(root, "controller", false, {"address", "name"});
    With(root, {}, "state_dir", controller != nullptr,
         [&](const json& v, const JsonPath& p) { r_->ReadPath(v, p, base_dir_, &out_->state_dir); });
    if (controller == nullptr) return;
    ControllerLinkConfig link;
    const JsonPath at = JsonPath().Key("controller");
    // One address, or a list of controllers that share their state.
    With(*controller, at, "address", true, [&](const json& v, const JsonPath& p) {
      const EndpointRule rule{.allow_name = true, .allow_port_zero = false};
      if (!v.is_array()) {
        if (Endpoint e; r_->ReadEndpoint(v, p, rule, &e)) link.addresses.push_back(std::move(e));
        return;
      }
      if (v.empty()) return r_->Error(p, "must name at least one controller");
      for (size_t i = 0; i < v.size(); ++i) {
        Endpoint e;
        if (!r_->ReadEndpoint(v[i], p.Index(i), rule, &e)) continue;
        if (std::find(link.addresses.begin(), link.addresses.end(), e) != link.addresses.end()) {
          r_->Error(p.Index(i), absl::StrCat(ConfigReader::Quoted(v[i]), " is listed twice"));
          continue;
        }
        link.addresses.push_back(std::move(e));
      }
    });
    With(*controller, at, "name", false, [&](const json& v, const JsonPath& p) {
      if (!r_->ReadString(v, p, &link.name)) return;
      if (!IsGatewayName(link.name)) {
        r_->Error(p, absl::StrCat(ConfigReader::Quoted(v), " is not a certificate name (", kGatewayNameRule, ")"));
      }
    });
    out_->controller = std::move(link);
  }

  void ParseAdmin(const json& root) {
    const json* admin = Section(root, "admin", false, {"listen"});
    if (admin == nullptr) return;
    With(*admin, JsonPath().Key("admin"), "listen", false, [&](const json& v, const JsonPath& p) {
      Endpoint listen;
      // Port 0 picks a free port, logged at start (tests use it).
      if (!r_->ReadEndpoint(v, p, {.allow_name = false, .allow_port_zero = true}, &listen)) return;
      AddListener(p, listen);
      out_->admin.listen = std::move(listen);
    });
  }

  void ParseLimits(const json& root) {
    const json* limits =
        Section(root, "limits", false,
                {"max_flows", "max_flows_per_source", "max_handshakes", "connect_timeout", "open_timeout",
                 "drain_timeout", "window_budget_bytes"});
    if (limits == nullptr) return;
    LimitsConfig& l = out_->limits;
    const JsonPath at = JsonPath().Key("limits");
    for (const auto& [key, field] :
         {std::pair{"max_flows", &l.max_flows}, std::pair{"max_flows_per_source", &l.max_flows_per_source},
          std::pair{"max_handshakes", &l.max_handshakes}}) {
      uint32_t* target = field;
      With(*limits, at, key, false, [&](const json& v, const JsonPath& p) {
        uint64_t n = 0;
        if (r_->ReadInteger(v, p, 1, kMaxUint32, &n)) *target = static_cast<uint32_t>(n);
      });
    }
    for (const auto& [key, field] :
         {std::pair{"connect_timeout", &l.connect_timeout}, std::pair{"open_timeout", &l.open_timeout},
          std::pair{"drain_timeout", &l.drain_timeout}}) {
      Duration* target = field;
      With(*limits, at, key, false, [&](const json& v, const JsonPath& p) { r_->ReadTimeout(v, p, target); });
    }
    With(*limits, at, "window_budget_bytes", false, [&](const json& v, const JsonPath& p) {
      uint64_t n = 0;
      if (r_->ReadInteger(v, p, 0, kMaxWindowBudgetBytes, &n, "0 - 1 TiB")) l.window_budget_bytes = n;
    });
  }

  void ParseLog(const json& root) {
    const json* log = Section(root, "log", false, {"level", "json"});
    if (log == nullptr) return;
    const JsonPath at = JsonPath().Key("log");
    With(*log, at, "level", false, [&](const json& v, const JsonPath& p) {
      std::string level;
      if (!r_->ReadString(v, p, &level)) return;
      for (const char* known : kLogLevels) {
        if (level == known) {
          out_->log.level = std::move(level);
          return;
        }
      }
      r_->Error(p, absl::StrCat(ConfigReader::Quoted(v),
                                " is not a log level (trace, debug, info, warn, error or off)"));
    });
    With(*log, at, "json", false, [&](const json& v, const JsonPath& p) { r_->ReadBool(v, p, &out_->log.json); });
  }

  // AddListener records a listening endpoint and reports it if it clashes
  // with one read before it; bind() would fail at start otherwise, after
  // part of the gateway is already up.
  void AddListener(const JsonPath& at, const Endpoint& endpoint) {
    for (const auto& [other_at, other] : listeners_) {
      if (!Overlaps(endpoint, other)) continue;
      const std::string quoted = ConfigReader::Quoted(json(endpoint.ToString()));
      if (endpoint == other) {
        r_->Error(at, absl::StrCat(quoted, " is already used by ", other_at));
      } else {
        r_->Error(at, absl::StrCat(quoted, " overlaps ", other_at, " (",
                                   ConfigReader::Quoted(json(other.ToString())), ")"));
      }
      return;
    }
    listeners_.emplace_back(at.dotted, endpoint);
  }

  ConfigReader* r_;
  std::filesystem::path base_dir_;
  GatewayConfig* out_;
  std::map<std::string, size_t> peer_index_;  // valid peer name -> first index
  bool peer_names_complete_ = true;           // false: some peer's name is missing or invalid
  std::vector<std::pair<std::string, Endpoint>> listeners_;
};

// CheckReadable records an error at `at` unless `path` is a regular file
// this process can open for reading.
void CheckReadable(ConfigReader* reader, const JsonPath& at, const std::string& path) {
  if (path.empty()) return;  // its own error is already recorded
  const std::string quoted = ConfigReader::Quoted(json(path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return reader->Error(at, absl::StrCat("cannot read ", quoted, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return reader->Error(at, absl::StrCat("cannot read ", quoted, ": not a regular file"));
  // Opening is the only test of readability that agrees with the kernel
  // (ACLs, capabilities, root). O_NONBLOCK: a file swapped for a FIFO since
  // the stat must not hang the check.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return reader->Error(at, absl::StrCat("cannot read ", quoted, ": ", std::strerror(errno)));
  ::close(fd);
}

absl::StatusOr<GatewayConfig> Parse(const std::string& json_text, const std::string& source,
                                    const std::filesystem::path& base_dir, bool check_files) {
  absl::StatusOr<sft::JsonDocument> document = sft::ParseJsonDocument(json_text);
  if (!document.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", document.status().message()));
  }
  ConfigReader reader(source, *std::move(document));
  GatewayConfig config;
  config.source_path = source;
  GatewayConfigParser(&reader, base_dir, &config).Parse();
  if (check_files) {
    const JsonPath identity = JsonPath().Key("identity");
    CheckReadable(&reader, identity.Key("cert"), config.identity.cert);
    CheckReadable(&reader, identity.Key("key"), config.identity.key);
    CheckReadable(&reader, identity.Key("ca"), config.identity.ca);
    if (!config.policy.file.empty()) {
      CheckReadable(&reader, JsonPath().Key("policy").Key("file"), config.policy.file);
    }
  }
  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return config;
}

}  // namespace

const PeerConfig* GatewayConfig::FindPeer(const std::string& peer_name) const {
  for (const PeerConfig& peer : peers) {
    if (peer.name == peer_name) return &peer;
  }
  return nullptr;
}

absl::StatusOr<GatewayConfig> ParseGatewayConfig(const std::string& json_text, const std::string& source,
                                                 const std::string& base_dir) {
  std::error_code error;
  std::filesystem::path dir = std::filesystem::absolute(base_dir.empty() ? "." : base_dir, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": cannot resolve directory \"", base_dir, "\": ",
                                                   error.message()));
  }
  return Parse(json_text, source, dir.lexically_normal(), /*check_files=*/false);
}

uint16_t LaneCount(const TunnelConfig& tunnel, unsigned cores, std::chrono::microseconds first_lane_round_trip) {
  uint64_t n = tunnel.lanes;
  if (n == 0) {
    n = std::max(cores, 1u);
    if (first_lane_round_trip >= kLongLinkRoundTrip) n = std::max<uint64_t>(n, kMinLongLinkLanes);
  }
  return static_cast<uint16_t>(std::min<uint64_t>(n, kMaxLanes));
}

uint16_t MaxLaneCount(const TunnelConfig& tunnel, unsigned cores) {
  return LaneCount(tunnel, cores, kLongLinkRoundTrip);
}

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat(path, ": cannot read"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  const std::string text = std::move(buffer).str();
  if (text.size() > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxConfigFileBytes >> 20, " MiB; not a gateway config"));
  }
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error).lexically_normal();
  if (error) return absl::InvalidArgumentError(absl::StrCat(path, ": ", error.message()));
  absl::StatusOr<GatewayConfig> config = Parse(text, path, absolute.parent_path(), /*check_files=*/true);
  if (config.ok()) config->source_path = absolute.string();
  return config;
}

std::string ControllerLinkConfig::AddressList() const {
  std::string out;
  for (const Endpoint& address : addresses) absl::StrAppend(&out, out.empty() ? "" : ", ", address.ToString());
  return out;
}

}  // namespace braid::proxy
