// LinkModel: one direction of an emulated WAN link, as a pure state machine
// with the clock passed in: no I/O, no threads, no clock of its own, so
// every decision can be tested against a model clock. braid-link-emulator
// runs one per direction between two TUN devices.
//
// A packet offered at `now` meets what a carrier's path does to it, in path
// order:
//   1. the per-connection policer (ConnectionPolicer), if configured: IPv4
//      TCP over its connection's rate is dropped;
//   2. the link serializer, if a link rate is configured: a FIFO that puts
//      rate bytes/s on the wire. A packet starts when the packet before it
//      has left, and leaves size/rate later. The backlog (bytes not yet on
//      the wire) is bounded by queue_bytes; a packet that would pass the
//      bound is dropped at the tail, except that an idle link always takes
//      one packet. The backlog is derived from the time the link becomes
//      free, so the queue needs no storage of its own;
//   3. random loss with probability `loss`, drawn from a seeded PRNG (the
//      same seed gives the same drops). A lost packet has still taken its
//      time on the serializer: it is lost on the wire, after the queue;
//   4. propagation: the packet is released `delay` after it left the
//      serializer (after `now`, without a rate).
// Release times therefore never decrease in the order packets were offered:
// the packets in flight are one FIFO, and a link never reorders.
//
// The model holds no packet bytes. The caller keeps them (in a PacketArena)
// and passes a tag, which PopReleased hands back with the size.
//
// Memory bound: 24 bytes per packet in flight, in a ring that grows by
// doubling to the largest number ever in flight and is then reused, so
// steady state allocates nothing per packet; plus the policer's table
// (bounded, see connection_policer.h). The caller bounds the packets in
// flight by the memory it holds their bytes in.
//
// Counters: every counter of a direction is in LinkCounters, one list.
//
// Thread-safety: none; one model per direction, owned by that direction's
// thread.
//
// Expected use:
//   LinkModel link(config);                      // config.Check() is ok
//   on a packet read at `now` (tag: where its bytes are kept):
//     if (link.Offer(tag, bytes, now) != LinkModel::Verdict::kQueued) reuse the bytes
//   sleep until *link.NextRelease() (or a packet arrives);
//   while (auto p = link.PopReleased(now)) send p->size bytes kept at p->tag;
#ifndef BRAID_BENCH_WAN_LINK_MODEL_H_
#define BRAID_BENCH_WAN_LINK_MODEL_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "bench/wan/connection_policer.h"

namespace braid::bench {

struct LinkConfig {
  // One-way propagation delay.
  std::chrono::nanoseconds delay{0};
  // Probability that a packet is lost on the wire, in [0, 1].
  double loss = 0;
  // Link rate in bytes/s; 0: unlimited (no serializer, no queue).
  uint64_t rate_bytes_per_s = 0;
  // Bound on the serializer's backlog, in bytes. Used only with a rate.
  uint64_t queue_bytes = 0;
  // Per-connection policer rate in bytes/s; 0: no policer.
  uint64_t per_conn_bytes_per_s = 0;
  // The policer's bucket size. Must be > 0 with a policer.
  uint64_t per_conn_burst_bytes = 0;
  // Seed of the loss PRNG.
  uint64_t seed = 1;

  // Check returns InvalidArgument, naming the field, for a negative delay,
  // a loss outside [0, 1], or a policer without a burst.
  absl::Status Check() const;
};

// Every counter of one direction of the link, in one list.
struct LinkCounters {
  uint64_t offered_packets = 0;
  uint64_t offered_bytes = 0;
  uint64_t forwarded_packets = 0;  // released by PopReleased
  uint64_t forwarded_bytes = 0;
  uint64_t dropped_loss = 0;        // random loss
  uint64_t dropped_policer = 0;     // over its connection's rate
  uint64_t dropped_queue_full = 0;  // tail drop at the serializer
  uint64_t unpoliced = 0;           // with a policer: no TCP 5-tuple, or its table was full

  // ForEach calls fn(name, value) for every counter, in declaration order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    fn("offered_packets", offered_packets);
    fn("offered_bytes", offered_bytes);
    fn("forwarded_packets", forwarded_packets);
    fn("forwarded_bytes", forwarded_bytes);
    fn("dropped_loss", dropped_loss);
    fn("dropped_policer", dropped_policer);
    fn("dropped_queue_full", dropped_queue_full);
    fn("unpoliced", unpoliced);
  }
};

class LinkModel {
 public:
  enum class Verdict : uint8_t { kQueued, kDroppedPolicer, kDroppedQueueFull, kDroppedLoss };

  struct Released {
    uint64_t tag;
    uint32_t size;
  };

  // `config` must pass Check().
  explicit LinkModel(const LinkConfig& config);
  LinkModel(const LinkModel&) = delete;
  LinkModel& operator=(const LinkModel&) = delete;

  // Offer submits a packet that arrived at `now`; `now` must not be earlier
  // than the previous call's. Returns kQueued if it is now in flight (its
  // tag will come back from PopReleased), or why it was dropped (its tag
  // will not).
  Verdict Offer(uint64_t tag, std::span<const uint8_t> packet, std::chrono::nanoseconds now);

  // NextRelease: when the oldest packet in flight is due; nullopt when
  // nothing is in flight.
  std::optional<std::chrono::nanoseconds> NextRelease() const;

  // PopReleased removes and returns the oldest packet in flight if it is
  // due at `now`; nullopt otherwise.
  std::optional<Released> PopReleased(std::chrono::nanoseconds now);

  size_t in_flight_packets() const { return count_; }
  uint64_t in_flight_bytes() const { return in_flight_bytes_; }
  // Bytes offered to the serializer and not yet on the wire at `now`.
  uint64_t BacklogBytes(std::chrono::nanoseconds now) const;
  const LinkCounters& counters() const { return counters_; }

 private:
  struct InFlight {
    uint64_t tag;
    std::chrono::nanoseconds release;
    uint32_t size;
  };
  // Serialize returns when a packet of `size` bytes offered at `now` has
  // left the serializer, and books the link until then.
  std::chrono::nanoseconds Serialize(uint64_t size, std::chrono::nanoseconds now);
  bool Lost();
  void Push(const InFlight& p);

  LinkConfig config_;
  std::optional<ConnectionPolicer> policer_;
  std::mt19937_64 rng_;
  // The serializer is busy until link_free_.
  std::chrono::nanoseconds link_free_{0};

  // The packets in flight: a ring of power-of-two size, oldest at head_.
  std::vector<InFlight> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t in_flight_bytes_ = 0;

  LinkCounters counters_;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_LINK_MODEL_H_
