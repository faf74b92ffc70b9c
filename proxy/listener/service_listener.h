// ServiceListener: the local side of a service. Accepts host connections,
// applies this gateway's SFT (ingress check), and hands admitted ones to the
// TunnelManager. A denied connection is reset at once and logged with the
// rule that denied it.
#ifndef BRAID_PROXY_LISTENER_SERVICE_LISTENER_H_
#define BRAID_PROXY_LISTENER_SERVICE_LISTENER_H_

#include <memory>

#include "braid/policy_store.h"
#include "proxy/config/gateway_config.h"
#include "proxy/runtime/asio.h"
#include "proxy/tunnel/tunnel_manager.h"

namespace braid::proxy {

class ServiceListener {
 public:
  // Binds now (so a bad address fails at start, not later); accepts after
  // Start. Throws nothing: check ok().
  ServiceListener(asio::io_context& control, ServiceConfig service, std::string gateway_name, PolicyStore& policy,
                  TunnelManager& tunnels);

  const boost::system::error_code& bind_error() const { return bind_error_; }
  tcp::endpoint local_endpoint() const;
  const ServiceConfig& service() const { return service_; }
  void Start();
  void Stop();
  // Update takes a reloaded config of this service (same name and listen
  // address): new connections go to its target and peer.
  void Update(ServiceConfig service) { service_ = std::move(service); }

 private:
  asio::awaitable<void> AcceptLoop();
  // Admit checks a new connection from `remote` (the address accept()
  // returned: a connection reset while it waited in the accept queue has no
  // peer address left to ask for) and carries it, refuses it, or, if the
  // host has already reset it, logs and counts it as host_reset.
  void Admit(tcp::socket host, const tcp::endpoint& remote);

  asio::io_context& control_;
  ServiceConfig service_;
  const std::string gateway_name_;
  PolicyStore& policy_;
  TunnelManager& tunnels_;
  tcp::acceptor acceptor_;
  boost::system::error_code bind_error_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_LISTENER_SERVICE_LISTENER_H_
