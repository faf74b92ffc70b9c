// The one place braid includes Boost.Asio, so that every translation unit
// sees the same backend configuration (epoll, or io_uring with the CMake
// option BRAID_ASIO_IO_URING; see proxy/CMakeLists.txt for why)
// and the same short names.
#ifndef BRAID_PROXY_RUNTIME_ASIO_H_
#define BRAID_PROXY_RUNTIME_ASIO_H_

// Must come first: it corrects how Asio's io_uring backend prepares
// cancellations (see the file).
#include "proxy/runtime/asio_io_uring_fix.h"
// clang-format off
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
// clang-format on

namespace braid::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Error codes as values on the data path, never exceptions.
inline constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_ASIO_H_
