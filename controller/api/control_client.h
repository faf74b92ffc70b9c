// ControlClient: one HTTPS connection to the controller's API, used by the
// gateways (policy and fleet state, reports) and by braidctl.
//
// Request() sends one request and reads its response. The connection is
// kept alive between requests and made again, with a new handshake, when
// the previous one failed or the server closed it. Every request has a
// deadline that covers connecting, the handshake, writing and reading, so a
// controller that stops answering costs one timeout, never a hang.
//
// Responses are bounded (kMaxResponseBytes): a controller is trusted, but a
// stranger answering at its address must not make a gateway buffer without
// end.
//
// Close() may come at any time on the client's executor, also while a
// request waits on the network (a gateway stopping in the middle of its long
// poll): that request ends at once with Cancelled. The connection it was
// using stays allocated until that request has finished with it, because
// the request's pending operations refer to it until they complete (aborted).
//
// Threading: none inside; a client belongs to the executor it was made on,
// and runs one request at a time.
#ifndef BRAID_CONTROLLER_API_CONTROL_CLIENT_H_
#define BRAID_CONTROLLER_API_CONTROL_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/status/statusor.h"
#include "proxy/runtime/asio.h"

namespace braid::controller {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct ControlResponse {
  unsigned status = 0;
  std::string body;
};

class ControlClient {
 public:
  static constexpr size_t kMaxResponseBytes = 16 << 20;

  // `address` is "host:port" (a name, an IPv4 literal or "[v6]:port").
  ControlClient(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls, std::string address);
  ~ControlClient();

  // Request sends `method target` with `body` (JSON, or nothing if empty).
  // Returns the response whatever its status, or Unavailable naming the
  // address and what failed (resolve, connect, TLS, I/O), DeadlineExceeded
  // when `timeout` passed first, or Cancelled when Close() was called
  // before it finished.
  asio::awaitable<absl::StatusOr<ControlResponse>> Request(http::verb method, std::string target, std::string body,
                                                           std::chrono::milliseconds timeout);

  // Close drops the connection (the next request makes a new one) and ends
  // a request in progress with Cancelled.
  void Close();

  const std::string& address() const { return address_; }

 private:
  using Stream = beast::ssl_stream<beast::tcp_stream>;
  // Connection: one TLS connection and what was read past the last
  // response. Shared between the client and the request using it, so that
  // Close() can drop it while that request's operations are still pending:
  // they complete on a stream and buffer that still exist.
  struct Connection {
    Connection(const asio::any_io_executor& executor, asio::ssl::context& tls) : stream(executor, tls) {}
    Stream stream;
    beast::flat_buffer buffer;
  };

  // Connect makes conn_ a new connection: resolved, connected and TLS
  // established. Returns Unavailable (or InvalidArgument for a malformed
  // address) naming what failed, Cancelled if Close() came meanwhile
  // (naming `target`, the request it connects for).
  asio::awaitable<absl::Status> Connect(const std::string& target);
  // Drop closes and forgets the connection, if any.
  void Drop();
  // Closed is the status of a request that Close() ended.
  absl::Status Closed(const std::string& target) const;

  asio::any_io_executor executor_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::string address_;
  std::string host_;
  std::string port_;
  std::shared_ptr<Connection> conn_;
  // closes_ counts Close() calls: a request that sees it change between
  // its start and the end of an operation was closed.
  uint64_t closes_ = 0;
};

// SplitHostPort splits "host:port" or "[v6]:port". Returns false if there is
// no port.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port);

// RunBlocking runs `request` on a private io_context until it finishes:
// braidctl's way to make one call.
absl::StatusOr<ControlResponse> RequestBlocking(std::shared_ptr<asio::ssl::context> tls, const std::string& address,
                                                http::verb method, std::string target, std::string body,
                                                std::chrono::milliseconds timeout);

// RequestNotSent: whether a Request failed before any of the request was
// sent (the name did not resolve, the connection or the TLS handshake
// failed), so that trying it on another controller cannot apply it twice.
bool RequestNotSent(const absl::Status& status);

// ErrorFromResponse turns a non-2xx response into a status carrying the
// server's error text ({"error": "..."} bodies), or OK for 2xx.
absl::Status ErrorFromResponse(const ControlResponse& response);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_API_CONTROL_CLIENT_H_
