// A fix for Boost.Asio 1.81's io_uring backend, applied where braid
// includes Asio (asio.h), before Asio itself.
//
// The bug: Asio prepares IORING_OP_ASYNC_CANCEL (when a socket with pending
// operations is closed or cancelled) and IORING_OP_TIMEOUT_REMOVE entries
// with liburing's io_uring_prep_cancel / io_uring_prep_timeout_remove and
// never sets their user_data. liburing 2.3's prep helpers do not clear it
// either, so the entry keeps the user_data of whatever request last used
// that ring slot: a pointer to some other socket's operation queue. When the
// cancel completes (0, or -ENOENT if its target had already finished),
// Asio takes the completion for that other socket and fails its pending
// read or write with "No such file or directory". In braid that tore down a
// healthy lane whenever a host connection was closed mid-transfer.
//
// The fix: Asio calls those two helpers by their global names, so they are
// redirected here to versions that also set user_data to 0, which Asio's
// completion loop ignores. Where Asio sets user_data itself afterwards, its
// own value wins, as before.
#ifndef BRAID_PROXY_RUNTIME_ASIO_IO_URING_FIX_H_
#define BRAID_PROXY_RUNTIME_ASIO_IO_URING_FIX_H_

#if defined(BOOST_ASIO_HAS_IO_URING)

#include <liburing.h>

inline void braid_io_uring_prep_cancel(io_uring_sqe* sqe, void* target, int flags) {
  io_uring_prep_cancel(sqe, target, flags);
  io_uring_sqe_set_data(sqe, nullptr);
}

inline void braid_io_uring_prep_timeout_remove(io_uring_sqe* sqe, __u64 target, unsigned flags) {
  io_uring_prep_timeout_remove(sqe, target, flags);
  io_uring_sqe_set_data(sqe, nullptr);
}

#define io_uring_prep_cancel braid_io_uring_prep_cancel
#define io_uring_prep_timeout_remove braid_io_uring_prep_timeout_remove

#endif  // BOOST_ASIO_HAS_IO_URING

#endif  // BRAID_PROXY_RUNTIME_ASIO_IO_URING_FIX_H_
