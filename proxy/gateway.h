// Gateway: one braid-proxy process. Wires the configuration, the policy
// store, the TLS identity, the workers, the tunnel manager and the
// listeners together, and handles signals (SIGHUP reloads the policy,
// SIGTERM and SIGINT stop).
//
// Create() does everything that can fail (reading files, binding ports)
// before any thread starts: a bad config never leaves a half-started gateway.
#ifndef BRAID_PROXY_GATEWAY_H_
#define BRAID_PROXY_GATEWAY_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/policy_store.h"
#include "proxy/config/gateway_config.h"
#include "proxy/listener/service_listener.h"
#include "proxy/runtime/worker_pool.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tunnel/tunnel_manager.h"

namespace braid::proxy {

// LoadTls builds the TLS context from the identity files and checks that the
// certificate names this gateway.
absl::StatusOr<std::shared_ptr<const TlsContext>> LoadTls(const GatewayConfig& config);

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(std::shared_ptr<const GatewayConfig> config);
  ~Gateway();

  // Run serves until a stop signal. Returns the process exit code.
  int Run();

 private:
  explicit Gateway(std::shared_ptr<const GatewayConfig> config);
  void ReloadPolicy();
  void Stop();
  asio::awaitable<void> HandleSignals();
  // Returns freed heap memory to the kernel now and then (allocator.h).
  asio::awaitable<void> ReleaseMemoryLoop();

  std::shared_ptr<const GatewayConfig> config_;
  PolicyStore policy_;
  std::shared_ptr<const TlsContext> tls_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<TunnelManager> tunnels_;
  std::unique_ptr<tcp::acceptor> tunnel_acceptor_;
  std::vector<std::unique_ptr<ServiceListener>> services_;
  std::unique_ptr<asio::signal_set> signals_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_GATEWAY_H_
