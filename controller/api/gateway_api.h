// The part of the controller's API that gateways speak: the paths, what the
// controller tells a gateway (GatewayState) and what a gateway tells the
// controller (GatewayReport), with their JSON forms. docs/controller.md
// describes the same messages for operators.
//
//   GET  /v1/gateway/state?known=ETAG   long poll: answers at once when the
//        state differs from ETAG, else when it changes, else after the
//        controller's gateway_poll time with the same state.
//   POST /v1/gateway/report             the gateway's running state.
//
// Both parsers are strict (unknown keys are errors): a gateway acts on
// nothing it did not fully understand.
#ifndef BRAID_CONTROLLER_API_GATEWAY_API_H_
#define BRAID_CONTROLLER_API_GATEWAY_API_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace braid::controller {

inline constexpr std::string_view kGatewayStatePath = "/v1/gateway/state";
inline constexpr std::string_view kGatewayReportPath = "/v1/gateway/report";

struct FleetPeer {
  std::string name;
  std::string address;  // "host:port" where its tunnel port is reached
  friend bool operator==(const FleetPeer&, const FleetPeer&) = default;
};

struct RevokedGateway {
  std::string name;
  std::vector<std::string> serials;  // its certificates, lowercase hex
  friend bool operator==(const RevokedGateway&, const RevokedGateway&) = default;
};

// GatewayState: everything a gateway takes from the controller.
//
// The peer list is the largest part (every other gateway of the fleet) and
// changes least often: a poll names the peer list it has (`peers=` its
// peers_etag), and an answer whose peers are the same leaves them out
// (peers_unchanged, peers empty), so a policy pushed to a thousand gateways
// is not a thousand copies of the fleet. A gateway that does not name its
// list gets it every time.
struct GatewayState {
  std::string etag;             // names this state; the next poll sends it back
  uint64_t policy_version = 0;  // 0: no policy stored yet (deny everything)
  std::string policy_text;      // the SFT's JSON text, as applied
  std::vector<FleetPeer> peers;          // the other gateways with an address
  std::string peers_etag;                // names `peers` ("" from an older controller)
  bool peers_unchanged = false;          // peers left out: the ones named by the poll
  std::vector<RevokedGateway> revoked;   // refuse these certificates
};

// PeersEtag names a peer list (GatewayState::peers_etag).
std::string PeersEtag(const std::vector<FleetPeer>& peers);

// KeepPeers completes `state` when its peers were left out: with `known`'s
// peers if `known` has the list the answer names; false if it does not
// (the gateway must poll again without naming a list).
bool KeepPeers(GatewayState& state, const GatewayState& known);

nlohmann::json GatewayStateToJson(const GatewayState& state);
// ParseGatewayState returns InvalidArgument saying what is wrong.
absl::StatusOr<GatewayState> ParseGatewayState(std::string_view text);

// GatewayReport: a gateway's running state, sent after each change and
// every poll.
struct GatewayReport {
  uint16_t tunnel_port = 0;        // where its tunnel listener is bound
  std::string advertise;           // tunnel.advertise, "" when not set
  uint64_t policy_version = 0;     // the version it enforces
  std::string policy_error;        // why the last pushed version was refused, "" if none
  uint32_t tunnels = 0;
  uint32_t flows = 0;
  uint64_t bytes_sent = 0;         // to peers, all tunnels, since start
  uint64_t bytes_received = 0;
  // Decisions per rule id ("default" for the default action) since the
  // gateway started, both sides summed.
  std::map<std::string, uint64_t> rule_hits;
};

nlohmann::json GatewayReportToJson(const GatewayReport& report);
absl::StatusOr<GatewayReport> ParseGatewayReport(std::string_view text);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_API_GATEWAY_API_H_
