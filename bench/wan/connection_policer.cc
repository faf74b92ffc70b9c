#include "bench/wan/connection_policer.h"

#include <algorithm>
#include <cassert>

namespace braid::bench {

ConnectionPolicer::ConnectionPolicer(uint64_t rate_bytes_per_s, uint64_t burst_bytes)
    : rate_per_ns_(static_cast<double>(rate_bytes_per_s) / 1e9),
      burst_(static_cast<double>(burst_bytes)) {
  assert(rate_bytes_per_s > 0 && burst_bytes > 0);
}

void ConnectionPolicer::Refill(Bucket& b, std::chrono::nanoseconds now) const {
  // A clock that steps back (it should not) refills nothing rather than
  // draining the bucket.
  if (now > b.updated) {
    b.tokens = std::min(burst_, b.tokens + static_cast<double>((now - b.updated).count()) * rate_per_ns_);
    b.updated = now;
  }
}

void ConnectionPolicer::SweepIdle(std::chrono::nanoseconds now) {
  absl::erase_if(buckets_, [&](auto& entry) {
    Refill(entry.second, now);
    return entry.second.tokens >= burst_;
  });
}

ConnectionPolicer::Verdict ConnectionPolicer::Check(std::span<const uint8_t> packet,
                                                    std::chrono::nanoseconds now) {
  const std::optional<TcpFlowKey> key = ParseTcpFlowKey(packet);
  if (!key) return Verdict::kUnpoliced;
  auto it = buckets_.find(*key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxConnections) {
      SweepIdle(now);
      if (buckets_.size() >= kMaxConnections) {
        ++table_full_;
        return Verdict::kUnpoliced;
      }
    }
    it = buckets_.emplace(*key, Bucket{.tokens = burst_, .updated = now}).first;
  }
  Bucket& b = it->second;
  Refill(b, now);
  const double size = static_cast<double>(packet.size());
  if (b.tokens < size) return Verdict::kDrop;
  b.tokens -= size;
  return Verdict::kPass;
}

}  // namespace braid::bench
