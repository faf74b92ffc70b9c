// ConnectionPolicer: a carrier's per-connection rate limit, as found on
// some cloud interconnects and VPN concentrators that cap each TCP
// connection (not each customer) to a rate. It is what makes striping one
// flow over several TCP connections pay off even on an idle link, so the WAN
// bench can switch it on.
//
// Each IPv4 TCP 5-tuple (TcpFlowKey) has a token bucket of `burst` bytes
// that refills at `rate` bytes/s and starts full. A packet that finds at
// least its size in tokens takes them and passes; one that does not is
// dropped (a policer, not a shaper: nothing is delayed). Packets whose key
// cannot be read (not IPv4 TCP, malformed, later fragments) pass unpoliced:
// a real policer classifies only on headers it can read, and a bench must
// not drop what it cannot attribute.
//
// Memory bound: one bucket (about 48 bytes with the table's overhead) per
// connection seen. When the table reaches kMaxConnections, buckets that
// have refilled to full, i.e. connections idle for at least burst/rate, are
// swept; if every bucket is still in use, a new connection passes
// unpoliced and is counted (table_full), so memory never exceeds
// kMaxConnections buckets.
//
// Time is passed in by the caller (nanoseconds on any monotonic clock), so
// tests drive it with a model clock.
//
// Thread-safety: none; owned by one LinkModel.
#ifndef BRAID_BENCH_WAN_CONNECTION_POLICER_H_
#define BRAID_BENCH_WAN_CONNECTION_POLICER_H_

#include <chrono>
#include <cstdint>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "bench/wan/tcp_flow_key.h"

namespace braid::bench {

class ConnectionPolicer {
 public:
  static constexpr size_t kMaxConnections = 65536;

  enum class Verdict : uint8_t {
    kPass,        // conformed: tokens taken
    kDrop,        // over the rate: dropped
    kUnpoliced,   // no readable TCP 5-tuple, or the table was full
  };

  // rate_bytes_per_s > 0; burst_bytes > 0 (a burst below the largest packet
  // drops every packet of that size).
  ConnectionPolicer(uint64_t rate_bytes_per_s, uint64_t burst_bytes);

  // Check decides for one packet arriving at `now`.
  Verdict Check(std::span<const uint8_t> packet, std::chrono::nanoseconds now);

  size_t connections() const { return buckets_.size(); }
  uint64_t table_full() const { return table_full_; }

 private:
  struct Bucket {
    double tokens;
    std::chrono::nanoseconds updated;
  };
  // Refill brings a bucket's tokens up to `now`.
  void Refill(Bucket& b, std::chrono::nanoseconds now) const;
  // SweepIdle drops every bucket that is full at `now`.
  void SweepIdle(std::chrono::nanoseconds now);

  double rate_per_ns_;
  double burst_;
  absl::flat_hash_map<TcpFlowKey, Bucket> buckets_;
  uint64_t table_full_ = 0;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_CONNECTION_POLICER_H_
