// AdminServer: the gateway's HTTP admin endpoint (admin.listen).
//
//   GET /metrics   Prometheus text format (GatewayMetrics, and what is read
//                  from live lanes and flows at the scrape)
//   GET /flows     JSON: every live flow, with its receive window
//   GET /tunnels   JSON: every tunnel with its lanes and their TCP state
//   GET /healthz   200 while the process serves
//   GET /readyz    200 when it accepts new flows; 503 with the reason
//                  (draining) otherwise
//   POST /tunnels/ID/lanes/N/kill    closes lane N of tunnel ID now, as a
//                  failure would (its frames are recovered, the dialer
//                  redials it); 409 with the reason when it cannot
//   POST /tunnels/ID/lanes/N/retire  replaces the lane's connection
//                  make-before-break (Tunnel::RetireLane)
//
// Plain HTTP/1.1 with keep-alive and no authentication: it is meant for
// loopback (the default), like Envoy's admin port. It lives on the control
// worker, where the tunnels and flows live, so it reads them directly. At
// most kMaxConnections at once, requests of at most 8 KiB, idle connections
// closed after kIdleTimeout: a misbehaving scraper costs bounded memory.
#ifndef BRAID_PROXY_ADMIN_ADMIN_SERVER_H_
#define BRAID_PROXY_ADMIN_ADMIN_SERVER_H_

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "proxy/admin/gateway_metrics.h"
#include "proxy/runtime/asio.h"
#include "proxy/tunnel/tunnel_manager.h"

namespace braid::proxy {

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 16;
  static constexpr std::chrono::seconds kIdleTimeout{30};

  // Returns "" when the gateway is ready for new flows, else why not.
  using ReadinessFn = std::function<std::string()>;

  AdminServer(asio::io_context& control, GatewayMetrics& metrics, TunnelManager& tunnels, ReadinessFn ready);

  // Listen binds `endpoint`; an error means no admin endpoint.
  boost::system::error_code Listen(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  void Start();
  void Stop();

 private:
  struct Response {
    unsigned status;
    std::string content_type;
    std::string body;
  };
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(tcp::socket socket);
  Response Handle(std::string_view method, std::string_view target);
  // LaneCommand serves POST /tunnels/ID/lanes/N/{kill,retire}.
  Response LaneCommand(std::string_view path);
  std::string FlowsJson() const;
  std::string TunnelsJson() const;
  // MetricsText sets the gauges read from live flows, then renders.
  std::string MetricsText();
  // LaneSamples: the lanes up, one per (peer, role, lane).
  std::vector<LaneSample> LaneSamples() const;

  asio::io_context& control_;
  GatewayMetrics& metrics_;
  TunnelManager& tunnels_;
  ReadinessFn ready_;
  tcp::acceptor acceptor_;
  size_t connections_ = 0;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_ADMIN_ADMIN_SERVER_H_
