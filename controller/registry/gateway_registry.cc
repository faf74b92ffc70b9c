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
  // Every record in one read where the store can (Store::Scan).
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records = store_.Scan(kPrefix);
  if (!records.ok()) return records.status();
  bool changed = false;
  for (auto& [key, text] : *records) {
    absl::StatusOr<bool> adopted = Adopt(key, std::move(text));
    if (!adopted.ok()) return adopted.status();
    changed = changed || *adopted;
  }
  return changed;
}

absl::StatusOr<bool> GatewayRegistry::Read(const std::string& key) {
  absl::StatusOr<std::string> text = store_.Get(key);
  if (absl::IsNotFound(text.status())) return false;  // deleted meanwhile
  if (!text.ok()) return text.status();
  return Adopt(key, *std::move(text));
}

absl::StatusOr<bool> GatewayRegistry::Adopt(const std::string& key, std::string text) {
  if (const auto it = gateways_.find(key.substr(std::string_view(kPrefix).size()));
      it != gateways_.end() && it->second.stored == text) {
    return false;  // as this controller last saw it
  }
  GatewayRecord g;
  JsonFields f(std::string_view(text), key);
  g.name = f.String("name");
  g.serials = ReadSerials(f, "serials");
  g.revoked_serials = ReadSerials(f, "revoked_serials");
  g.revoked = f.Bool("revoked");
  g.address = f.String("address");
  g.enrolled_at = f.String("enrolled_at");
  g.revoked_at = f.String("revoked_at");
  if (absl::Status s = f.Finish(); !s.ok()) return absl::DataLossError(s.message());
  GatewayRecord& r = gateways_[GatewayKey(g.name)];
  // The durable fields; what lives in memory stays.
  r.name = std::move(g.name);
  r.serials = std::move(g.serials);
  r.revoked_serials = std::move(g.revoked_serials);
  r.revoked = g.revoked;
  r.address = std::move(g.address);
  r.enrolled_at = std::move(g.enrolled_at);
  r.revoked_at = std::move(g.revoked_at);
  r.stored = std::move(text);
  ++generation_;
  return true;
}

absl::Status GatewayRegistry::Change(const std::string& name,
                                     const std::function<absl::Status(GatewayRecord&)>& change) {
  const std::string key = absl::StrCat(kPrefix, GatewayKey(name));
  for (int attempt = 1;; ++attempt) {
    GatewayRecord& g = Get(name);
    GatewayRecord next = g;
    if (absl::Status s = change(next); !s.ok()) return s;
    const nlohmann::json record = {
        {"name", next.name},       {"serials", next.serials},         {"revoked_serials", next.revoked_serials},
        {"revoked", next.revoked}, {"address", next.address},         {"enrolled_at", next.enrolled_at},
        {"revoked_at", next.revoked_at},
    };
    std::string text = record.dump();
    // Only over the record as this controller last saw it.
    const absl::Status stored = g.stored.empty() ? store_.Create(key, text) : store_.Swap(key, g.stored, text);
    if (stored.ok()) {
      next.stored = std::move(text);
      g = std::move(next);
      ++generation_;
      return absl::OkStatus();
    }
    const bool raced = absl::IsAborted(stored) || absl::IsAlreadyExists(stored) || absl::IsNotFound(stored);
    if (!raced || attempt == kChangeAttempts) return stored;
    if (absl::IsNotFound(stored)) g.stored.clear();  // removed: create it again
    // Another controller changed it: take its version, and change that.
    if (absl::StatusOr<bool> read = Read(key); !read.ok()) return read.status();
  }
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

namespace {

// Whether certificate `serial` may act as `g`: PermissionDenied if revoked.
absl::Status Admissible(const GatewayRecord& g, const std::string& name, const std::string& serial) {
  if (g.revoked_serials.contains(serial)) {
    return absl::PermissionDeniedError(absl::StrCat("certificate ", serial, " of gateway ", name, " is revoked"));
  }
  if (g.revoked && !g.serials.contains(serial)) {
    return absl::PermissionDeniedError(absl::StrCat("gateway ", name, " is revoked; enroll it again with a new token"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatewayRecord*> GatewayRegistry::Authenticate(const std::string& name, const std::string& serial) {
  if (GatewayRecord* known = Find(name)) {
    if (absl::Status s = Admissible(*known, name, serial); !s.ok()) return s;
  }
  if (!Get(name).serials.contains(serial)) {
    // Checked again inside: a revocation through another controller may
    // be what the change finds.
    absl::Status s = Change(name, [&](GatewayRecord& r) {
      if (absl::Status denied = Admissible(r, name, serial); !denied.ok()) return denied;
      r.serials.insert(serial);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  GatewayRecord& g = Get(name);
  g.last_seen = std::chrono::steady_clock::now();
  g.last_seen_at = NowRfc3339();
  return &g;
}

absl::Status GatewayRegistry::Enrolled(const std::string& name, const std::string& serial) {
  return Change(name, [&](GatewayRecord& r) {
    r.serials.insert(serial);
    r.revoked = false;
    r.revoked_at.clear();
    r.enrolled_at = NowRfc3339();
    return absl::OkStatus();
  });
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
  if (absl::Status s = Change(gateway.name, [&](GatewayRecord& r) {
        r.address = address;
        return absl::OkStatus();
      });
      !s.ok()) {
    return s;
  }
  return true;
}

absl::Status GatewayRegistry::Revoke(const std::string& name) {
  if (Find(name) == nullptr) return absl::NotFoundError(absl::StrCat("no gateway named ", name));
  return Change(name, [](GatewayRecord& r) {
    r.revoked_serials.insert(r.serials.begin(), r.serials.end());
    r.serials.clear();
    r.revoked = true;
    r.revoked_at = NowRfc3339();
    return absl::OkStatus();
  });
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
