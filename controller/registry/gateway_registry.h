// GatewayRegistry: the gateways the controller knows, and which of their
// certificates are revoked.
//
// A gateway becomes known when it enrolls (Enroll) or when it first calls
// the API with a certificate from the CA (Authenticate: certificates made
// with `braidctl pki issue` are welcome too). The registry remembers every
// certificate serial it has seen for a name, so that `braidctl gateways
// revoke NAME` can revoke all of them: their serials go to every gateway
// (GatewayState.revoked), which refuse them from then on. A revoked name
// can come back only by enrolling again with a token made after the
// revocation; its new certificate has a new serial.
//
// Durable: each gateway is one Store record ("gateways/<name>"), written
// whole on every change. What changes every few seconds (the last report,
// when it was seen, whether a poll is waiting) lives in memory only.
//
// Controllers sharing one store read each other's changes with Refresh,
// and never overwrite one: a record is written only over the version this
// controller last read (Store::Swap); if another controller changed it
// meanwhile, the record is read again and the change made to that (so a
// revocation and an address change made at once through two controllers
// both stay).
//
// Thread-safety: none; the controller's single event loop owns it.
#ifndef BRAID_CONTROLLER_REGISTRY_GATEWAY_REGISTRY_H_
#define BRAID_CONTROLLER_REGISTRY_GATEWAY_REGISTRY_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/api/gateway_api.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"

namespace braid::controller {

struct GatewayRecord {
  // Durable.
  std::string name;
  std::set<std::string> serials;          // certificates seen, still valid
  std::set<std::string> revoked_serials;  // certificates revoked
  bool revoked = false;                   // revoked, and not enrolled since
  std::string address;                    // where its tunnel port is reached, "" until reported
  std::string enrolled_at;                // RFC 3339, "" if it never enrolled
  std::string revoked_at;
  // In memory.
  std::string stored;  // the record as last read from or written to the store; "" if none
  std::optional<GatewayReport> report;
  std::string last_seen_at;
  std::chrono::steady_clock::time_point last_seen{};
  int polls = 0;  // state requests waiting now
};

class GatewayRegistry {
 public:
  // Load reads every record. DataLoss names a record that does not parse.
  static absl::StatusOr<std::unique_ptr<GatewayRegistry>> Load(Store& store);

  // Authenticate checks a gateway's request made with certificate
  // (`name`, `serial`) and records the serial if it is new. Returns
  // PermissionDenied for a revoked certificate, or for an unknown
  // certificate of a revoked name; the store's error if it cannot record.
  absl::StatusOr<GatewayRecord*> Authenticate(const std::string& name, const std::string& serial);

  // Enrolled records a certificate issued by enrollment; it lifts a
  // revocation of the name (the revoked serials stay revoked).
  absl::Status Enrolled(const std::string& name, const std::string& serial);

  // Reported stores a gateway's report, and its address: `advertise` if
  // set, else `remote_ip` with the reported tunnel port. Returns whether
  // the address changed (peers then need the new state).
  absl::StatusOr<bool> Reported(GatewayRecord& gateway, GatewayReport report, const std::string& remote_ip);

  // Revoke revokes every certificate seen for `name`. NotFound for an
  // unknown name.
  absl::Status Revoke(const std::string& name);

  // Peers lists the gateways other than `self` that are not revoked and
  // have an address; Revoked lists every revoked certificate.
  std::vector<FleetPeer> Peers(const std::string& self) const;
  std::vector<RevokedGateway> Revoked() const;

  // Refresh reads every record again (another controller sharing the
  // store may have enrolled, revoked or re-addressed a gateway), keeping
  // what lives in memory. Returns whether a durable field changed.
  absl::StatusOr<bool> Refresh();

  // generation changes with every durable change to any record (here or
  // read from the store): what is derived from all of them can be kept
  // until it moves.
  uint64_t generation() const { return generation_; }

  GatewayRecord* Find(const std::string& name);
  const std::map<std::string, GatewayRecord>& gateways() const { return gateways_; }

 private:
  explicit GatewayRegistry(Store& store) : store_(store) {}
  // Change applies `change` to gateway `name`'s record (a new one if
  // unknown) and stores it, retrying over a fresher record when another
  // controller changed it (see the top), at most kChangeAttempts times.
  // An error from `change` is returned and nothing changes.
  static constexpr int kChangeAttempts = 5;
  absl::Status Change(const std::string& name, const std::function<absl::Status(GatewayRecord&)>& change);
  // Read reads the record at store key `key` into the registry, and Adopt
  // takes its text `text`; whether it changed.
  absl::StatusOr<bool> Read(const std::string& key);
  absl::StatusOr<bool> Adopt(const std::string& key, std::string text);
  GatewayRecord& Get(const std::string& name);

  Store& store_;
  std::map<std::string, GatewayRecord> gateways_;  // by lowercase name
  uint64_t generation_ = 0;
};

// GatewayKey is a name's key in maps and in the store: names compare
// without regard to case, as TLS compares them.
std::string GatewayKey(const std::string& name);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_REGISTRY_GATEWAY_REGISTRY_H_
