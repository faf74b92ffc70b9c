// GatewayConfig: the validated configuration of one braid-proxy.
//
// Loaded from JSON (docs/configuration.md is the reference for every key);
// relative paths are resolved against the directory of the config file.
// A GatewayConfig is immutable once loaded and shared between threads as
// std::shared_ptr<const GatewayConfig>; a reload builds a new one.
#ifndef BRAID_PROXY_CONFIG_GATEWAY_CONFIG_H_
#define BRAID_PROXY_CONFIG_GATEWAY_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::proxy {

using Duration = std::chrono::milliseconds;

// A "host:port" endpoint as written. `host` is an IP literal (IPv6 without
// brackets) or, where the key allows it, a DNS name.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", "[v6]:port"
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct IdentityConfig {
  std::string cert;  // absolute paths after loading
  std::string key;
  std::string ca;
};

struct TunnelConfig {
  Endpoint listen;                 // where peers' lanes connect; port may be 0 in tests
  std::optional<Endpoint> advertise;  // where peers should dial it (told to the controller)
  uint32_t lanes = 0;              // 0 = decided at start (LaneCount)
  Duration idle_timeout{60'000};   // tear a tunnel down after this long with no flows
  Duration handshake_timeout{10'000};
  Duration keepalive_interval{5'000};  // PING on every lane this often when idle
  Duration keepalive_timeout{15'000};  // a lane silent this long is dead
  // With no lane up for this long, a tunnel resets its flows (lanes_lost);
  // until then it redials and its flows wait.
  Duration lane_loss_grace{10'000};
  uint64_t key_update_records = uint64_t{1} << 23;  // send a KeyUpdate before this many records
  // What a lane does about key_update_records: a TLS KeyUpdate (the
  // default), or, for a peer path that should not see KeyUpdate, a new
  // connection made before the old one breaks (retired at half the limit;
  // one that reaches the limit is closed as failed, never sealing more).
  enum class KeyLimit { kKeyUpdate, kRotate };
  KeyLimit key_limit = KeyLimit::kKeyUpdate;
  // Per-flow receive window (credit, and the reassembly bound) each way:
  // where it starts, and the most it grows to on a long link.
  uint32_t flow_window_bytes = 4u << 20;
  uint32_t flow_window_max_bytes = 128u << 20;
  // The most that all flows of one tunnel may grow their windows by, in all.
  uint64_t window_budget_bytes = uint64_t{256} << 20;
};

struct PeerConfig {
  std::string name;     // the name in the peer's certificate (DNS SAN)
  Endpoint address;     // where to dial it; a name is resolved here
  friend bool operator==(const PeerConfig&, const PeerConfig&) = default;
};

struct ServiceConfig {
  std::string name;
  Endpoint listen;      // local listener (IP literal)
  std::string peer;     // a PeerConfig name
  Endpoint target;      // IP or DNS name, resolved on the far gateway
  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

struct PolicyConfig {
  std::string file;     // the SFT; SIGHUP reloads it ("" with a controller)
};

// ControllerLinkConfig: where the gateway takes its policy and its peers
// from when a controller manages it (docs/controller.md).
struct ControllerLinkConfig {
  // The controller's API; a name is resolved. Several: controllers sharing
  // one state (etcd), tried in turn (ControllerLink).
  std::vector<Endpoint> addresses;
  std::string name = "controller";  // the name its certificate must carry
  // "ctl-a:7443, ctl-b:7443", for messages.
  std::string AddressList() const;
  friend bool operator==(const ControllerLinkConfig&, const ControllerLinkConfig&) = default;
};

struct AdminConfig {
  std::optional<Endpoint> listen;  // absent: no admin endpoint
};

struct LimitsConfig {
  uint32_t max_flows = 10'000;            // live flows per gateway
  uint32_t max_flows_per_source = 1'000;  // live flows per source address
  uint32_t max_handshakes = 256;          // tunnel port: connections not yet authenticated
  Duration connect_timeout{10'000};       // egress: connect to the target
  Duration open_timeout{15'000};          // ingress: wait for OPEN_OK/REFUSED
  Duration drain_timeout{30'000};         // SIGTERM: how long live flows may finish
  // The most that all flows of the gateway may grow their receive windows
  // by, over every tunnel (tunnel.window_budget_bytes is per tunnel).
  uint64_t window_budget_bytes = uint64_t{512} << 20;
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, off
  bool json = false;           // JSON log lines
};

struct GatewayConfig {
  std::string name;             // this gateway's name (must match its certificate)
  std::string source_path;      // the file it was loaded from
  IdentityConfig identity;
  TunnelConfig tunnel;
  std::vector<PeerConfig> peers;
  std::vector<ServiceConfig> services;
  PolicyConfig policy;                             // either a policy file...
  std::optional<ControllerLinkConfig> controller;  // ...or a controller
  std::string state_dir;  // what must survive a restart (the controller's last policy)
  AdminConfig admin;
  LimitsConfig limits;
  LogConfig log;

  const PeerConfig* FindPeer(const std::string& peer_name) const;
};

// ParseDuration reads "60s", "500ms", "2m", "1h" (a non-negative integer and
// a unit). Returns nullopt for anything else, including a value too large
// for Duration. "0s" parses; the config refuses zero where it means a
// timeout.
std::optional<Duration> ParseDuration(const std::string& text);

// ParseEndpoint reads "host:port" or "[v6]:port". With allow_name false the
// host must be an IP literal. Any port 0-65535 parses; the config decides
// where 0 is allowed. Returns nullopt on error.
std::optional<Endpoint> ParseEndpoint(const std::string& text, bool allow_name);

// LoadGatewayConfig reads and validates a config file. Every error is
// reported (one per line, `FILE: KEY.PATH: what is wrong`); referenced files
// (identity, policy) must exist and be readable. Nothing is started.
// Returns the config with source_path absolute; InvalidArgument with every
// error; or, when the file itself cannot be read, the errno's status code
// (NotFound, PermissionDenied, ...) with `FILE: cannot read: REASON`.
// LaneCount: the lanes of a tunnel. tunnel.lanes when it is set. For 0 the
// dialer decides once its first lane is up, from that lane's round trip:
//   - a short link (round trip under kLongLinkRoundTrip: one machine, one
//     data centre): one lane per core, as many as can encrypt at once;
//   - a long link: one per core, but at least kMinLongLinkLanes. A lane is a
//     TCP connection as well as a core's worth of TLS: on a link that caps
//     each connection (a cloud's per-flow limit, a firewall's policer) N
//     lanes carry N caps, and on a lossy one a loss halves one lane's
//     congestion window, not the flow's (bench/RESULTS.md, WAN: 8 lanes
//     carry 5.8x stunnel under a 1 Gbit/s per-connection cap and 4-5x one
//     lane at 0.1% loss). On a short link with fewer cores than that the
//     extra lanes only cost CPU (10-15% of the throughput on 2 cores).
// MaxLaneCount is the most LaneCount can return: the tunnel's lane slots
// before the first lane decides.
inline constexpr uint32_t kMinLongLinkLanes = 8;
inline constexpr std::chrono::microseconds kLongLinkRoundTrip{1'000};
uint16_t LaneCount(const TunnelConfig& tunnel, unsigned cores, std::chrono::microseconds first_lane_round_trip);
uint16_t MaxLaneCount(const TunnelConfig& tunnel, unsigned cores);

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path);

// ParseGatewayConfig validates JSON text; relative paths are resolved
// against `base_dir` (itself made absolute against the working directory);
// files are not opened. `source` names the text in errors and becomes
// source_path. Returns InvalidArgument with every error.
absl::StatusOr<GatewayConfig> ParseGatewayConfig(const std::string& json_text, const std::string& source,
                                                 const std::string& base_dir);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_CONFIG_GATEWAY_CONFIG_H_
