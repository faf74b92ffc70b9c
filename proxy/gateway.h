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
//
// A managed gateway (config "controller") takes its policy, its peers and
// the revoked certificates from the controller through a ControllerLink,
// applying each new state all or nothing (ApplyControllerState). It starts
// from the state it kept in its state directory; with none, it denies
// every flow until the controller answers.
#ifndef BRAID_PROXY_GATEWAY_H_
#define BRAID_PROXY_GATEWAY_H_

#include <memory>
#include <vector>

#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "braid/policy_store.h"
#include "controller/api/gateway_api.h"
#include "controller/store/file_store.h"
#include "proxy/control/controller_link.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/gateway_metrics.h"
#include "proxy/config/gateway_config.h"
#include "proxy/listener/service_listener.h"
#include "proxy/runtime/worker_pool.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tunnel/tunnel_manager.h"

namespace braid::proxy {

// RevokedSerials: certificate serials (lowercase hex) that lanes refuse.
using RevokedSerials = std::shared_ptr<const std::set<std::string>>;

// LoadTls builds the TLS context from the identity files and checks that the
// certificate names this gateway. Peer certificates in `revoked` are
// refused in the handshake.
absl::StatusOr<std::shared_ptr<const TlsContext>> LoadTls(const GatewayConfig& config,
                                                           RevokedSerials revoked = nullptr);

// CompileStatePolicy compiles the policy of a controller's state: a null
// table (deny everything) for version 0; InvalidArgument with every error
// for a text the engine refuses.
absl::StatusOr<std::shared_ptr<const RuleTable>> CompileStatePolicy(const controller::GatewayState& state);

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
  // ApplyControllerState installs a state from the controller (policy,
  // peers, revocations) all or nothing.
  absl::Status ApplyControllerState(const controller::GatewayState& state);
  // Effective is `file` with the controller's peers added.
  std::shared_ptr<const GatewayConfig> Effective(const GatewayConfig& file) const;
  RevokedSerials Revoked() const;
  controller::GatewayReport Report() const;
  // LoadControllerState opens the state directory and applies the state
  // kept there, if any (Create); MakeControllerLink prepares the link.
  absl::Status LoadControllerState();
  absl::Status MakeControllerLink();
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

  std::shared_ptr<const GatewayConfig> config_;       // in force: the file's, plus the controller's peers
  std::shared_ptr<const GatewayConfig> file_config_;  // as read from the file
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
  // Managed gateways only.
  std::unique_ptr<controller::FileStore> state_store_;
  std::optional<controller::GatewayState> controller_state_;
  std::unique_ptr<ControllerLink> controller_link_;
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_GATEWAY_H_
