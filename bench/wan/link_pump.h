// LinkPump: one direction of braid-link-emulator. It reads packets from one
// TUN device, passes them through a LinkModel, and writes each to the other
// TUN device when the model releases it.
//
// The loop: send every packet that is due; wait in ppoll for the input
// device or the next release time, whichever comes first (timer slack set
// to 1 us, so a 1 ms delay is kept to within microseconds, not the default
// 50 us); read a batch of up to kReadBatch packets straight into the
// PacketArena, each stamped with the time it was read. Reads are
// non-blocking and batched so that one wakeup moves many packets; with a
// large MTU (the emulator's default 65000), a few Gbit/s are a few thousand
// packets a second.
//
// Where the emulator itself falls behind, packets queue in the input
// device's own queue (txqueuelen, 500 packets for a TUN device) and the
// kernel drops them there (the device's tx_dropped counter), like a router
// whose CPU is the bottleneck. When the arena is full, a packet is read and
// dropped (dropped_no_buffer).
//
// Memory bound: the arena (fixed at construction), one scratch packet, and
// the model's ring of in-flight records (see link_model.h).
//
// Thread-safety: Run() runs on one thread; counters may be read only after
// Run() has returned.
#ifndef BRAID_BENCH_WAN_LINK_PUMP_H_
#define BRAID_BENCH_WAN_LINK_PUMP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench/wan/link_model.h"
#include "bench/wan/packet_arena.h"

namespace braid::bench {

class LinkPump {
 public:
  // The largest IPv4 packet.
  static constexpr size_t kMaxPacket = 65535;
  static constexpr int kReadBatch = 64;

  // What the pump itself counts, beside the model's LinkCounters.
  struct Counters {
    uint64_t dropped_no_buffer = 0;  // the arena was full
    uint64_t read_errors = 0;
    uint64_t write_errors = 0;  // the output device refused a packet (down, or gone)

    template <typename Fn>
    void ForEach(Fn&& fn) const {
      fn("dropped_no_buffer", dropped_no_buffer);
      fn("read_errors", read_errors);
      fn("write_errors", write_errors);
    }
  };

  // in_fd and out_fd are non-blocking TUN descriptors; stop_fd becomes
  // readable when the pump should return (an eventfd). None is owned.
  LinkPump(int in_fd, int out_fd, int stop_fd, const LinkConfig& config, size_t arena_bytes);

  // Run moves packets until stop_fd is readable or the input device fails.
  void Run();

  const LinkCounters& link_counters() const { return model_.counters(); }
  const Counters& counters() const { return counters_; }

 private:
  // SendDue writes every packet due at `now`.
  void SendDue(std::chrono::nanoseconds now);
  // ReadBatch reads up to kReadBatch packets. Returns true if it stopped at
  // the batch limit (more may be waiting), false when the device is empty.
  bool ReadBatch();

  int in_fd_;
  int out_fd_;
  int stop_fd_;
  LinkModel model_;
  PacketArena arena_;
  std::vector<uint8_t> scratch_;  // where a packet with no room in the arena is read to be dropped
  Counters counters_;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_LINK_PUMP_H_
