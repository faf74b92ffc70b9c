// ControllerLink: a managed gateway's connection to its controller.
//
// One coroutine on the control worker does, for as long as the gateway
// runs:
//   1. POST /v1/gateway/report: what the gateway runs (policy version and
//      whether the last push was refused, tunnels, flows, bytes, rule hits);
//   2. GET /v1/gateway/state?known=ETAG: a long poll that the controller
//      answers as soon as the gateway's state differs from ETAG (a new
//      policy version, a peer that moved, a revocation);
//   3. if the state is new: apply it (Hooks::apply, all or nothing), and
//      keep it in the state directory (Store key "controller/state") so
//      that a restart while the controller is away starts from it;
// and around again, so every change is reported right after it is applied.
//
// Several controllers (sharing their state on etcd): the link talks to one
// at a time, and when a request to it fails moves to the next in the list
// at once; only when every one has failed in a row does it back off.
//
// Never fail open: when the controller is away nothing changes; the gateway
// goes on enforcing the last state it applied, and the link tries again
// with exponential backoff (0.5 s doubling to 30 s, with jitter so a fleet
// does not return in step). A state that does not parse, or that the
// gateway refuses (a policy its engine rejects), is not applied; the
// refusal is reported with its reason and the old state stays.
//
// Threading: everything runs on the control worker.
#ifndef BRAID_PROXY_CONTROL_CONTROLLER_LINK_H_
#define BRAID_PROXY_CONTROL_CONTROLLER_LINK_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/api/control_client.h"
#include "controller/api/gateway_api.h"
#include "controller/store/store.h"
#include "proxy/runtime/asio.h"

namespace braid::proxy {

class ControllerLink {
 public:
  struct Hooks {
    // apply installs a new state; an error refuses it (nothing changed).
    std::function<absl::Status(const controller::GatewayState&)> apply;
    // report describes the gateway now.
    std::function<controller::GatewayReport()> report;
  };

  static constexpr std::chrono::milliseconds kMinBackoff{500};
  static constexpr std::chrono::milliseconds kMaxBackoff{30'000};
  // The controller holds a poll at most 120 s (its gateway_poll); a poll
  // with no answer well after that means the connection is gone.
  static constexpr std::chrono::milliseconds kPollTimeout{135'000};
  static constexpr std::chrono::milliseconds kRequestTimeout{10'000};

  // `addresses` ("host:port" each, at least one) are the controllers, in
  // the order they are tried. `cache` is the gateway's state directory
  // store; it must outlive the link. `known` is the state applied at start
  // (cached), if any.
  ControllerLink(asio::io_context& control, std::shared_ptr<asio::ssl::context> tls,
                 const std::vector<std::string>& addresses, controller::Store& cache, Hooks hooks,
                 const std::optional<controller::GatewayState>& known);

  void Start();
  void Stop();

  // LoadCached returns the state the last apply saved, NotFound if there
  // is none, DataLoss if it does not parse.
  static absl::StatusOr<controller::GatewayState> LoadCached(controller::Store& cache);

 private:
  asio::awaitable<void> Run();
  asio::awaitable<void> Backoff();
  void Save(const controller::GatewayState& state);

  asio::io_context& control_;
  std::vector<std::unique_ptr<controller::ControlClient>> clients_;  // one per controller
  size_t current_ = 0;       // the controller talked to
  size_t failed_in_row_ = 0;  // requests failed since the last success, over all controllers
  controller::Store& cache_;
  Hooks hooks_;
  std::string known_etag_;
  // The last complete state received: its peers stand in for an answer
  // that leaves them out (GatewayState::peers_unchanged).
  controller::GatewayState peers_source_;
  std::chrono::milliseconds backoff_{kMinBackoff};
  bool reachable_ = true;  // for logging each outage once
  std::string last_error_;
  std::string policy_error_;
  bool stopped_ = false;
  asio::steady_timer timer_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_CONTROL_CONTROLLER_LINK_H_
