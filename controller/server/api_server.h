// ApiServer: the controller's HTTPS API (docs/controller.md lists every
// endpoint).
//
// Who may call what is decided per request, from the verified client
// certificate of the connection:
//   - no certificate: only GET /v1/ca and POST /v1/enroll (a new gateway has
//     no certificate yet; its token is its credential);
//   - an admin name (config "admins"): the admin endpoints (/v1/tokens,
//     /v1/gateways, /v1/policy...);
//   - any other name: the gateway endpoints (/v1/gateway/...), acting as
//     that name and no other. A revoked certificate gets 403.
// A client certificate that does not chain to the CA fails the handshake.
//
// Push: a gateway's GET /v1/gateway/state is held open until the state it
// would get differs from the one it has (its etag), so a policy apply or a
// revocation reaches every connected gateway in one round trip. Held polls
// wake on Changed() and otherwise answer after `gateway_poll`.
//
// Everything runs on one event loop (one thread): the registries need no
// locks, and the store's fsyncs are short and rare. Connections are
// bounded (kMaxConnections), requests too (kMaxRequestBytes), and a
// connection that stays silent is closed: a stranger costs bounded memory.
#ifndef BRAID_CONTROLLER_SERVER_API_SERVER_H_
#define BRAID_CONTROLLER_SERVER_API_SERVER_H_

#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/ssl.hpp>

#include "controller/api/control_tls.h"
#include "controller/enrollment/enrollment.h"
#include "controller/registry/gateway_registry.h"
#include "controller/registry/policy_registry.h"
#include "proxy/runtime/asio.h"

namespace braid::controller {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ApiServerOptions {
  std::set<std::string> admins;  // lowercase names
  std::chrono::milliseconds gateway_poll{20'000};
  std::string ca_pem;
};

class ApiServer {
 public:
  static constexpr size_t kMaxConnections = 1024;
  static constexpr size_t kMaxRequestBytes = 32u << 20;
  static constexpr std::chrono::seconds kHandshakeTimeout{10};
  static constexpr std::chrono::seconds kIdleTimeout{60};

  ApiServer(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls, ApiServerOptions options,
            PolicyRegistry& policies, GatewayRegistry& gateways, Enrollment& enrollment);
  ~ApiServer();

  // Listen binds `endpoint`. Returns the error if it cannot.
  boost::system::error_code Listen(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  void Start();
  void Stop();
  // Changed wakes every held state poll: the fleet's state changed (here,
  // or in a store shared with other controllers).
  void Changed();

  struct Response {
    unsigned status = 200;
    std::string body;  // JSON
  };
  struct Request {
    std::string method;
    std::string path;
    std::string query;
    std::string body;
    std::optional<PeerIdentity> peer;  // the verified client certificate
    std::string peer_error;            // why there is none, when there is none
    std::string remote_ip;
  };

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(tcp::socket socket);
  asio::awaitable<Response> Handle(Request req);
  Response HandleAdmin(const Request& req);
  asio::awaitable<Response> HandleGateway(const Request& req, GatewayRecord& gateway);
  Response HandleEnroll(const Request& req);
  GatewayState StateFor(const std::string& name);
  // FleetPeers: every gateway with an address that is not revoked, and the
  // list's etag, rebuilt only when the registry's generation moved: each
  // gateway's state is that list without itself, and a push to a fleet
  // must not rebuild the fleet once per gateway.
  struct FleetPeers {
    uint64_t generation = UINT64_MAX;
    std::vector<FleetPeer> all;
    std::string etag;
  };
  const FleetPeers& Fleet();
  nlohmann::json FleetJson() const;
  nlohmann::json StatsJson() const;

  asio::io_context& io_;
  std::shared_ptr<asio::ssl::context> tls_;
  ApiServerOptions options_;
  PolicyRegistry& policies_;
  GatewayRegistry& gateways_;
  FleetPeers fleet_;
  Enrollment& enrollment_;
  tcp::acceptor acceptor_;
  size_t connections_ = 0;
  bool stopped_ = false;
  // Held polls, each waiting on its timer; Changed() cancels them all.
  std::list<asio::steady_timer*> waiting_;
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_SERVER_API_SERVER_H_
