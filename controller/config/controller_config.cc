// Validation of the controller's config file. The typed reads, error
// collection and the syntax of endpoints and durations are the gateway
// config's (proxy/config), so that both files read the same way.
#include "controller/config/controller_config.h"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/ip/address.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proxy/config/config_names.h"
#include "controller/store/store.h"
#include "proxy/config/config_reader.h"
#include "sft/json_document.h"

namespace braid::controller {
namespace {

using nlohmann::json;
using proxy::ConfigReader;
using proxy::Duration;
using proxy::JsonPath;

// A controller config is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxConfigFileBytes = 1u << 20;

constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// ParseDurationWithDays is proxy::ParseDuration plus the unit "d" (days).
// Returns nullopt for anything else, or a value too large for Duration.
std::optional<Duration> ParseDurationWithDays(const std::string& text) {
  if (text.size() < 2 || text.back() != 'd') return proxy::ParseDuration(text);
  // "Nd" is "N*24h": the digits are checked, and overflow caught, by the
  // gateway's parser.
  const std::optional<Duration> hours = proxy::ParseDuration(absl::StrCat(text.substr(0, text.size() - 1), "h"));
  if (!hours || hours->count() > Duration::max().count() / 24) return std::nullopt;
  return *hours * 24;
}

class ControllerConfigParser {
 public:
  ControllerConfigParser(ConfigReader* reader, std::filesystem::path base_dir, ControllerConfig* out)
      : r_(reader), base_dir_(std::move(base_dir)), out_(out) {}

  void Parse() {
    const json& root = r_->root();
    if (!r_->Object(root, {},
                    {"listen", "identity", "ca", "state_dir", "etcd", "admins", "enrollment", "gateway_poll", "log"})) {
      return;
    }
    Member(root, {}, "listen", true, [&](const json& v, const JsonPath& at) {
      r_->ReadEndpoint(v, at, {.allow_name = false, .allow_port_zero = true}, &out_->listen);
    });
    ParseCertAndKey(root, "identity", &out_->identity_cert, &out_->identity_key);
    ParseCertAndKey(root, "ca", &out_->ca_cert, &out_->ca_key);
    ParseState(root);
    Member(root, {}, "admins", true, [&](const json& v, const JsonPath& at) { ParseAdmins(v, at); });
    ParseEnrollment(root);
    Member(root, {}, "gateway_poll", false, [&](const json& v, const JsonPath& at) {
      ReadDuration(v, at, kMinGatewayPoll, kMaxGatewayPoll, "1s-120s", &out_->gateway_poll);
    });
    ParseLog(root);
  }

 private:
  // Member calls read(value, path) for member `key` of `object` when it is
  // present; a missing required key is recorded instead.
  template <typename Read>
  void Member(const json& object, const JsonPath& at, const char* key, bool required, Read read) {
    const json* value = required ? r_->Require(object, at, key) : ConfigReader::Find(object, key);
    if (value != nullptr) read(*value, at.Key(key));
  }

  // Object returns member `key` of the root when it is an object with only
  // `known_keys`, else nullptr (recording what is wrong).
  const json* Object(const json& root, const char* key, bool required, std::initializer_list<const char*> known_keys) {
    const json* value = required ? r_->Require(root, {}, key) : ConfigReader::Find(root, key);
    return value != nullptr && r_->Object(*value, JsonPath().Key(key), known_keys) ? value : nullptr;
  }

  void ParseCertAndKey(const json& root, const char* section, std::string* cert, std::string* key) {
    const json* object = Object(root, section, true, {"cert", "key"});
    if (object == nullptr) return;
    const JsonPath at = JsonPath().Key(section);
    Member(*object, at, "cert", true, [&](const json& v, const JsonPath& p) { r_->ReadPath(v, p, base_dir_, cert); });
    Member(*object, at, "key", true, [&](const json& v, const JsonPath& p) { r_->ReadPath(v, p, base_dir_, key); });
  }

  // ParseState reads where the state lives: state_dir or etcd, exactly one.
  void ParseState(const json& root) {
    const json* dir = ConfigReader::Find(root, "state_dir");
    const json* etcd = ConfigReader::Find(root, "etcd");
    if (dir == nullptr && etcd == nullptr) {
      return r_->Error(JsonPath().Key("state_dir"), "required (or etcd: a cluster that controllers share)");
    }
    if (dir != nullptr && etcd != nullptr) {
      return r_->Error(JsonPath().Key("etcd"), "state_dir is set too: the state lives in one place");
    }
    if (dir != nullptr) {
      r_->ReadPath(*dir, JsonPath().Key("state_dir"), base_dir_, &out_->state_dir);
      return;
    }
    const JsonPath at = JsonPath().Key("etcd");
    if (!r_->Object(*etcd, at, {"endpoints", "prefix", "timeout"})) return;
    ControllerConfig::Etcd& e = out_->etcd.emplace();
    Member(*etcd, at, "endpoints", true, [&](const json& v, const JsonPath& p) {
      if (!r_->List(v, p)) return;
      if (v.empty()) return r_->Error(p, "must name at least one etcd member");
      for (size_t i = 0; i < v.size(); ++i) {
        proxy::Endpoint endpoint;
        if (!r_->ReadEndpoint(v[i], p.Index(i), {.allow_name = false, .allow_port_zero = false}, &endpoint)) continue;
        boost::system::error_code ec;
        if (!boost::asio::ip::make_address(endpoint.host, ec).is_loopback()) {
          r_->Error(p.Index(i), absl::StrCat(ConfigReader::Quoted(v[i]),
                                             " is not a loopback address: etcd is reached over plain HTTP, which "
                                             "must not leave this machine"));
          continue;
        }
        e.endpoints.push_back(std::move(endpoint));
      }
    });
    Member(*etcd, at, "prefix", false, [&](const json& v, const JsonPath& p) {
      std::string prefix;
      if (!r_->ReadString(v, p, &prefix)) return;
      if (prefix.empty() || prefix.back() != '/' || !ValidateStoreKey(prefix.substr(0, prefix.size() - 1)).ok()) {
        return r_->Error(p, absl::StrCat(ConfigReader::Quoted(v),
                                         " is not key segments ([a-z0-9._-]) separated and ended by '/'"));
      }
      e.prefix = std::move(prefix);
    });
    Member(*etcd, at, "timeout", false, [&](const json& v, const JsonPath& p) {
      ReadDuration(v, p, kMinEtcdTimeout, kMaxEtcdTimeout, "100ms-60s", &e.timeout);
    });
  }

  void ParseAdmins(const json& admins, const JsonPath& at) {
    if (!r_->List(admins, at)) return;
    if (admins.empty()) return r_->Error(at, "must name at least one admin");
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < admins.size(); ++i) {
      const JsonPath entry = at.Index(i);
      std::string name;
      if (!r_->ReadString(admins[i], entry, &name)) continue;
      const std::string quoted = ConfigReader::Quoted(admins[i]);
      if (!proxy::IsGatewayName(name)) {
        r_->Error(entry, absl::StrCat(quoted, " is not a gateway name (", proxy::kGatewayNameRule, ")"));
        continue;
      }
      auto [it, inserted] = seen.emplace(name, i);
      if (!inserted) {
        r_->Error(entry, absl::StrCat(quoted, " is also admins[", it->second, "]"));
        continue;
      }
      out_->admins.push_back(std::move(name));
    }
  }

  void ParseEnrollment(const json& root) {
    const json* enrollment = Object(root, "enrollment", false, {"token_ttl", "certificate_validity"});
    if (enrollment == nullptr) return;
    const JsonPath at = JsonPath().Key("enrollment");
    Member(*enrollment, at, "token_ttl", false, [&](const json& v, const JsonPath& p) {
      ReadDuration(v, p, kMinTokenTtl, kMaxTokenTtl, "1m-30d", &out_->token_ttl);
    });
    Member(*enrollment, at, "certificate_validity", false, [&](const json& v, const JsonPath& p) {
      Duration validity;
      if (!ReadDuration(v, p, kMinCertificateValidity, kMaxCertificateValidity, "1d-3650d", &validity)) return;
      // Certificates are issued for whole days (pki::IssueOptions).
      if (validity % std::chrono::days(1) != Duration::zero()) {
        return r_->Error(p, absl::StrCat(ConfigReader::Quoted(v), " is not a whole number of days"));
      }
      out_->certificate_validity = std::chrono::duration_cast<std::chrono::days>(validity);
    });
  }

  void ParseLog(const json& root) {
    const json* log = Object(root, "log", false, {"level", "json"});
    if (log == nullptr) return;
    const JsonPath at = JsonPath().Key("log");
    Member(*log, at, "level", false, [&](const json& v, const JsonPath& p) {
      std::string level;
      if (!r_->ReadString(v, p, &level)) return;
      if (std::find(std::begin(kLogLevels), std::end(kLogLevels), level) == std::end(kLogLevels)) {
        return r_->Error(p, absl::StrCat(ConfigReader::Quoted(v),
                                         " is not a log level (trace, debug, info, warn, error or off)"));
      }
      out_->log.level = std::move(level);
    });
    Member(*log, at, "json", false, [&](const json& v, const JsonPath& p) { r_->ReadBool(v, p, &out_->log.json); });
  }

  // ReadDuration stores a duration in [min, max] (`range` says it in units)
  // in *out and returns true, or records an error and returns false.
  bool ReadDuration(const json& value, const JsonPath& at, Duration min, Duration max, const char* range,
                    Duration* out) {
    if (!value.is_string()) {
      r_->WrongType(at, "a duration string such as \"1h\"", value);
      return false;
    }
    const std::optional<Duration> duration = ParseDurationWithDays(value.get<std::string>());
    const std::string quoted = ConfigReader::Quoted(value);
    if (!duration) {
      r_->Error(at, absl::StrCat(quoted, " is not a duration (an integer and a unit: ms, s, m, h or d, as in \"1h\")"));
      return false;
    }
    if (*duration < min || *duration > max) {
      r_->Error(at, absl::StrCat(quoted, " is out of range (", range, ")"));
      return false;
    }
    *out = *duration;
    return true;
  }

  ConfigReader* r_;
  std::filesystem::path base_dir_;
  ControllerConfig* out_;
};

}  // namespace

absl::StatusOr<ControllerConfig> ParseControllerConfig(std::string_view json_text, std::string source,
                                                       std::filesystem::path base_dir) {
  std::error_code error;
  const std::filesystem::path dir = std::filesystem::absolute(base_dir.empty() ? "." : base_dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot resolve directory \"", base_dir.string(), "\": ", error.message()));
  }
  absl::StatusOr<sft::JsonDocument> document = sft::ParseJsonDocument(json_text);
  if (!document.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", document.status().message()));
  ConfigReader reader(source, *std::move(document));
  ControllerConfig config;
  config.source = std::move(source);
  ControllerConfigParser(&reader, dir.lexically_normal(), &config).Parse();
  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return config;
}

absl::StatusOr<ControllerConfig> LoadControllerConfig(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot read"));
  // One byte beyond the bound tells a file that is too large from one that
  // fits exactly.
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxConfigFileBytes >> 20, " MiB; not a controller config"));
  }
  const std::filesystem::path absolute = std::filesystem::absolute(path, error).lexically_normal();
  if (error) return absl::InvalidArgumentError(absl::StrCat(path, ": ", error.message()));
  absl::StatusOr<ControllerConfig> config = ParseControllerConfig(text, path, absolute.parent_path());
  if (config.ok()) config->source = absolute.string();
  return config;
}

}  // namespace braid::controller
