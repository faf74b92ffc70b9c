// TlsSessionCache: TLS 1.3 session tickets a connecting gateway has received,
// kept per peer gateway so that later lanes of a tunnel, and tunnels rebuilt
// after an idle teardown, resume instead of running a full handshake.
//
// Keyed by the peer's gateway name, the name the client verified the server
// certificate against. A ticket is only ever offered to the peer it came
// from, so resumption never bypasses the name check.
//
// Policy: tickets are handed out newest first and removed as they are used,
// as RFC 8446 C.4 recommends; but the last ticket for a peer is handed out
// without being removed, so that lanes opened in a burst all resume. Reusing
// a ticket only lets an observer link the two connections, which tells
// nothing between two gateways whose addresses are public anyway; 0-RTT,
// where ticket replay would matter, is off. Expired tickets are dropped.
//
// Memory bound: at most max_per_peer tickets per peer (the oldest go first);
// the number of peers is bounded by the gateway's configuration.
//
// Thread-safety: all methods may be called from any thread.
#ifndef BRAID_PROXY_TLS_TLS_SESSION_CACHE_H_
#define BRAID_PROXY_TLS_TLS_SESSION_CACHE_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"

namespace braid::proxy {

class TlsSessionCache {
 public:
  static constexpr size_t kDefaultMaxPerPeer = 8;

  explicit TlsSessionCache(size_t max_per_peer = kDefaultMaxPerPeer)
      : max_per_peer_(max_per_peer == 0 ? 1 : max_per_peer) {}
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // Put stores a resumable session received from gateway `peer`. Sessions
  // that cannot be resumed are ignored.
  void Put(std::string_view peer, bssl::UniquePtr<SSL_SESSION> session);

  // Take returns a session to offer to gateway `peer` (see the policy
  // above), or null if there is none that has not expired.
  bssl::UniquePtr<SSL_SESSION> Take(std::string_view peer);

  // Forget drops every session for `peer`: for a peer that was revoked or
  // whose certificate changed.
  void Forget(std::string_view peer);

  // Count returns how many unexpired sessions are held for `peer`.
  size_t Count(std::string_view peer) const;

 private:
  using Sessions = std::deque<bssl::UniquePtr<SSL_SESSION>>;
  static void DropExpired(Sessions& sessions);

  const size_t max_per_peer_;
  // std::mutex rather than absl::Mutex: Debian's absl is not built with
  // ThreadSanitizer annotations, so TSan builds would report false races.
  mutable std::mutex mu_;
  std::map<std::string, Sessions, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TLS_TLS_SESSION_CACHE_H_
