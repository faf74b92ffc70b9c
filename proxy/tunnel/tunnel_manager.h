// TunnelManager: builds tunnels on demand and binds incoming lanes to them.
//
// Lives on the control worker with the tunnels. Outgoing: the first flow to
// a peer creates a Tunnel and dials its lanes (lane 0 first; its TLS exporter
// gives the binder and its session ticket lets the other lanes resume), each
// lane dialed on its own worker (its socket lives there) and handed to the
// tunnel on the control worker once up. Incoming: every accepted connection is
// handed to a worker for its TLS handshake; the peer's name comes from its
// certificate; its LANE_HELLO must carry the binder of the tunnel's lane 0,
// so a lane from another TLS session cannot join.
#ifndef BRAID_PROXY_TUNNEL_TUNNEL_MANAGER_H_
#define BRAID_PROXY_TUNNEL_TUNNEL_MANAGER_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "proxy/runtime/worker_pool.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tunnel/tunnel.h"

namespace braid::proxy {

class TunnelManager {
 public:
  // `cores` decides the lane count with tunnel.lanes = 0 (LaneCount).
  TunnelManager(WorkerPool& workers, TunnelEnv env, std::shared_ptr<const TlsContext> tls, unsigned cores);

  // CarryFlow sends an admitted host connection to `service.peer`, dialing
  // a tunnel first if there is none. Control worker.
  void CarryFlow(tcp::socket host, FlowKey key, const ServiceConfig& service, std::string rule);
  // AcceptLoop accepts lanes on `acceptor` until it is closed.
  asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor);
  // RecheckPolicy re-checks every live flow against the current policy.
  void RecheckPolicy();
  // CloseAll closes every tunnel (shutdown).
  void CloseAll(const std::string& why);
  // CloseTunnelsTo closes every tunnel to or from gateway `peer` (revoked).
  void CloseTunnelsTo(const std::string& peer, const std::string& why);
  // DrainAll sends GOAWAY on every tunnel: no new flows, and each closes
  // once its last flow ends.
  void DrainAll();
  // UpdateConfig takes a reloaded config and identity. Tunnels and lanes
  // made from now on use them; those up keep theirs, except that tunnels
  // to a gateway no longer among the peers are closed.
  void UpdateConfig(std::shared_ptr<const GatewayConfig> config, std::shared_ptr<const TlsContext> tls);
  size_t tunnel_count() const { return tunnels_.size(); }
  // FindTunnel: the live tunnel with this id, or null (control worker).
  std::shared_ptr<Tunnel> FindTunnel(uint64_t id) const {
    auto it = tunnels_.find(id);
    return it == tunnels_.end() ? nullptr : it->second;
  }
  // KnowsPeer: whether the running config says where gateway `name` is.
  bool KnowsPeer(const std::string& name) const { return env_.config->FindPeer(name) != nullptr; }
  FlowLimits& limits() { return limits_; }
  // The gateway-wide budget for flow window growth (limits.window_budget_bytes).
  const WindowBudget& window_budget() const { return *env_.window_budget; }
  GatewayMetrics& metrics() { return *env_.metrics; }
  // ForEachTunnel calls f(const Tunnel&) for every live tunnel.
  template <typename F>
  void ForEachTunnel(F&& f) const {
    for (const auto& [id, tunnel] : tunnels_) f(*tunnel);
  }

 private:
  asio::awaitable<void> Dial(std::shared_ptr<Tunnel> tunnel, PeerConfig peer);
  asio::awaitable<std::shared_ptr<Lane>> DialLane(std::shared_ptr<Tunnel> tunnel, const PeerConfig& peer,
                                                  uint16_t index, uint16_t generation, std::string* error);
  // KeepLaneUp dials lane `index` of `tunnel` (again, after a loss) until
  // it is up, with backoff from kRedialFirst to kRedialMax; it gives up when
  // the tunnel closes or goes away, or the peer leaves the config. With
  // `replacing`, it dials once a connection to replace that one of the lane
  // (Tunnel::ReplaceLane), and if that one is lost meanwhile, redials as
  // after a loss.
  asio::awaitable<void> KeepLaneUp(std::shared_ptr<Tunnel> tunnel, uint16_t index,
                                   std::optional<uint16_t> replacing);
  static constexpr std::chrono::milliseconds kRedialFirst{100};
  static constexpr std::chrono::milliseconds kRedialMax{5'000};
  // ServeLane runs on a lane worker, with the config and identity current
  // when the connection was accepted.
  asio::awaitable<void> ServeLane(tcp::socket socket, std::shared_ptr<const GatewayConfig> config,
                                  std::shared_ptr<const TlsContext> tls);
  void BindLane(std::string peer, wire::LaneHello hello, std::shared_ptr<Lane> lane);
  void OnTunnelClosed(uint64_t id);
  // LiveTunnels copies tunnels_, for loops that may close tunnels: a tunnel
  // that closes removes itself from tunnels_ at once (OnTunnelClosed), so
  // those loops must not walk the map itself.
  std::vector<std::shared_ptr<Tunnel>> LiveTunnels() const;
  asio::io_context& LaneWorker(uint16_t index);

  WorkerPool& workers_;
  FlowLimits limits_;
  TunnelEnv env_;
  std::shared_ptr<const TlsContext> tls_;
  const unsigned cores_;
  std::map<uint64_t, std::shared_ptr<Tunnel>> tunnels_;   // every live tunnel by id
  std::map<std::string, std::shared_ptr<Tunnel>> dialed_;  // our tunnel to each peer
  size_t next_accept_worker_ = 0;
  bool draining_ = false;
  // TryStartHandshake counts a connection into ServeLane, unless
  // limits.max_handshakes (`max`) is reached, or half of it from `from`;
  // EndHandshake uncounts it when ServeLane returns (on its worker).
  bool TryStartHandshake(const asio::ip::address& from, uint32_t max);
  void EndHandshake(const asio::ip::address& from);
  std::mutex handshakes_mu_;
  uint32_t handshakes_ ABSL_GUARDED_BY(handshakes_mu_) = 0;
  std::map<asio::ip::address, uint32_t> handshakes_by_source_ ABSL_GUARDED_BY(handshakes_mu_);
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_TUNNEL_MANAGER_H_
