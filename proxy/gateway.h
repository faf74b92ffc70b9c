// Gateway: one braid-proxy process. Wires the configuration, the policy
// store, the TLS identity, the workers, the tunnel manager, the listeners
// and the admin endpoint together, and handles signals:
//   SIGHUP            reloads the whole config (Reload)
//   SIGTERM, SIGINT   drain: accept nothing new, let live flows finish
//                     until limits.drain_timeout, then abort the rest and
//                     exit 0; a second signal stops at once.
//
// Create() does everything that can fail (reading files, binding ports)
// before any thread starts: a bad config never leaves a half-started gateway.
#ifndef BRAID_PROXY_GATEWAY_H_
#define BRAID_PROXY_GATEWAY_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/policy_store.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/gateway_metrics.h"
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
  // `path` is where the config came from, read again on SIGHUP;
  // `log_level_override` says the command line set the log level, which a
  // reload then leaves alone.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(std::shared_ptr<const GatewayConfig> config,
                                                         std::string path = "", bool log_level_override = false);
  ~Gateway();

  // Run serves until a stop signal. Returns the process exit code.
  int Run();

 private:
  explicit Gateway(std::shared_ptr<const GatewayConfig> config);
  // Reload reads the config file again and applies it whole or not at all
  // (docs/configuration.md, "Reloading with SIGHUP").
  void Reload();
  absl::Status ApplyConfig(std::shared_ptr<const GatewayConfig> next);
  // BindServices binds a listener for each service in `config` that is not
  // already running on the same address (not started yet).
  absl::StatusOr<std::vector<std::unique_ptr<ServiceListener>>> BindServices(const GatewayConfig& config);
  void StartDrain();
  asio::awaitable<void> DrainLoop();
  void Stop();
  // Readiness for /readyz: "" when new flows are accepted.
  std::string NotReadyReason() const;
  asio::awaitable<void> HandleSignals();
  // Returns freed heap memory to the kernel now and then (allocator.h).
  asio::awaitable<void> ReleaseMemoryLoop();

  std::shared_ptr<const GatewayConfig> config_;
  std::string config_path_;
  bool log_level_override_ = false;
  GatewayMetrics metrics_;
  PolicyStore policy_;
  std::shared_ptr<const TlsContext> tls_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<TunnelManager> tunnels_;
  std::unique_ptr<tcp::acceptor> tunnel_acceptor_;
  std::vector<std::unique_ptr<ServiceListener>> services_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<asio::signal_set> signals_;
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_GATEWAY_H_
