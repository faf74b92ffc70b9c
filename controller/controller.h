// Controller: one braid-controller process. Opens the state directory,
// loads the CA and every registry from it, and serves the API until SIGTERM
// or SIGINT.
//
// Create() does everything that can fail (files, the state directory, the
// port) before serving, so a bad config or a damaged state directory never
// leaves a half-started controller. State is only ever changed through the
// registries, each change one durable Store write, so SIGKILL at any moment
// is safe: the next start reads what was last written.
//
// With its state on etcd, the controller also follows the state that other
// controllers sharing the cluster write: every kFollowInterval it reads the
// cluster's revision, and when it moved, reads the registries again and
// wakes the gateways' held polls, so a gateway connected to any controller
// learns of a change made through any other.
#ifndef BRAID_CONTROLLER_CONTROLLER_H_
#define BRAID_CONTROLLER_CONTROLLER_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "controller/config/controller_config.h"
#include "controller/enrollment/enrollment.h"
#include "controller/registry/gateway_registry.h"
#include "controller/registry/policy_registry.h"
#include "controller/server/api_server.h"
#include "controller/store/etcd_store.h"
#include "controller/store/file_store.h"
#include "pki/certificate_authority.h"

namespace braid::controller {

class Controller {
 public:
  static absl::StatusOr<std::unique_ptr<Controller>> Create(const ControllerConfig& config);
  ~Controller();

  // Run serves until a stop signal. Returns the process exit code.
  int Run();

 private:
  static constexpr std::chrono::milliseconds kFollowInterval{200};

  Controller() = default;
  // Follow runs for ever on the event loop with etcd (see the top).
  asio::awaitable<void> Follow();
  // OpenStore opens the state's backend (FileStore or EtcdStore) and says
  // where it is, for the log.
  absl::StatusOr<std::string> OpenStore(const ControllerConfig& config);

  asio::io_context io_{1};
  std::unique_ptr<Store> store_;
  EtcdStore* etcd_ = nullptr;  // store_, when it is on etcd
  std::optional<pki::CertificateAuthority> ca_;
  std::unique_ptr<PolicyRegistry> policies_;
  std::unique_ptr<GatewayRegistry> gateways_;
  std::unique_ptr<Enrollment> enrollment_;
  std::unique_ptr<ApiServer> server_;
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_CONTROLLER_H_
