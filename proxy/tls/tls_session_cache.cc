#include "proxy/tls/tls_session_cache.h"

#include <ctime>
#include <utility>

namespace braid::proxy {

void TlsSessionCache::DropExpired(Sessions& sessions) {
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  std::erase_if(sessions, [now](const bssl::UniquePtr<SSL_SESSION>& s) {
    return SSL_SESSION_get_time(s.get()) + SSL_SESSION_get_timeout(s.get()) <= now;
  });
}

void TlsSessionCache::Put(std::string_view peer, bssl::UniquePtr<SSL_SESSION> session) {
  if (session == nullptr || !SSL_SESSION_is_resumable(session.get())) return;
  std::lock_guard<std::mutex> lock(mu_);
  Sessions& sessions = sessions_[std::string(peer)];
  sessions.push_back(std::move(session));
  while (sessions.size() > max_per_peer_) sessions.pop_front();
}

bssl::UniquePtr<SSL_SESSION> TlsSessionCache::Take(std::string_view peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return nullptr;
  Sessions& sessions = it->second;
  DropExpired(sessions);
  if (sessions.empty()) {
    sessions_.erase(it);
    return nullptr;
  }
  if (sessions.size() == 1) {
    // The last one stays for the next lane (see the policy in the header).
    // SSL_SESSION objects are immutable once established: sharing is safe.
    SSL_SESSION_up_ref(sessions.back().get());
    return bssl::UniquePtr<SSL_SESSION>(sessions.back().get());
  }
  bssl::UniquePtr<SSL_SESSION> newest = std::move(sessions.back());
  sessions.pop_back();
  return newest;
}

void TlsSessionCache::Forget(std::string_view peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(peer);
  if (it != sessions_.end()) sessions_.erase(it);
}

size_t TlsSessionCache::Count(std::string_view peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return 0;
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  size_t live = 0;
  for (const auto& s : it->second) {
    if (SSL_SESSION_get_time(s.get()) + SSL_SESSION_get_timeout(s.get()) > now) ++live;
  }
  return live;
}

}  // namespace braid::proxy
