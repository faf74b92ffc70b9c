// Listen opens, binds and listens an acceptor in one step, returning the
// first error: every listening socket of the gateway is bound this way, at
// start, so that an address in use fails the start rather than a later
// accept.
#ifndef BRAID_PROXY_RUNTIME_LISTEN_H_
#define BRAID_PROXY_RUNTIME_LISTEN_H_

#include "proxy/runtime/asio.h"

namespace braid::proxy {

inline boost::system::error_code Listen(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_LISTEN_H_
