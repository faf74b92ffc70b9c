#include "controller/api/gateway_api.h"

#include <openssl/sha.h>

#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "controller/api/json_fields.h"

namespace braid::controller {

nlohmann::json GatewayStateToJson(const GatewayState& state) {
  nlohmann::json peers = nlohmann::json::array();
  for (const FleetPeer& p : state.peers) peers.push_back({{"name", p.name}, {"address", p.address}});
  nlohmann::json revoked = nlohmann::json::array();
  for (const RevokedGateway& r : state.revoked) revoked.push_back({{"name", r.name}, {"serials", r.serials}});
  return {
      {"etag", state.etag},
      {"policy_version", state.policy_version},
      {"policy", state.policy_text},
      {"peers", std::move(peers)},
      {"peers_etag", state.peers_etag},
      {"peers_unchanged", state.peers_unchanged},
      {"revoked", std::move(revoked)},
  };
}

std::string PeersEtag(const std::vector<FleetPeer>& peers) {
  std::string text;
  for (const FleetPeer& p : peers) absl::StrAppend(&text, p.name, " ", p.address, "\n");
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 12));
}

bool KeepPeers(GatewayState& state, const GatewayState& known) {
  if (!state.peers_unchanged) return true;
  if (state.peers_etag.empty() || state.peers_etag != known.peers_etag) return false;
  state.peers = known.peers;
  state.peers_unchanged = false;
  return true;
}

absl::StatusOr<GatewayState> ParseGatewayState(std::string_view text) {
  GatewayState state;
  JsonFields f(text, "gateway state");
  state.etag = f.String("etag");
  state.policy_version = f.Uint("policy_version");
  state.policy_text = f.String("policy");
  const nlohmann::json& peers = f.Array("peers");
  for (size_t i = 0; f.ok() && i < peers.size(); ++i) {
    JsonFields p(&peers[i], absl::StrCat("gateway state: peers[", i, "]"));
    FleetPeer peer{p.String("name"), p.String("address")};
    if (absl::Status s = p.Finish(); !s.ok()) return s;
    state.peers.push_back(std::move(peer));
  }
  state.peers_etag = f.String("peers_etag", /*required=*/false);
  state.peers_unchanged = f.Bool("peers_unchanged", /*required=*/false);
  if (state.peers_unchanged && (!state.peers.empty() || state.peers_etag.empty())) {
    f.Fail("peers_unchanged with peers, or without peers_etag");
  }
  const nlohmann::json& revoked = f.Array("revoked");
  for (size_t i = 0; f.ok() && i < revoked.size(); ++i) {
    JsonFields r(&revoked[i], absl::StrCat("gateway state: revoked[", i, "]"));
    RevokedGateway gone{r.String("name"), {}};
    for (const nlohmann::json& serial : r.Array("serials")) {
      if (!serial.is_string()) {
        r.Fail("serials: expected strings");
        break;
      }
      gone.serials.push_back(serial.get<std::string>());
    }
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    state.revoked.push_back(std::move(gone));
  }
  if (absl::Status s = f.Finish(); !s.ok()) return s;
  if (state.policy_version == 0 && !state.policy_text.empty()) {
    return absl::InvalidArgumentError("gateway state: a policy without a version");
  }
  return state;
}

nlohmann::json GatewayReportToJson(const GatewayReport& report) {
  return {
      {"tunnel_port", report.tunnel_port},
      {"advertise", report.advertise},
      {"policy_version", report.policy_version},
      {"policy_error", report.policy_error},
      {"tunnels", report.tunnels},
      {"flows", report.flows},
      {"bytes_sent", report.bytes_sent},
      {"bytes_received", report.bytes_received},
      {"rule_hits", report.rule_hits},
  };
}

absl::StatusOr<GatewayReport> ParseGatewayReport(std::string_view text) {
  GatewayReport report;
  JsonFields f(text, "gateway report");
  const uint64_t port = f.Uint("tunnel_port");
  if (port > std::numeric_limits<uint16_t>::max()) f.Fail("tunnel_port: not a port");
  report.tunnel_port = static_cast<uint16_t>(port);
  report.advertise = f.String("advertise");
  report.policy_version = f.Uint("policy_version");
  report.policy_error = f.String("policy_error");
  const uint64_t tunnels = f.Uint("tunnels");
  const uint64_t flows = f.Uint("flows");
  report.tunnels = static_cast<uint32_t>(std::min<uint64_t>(tunnels, UINT32_MAX));
  report.flows = static_cast<uint32_t>(std::min<uint64_t>(flows, UINT32_MAX));
  report.bytes_sent = f.Uint("bytes_sent");
  report.bytes_received = f.Uint("bytes_received");
  const nlohmann::json& hits = f.Object("rule_hits");
  for (const auto& [rule, count] : hits.items()) {
    if (!count.is_number_unsigned()) {
      f.Fail(absl::StrCat("rule_hits.", JsonFields::Shown(rule), ": expected a non-negative integer"));
      break;
    }
    report.rule_hits[rule] = count.get<uint64_t>();
  }
  if (absl::Status s = f.Finish(); !s.ok()) return s;
  return report;
}

}  // namespace braid::controller
