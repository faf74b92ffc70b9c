#include "controller/registry/gateway_registry.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "controller/api/json_fields.h"
#include "controller/registry/policy_registry.h"

namespace braid::controller {
namespace {

constexpr char kPrefix[] = "gateways/";

std::set<std::string> ReadSerials(JsonFields& f, const std::string& key) {
  std::set<std::string> out;
  for (const nlohmann::json& s : f.Array(key)) {
    if (!s.is_string()) {
      f.Fail(key + ": expected strings");
      break;
    }
    out.insert(s.get<std::string>());
  }
  return out;
}

}  // namespace

std::string GatewayKey(const std::string& name) { return absl::AsciiStrToLower(name); }

absl::StatusOr<std::unique_ptr<GatewayRegistry>> GatewayRegistry::Load(Store& store) {
  std::unique_ptr<GatewayRegistry> registry(new GatewayRegistry(store));
  if (absl::StatusOr<bool> read = registry->Refresh(); !read.ok()) return read.status();
  return registry;
}

absl::StatusOr<bool> GatewayRegistry::Refresh() {
  absl::StatusOr<std::vector<std::string>> keys = store_.List(kPrefix);
  if (!keys.ok()) return keys.status();
  bool changed = false;
  for (const std::string& key : *keys) {
    absl::StatusOr<std::string> text = store_.Get(key);
    if (absl::IsNotFound(text.status())) continue;  // deleted since the list
    if (!text.ok()) return text.status();
    GatewayRecord g;
    JsonFields f(std::string_view(*text), key);
    g.name = f.String("name");
    g.serials = ReadSerials(f, "serials");
    g.revoked_serials = ReadSerials(f, "revoked_serials");
    g.revoked = f.Bool("revoked");
    g.address = f.String("address");
    g.enrolled_at = f.String("enrolled_at");
    g.revoked_at = f.String("revoked_at");
    if (absl::Status s = f.Finish(); !s.ok()) return absl::DataLossError(s.message());
    auto [it, added] = gateways_.try_emplace(GatewayKey(g.name), g);
    GatewayRecord& r = it->second;
    if (!added && r.name == g.name && r.serials == g.serials && r.revoked_serials == g.revoked_serials &&
        r.revoked == g.revoked && r.address == g.address && r.enrolled_at == g.enrolled_at &&
        r.revoked_at == g.revoked_at) {
      continue;
    }
    changed = true;
    if (!added) {
      r.name = std::move(g.name);
      r.serials = std::move(g.serials);
      r.revoked_serials = std::move(g.revoked_serials);
      r.revoked = g.revoked;
      r.address = std::move(g.address);
      r.enrolled_at = std::move(g.enrolled_at);
      r.revoked_at = std::move(g.revoked_at);
    }
  }
  return changed;
}

absl::Status GatewayRegistry::Save(const GatewayRecord& g) {
  nlohmann::json record = {
      {"name", g.name},       {"serials", g.serials},         {"revoked_serials", g.revoked_serials},
      {"revoked", g.revoked}, {"address", g.address},         {"enrolled_at", g.enrolled_at},
      {"revoked_at", g.revoked_at},
  };
  return store_.Put(absl::StrCat(kPrefix, GatewayKey(g.name)), record.dump());
}

GatewayRecord& GatewayRegistry::Get(const std::string& name) {
  GatewayRecord& g = gateways_[GatewayKey(name)];
  if (g.name.empty()) g.name = name;
  return g;
}

GatewayRecord* GatewayRegistry::Find(const std::string& name) {
  auto it = gateways_.find(GatewayKey(name));
  return it == gateways_.end() ? nullptr : &it->second;
}

absl::StatusOr<GatewayRecord*> GatewayRegistry::Authenticate(const std::string& name, const std::string& serial) {
  GatewayRecord* known = Find(name);
  if (known != nullptr && known->revoked_serials.contains(serial)) {
    return absl::PermissionDeniedError(absl::StrCat("certificate ", serial, " of gateway ", name, " is revoked"));
  }
  if (known != nullptr && known->revoked && !known->serials.contains(serial)) {
    return absl::PermissionDeniedError(absl::StrCat("gateway ", name, " is revoked; enroll it again with a new token"));
  }
  GatewayRecord& g = Get(name);
  if (!g.serials.contains(serial)) {
    GatewayRecord next = g;
    next.serials.insert(serial);
    if (absl::Status s = Save(next); !s.ok()) return s;
    g.serials.insert(serial);
  }
  g.last_seen = std::chrono::steady_clock::now();
  g.last_seen_at = NowRfc3339();
  return &g;
}

absl::Status GatewayRegistry::Enrolled(const std::string& name, const std::string& serial) {
  GatewayRecord next = Get(name);
  next.serials.insert(serial);
  next.revoked = false;
  next.revoked_at.clear();
  next.enrolled_at = NowRfc3339();
  if (absl::Status s = Save(next); !s.ok()) return s;
  Get(name) = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<bool> GatewayRegistry::Reported(GatewayRecord& gateway, GatewayReport report,
                                               const std::string& remote_ip) {
  std::string address = report.advertise;
  if (address.empty()) {
    address = remote_ip.find(':') != std::string::npos ? absl::StrCat("[", remote_ip, "]:", report.tunnel_port)
                                                       : absl::StrCat(remote_ip, ":", report.tunnel_port);
  }
  gateway.report = std::move(report);
  if (address == gateway.address) return false;
  GatewayRecord next = gateway;
  next.address = address;
  if (absl::Status s = Save(next); !s.ok()) return s;
  gateway.address = std::move(address);
  return true;
}

absl::Status GatewayRegistry::Revoke(const std::string& name) {
  GatewayRecord* g = Find(name);
  if (g == nullptr) return absl::NotFoundError(absl::StrCat("no gateway named ", name));
  GatewayRecord next = *g;
  next.revoked_serials.insert(next.serials.begin(), next.serials.end());
  next.serials.clear();
  next.revoked = true;
  next.revoked_at = NowRfc3339();
  if (absl::Status s = Save(next); !s.ok()) return s;
  *g = std::move(next);
  return absl::OkStatus();
}

std::vector<FleetPeer> GatewayRegistry::Peers(const std::string& self) const {
  std::vector<FleetPeer> out;
  for (const auto& [key, g] : gateways_) {
    if (key == GatewayKey(self) || g.revoked || g.address.empty()) continue;
    out.push_back({g.name, g.address});
  }
  return out;
}

std::vector<RevokedGateway> GatewayRegistry::Revoked() const {
  std::vector<RevokedGateway> out;
  for (const auto& [key, g] : gateways_) {
    if (g.revoked_serials.empty()) continue;
    out.push_back({g.name, {g.revoked_serials.begin(), g.revoked_serials.end()}});
  }
  return out;
}

}  // namespace braid::controller
