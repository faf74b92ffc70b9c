// LaneQueue: the send queue of one lane, fair across the flows it carries.
//
// A lane's queue holds up to its high watermark (Tunnel::kLaneHighWatermark,
// 1 MiB) of a bulk flow's DATA. In arrival order, a request/response flow
// sharing the lane would wait behind all of it for every frame: milliseconds
// at gigabit rates. So the queue is fair queuing, as in fq_codel (RFC 8290
// §4, without CoDel: the tunnel's credit already bounds every queue):
//
//   - Each flow has its own FIFO; frames of one flow leave in the order they
//     were pushed (the lane's per-flow ordering, which OPEN_OK before DATA
//     and the receiver's in-order fast path rely on, is kept). Frames of the
//     tunnel itself (PING, PONG, GOAWAY, LANE_HELLO) form one more queue.
//   - Between queues, deficit round robin with a quantum of one full frame:
//     backlogged flows share the lane's bytes equally, whatever their frame
//     sizes.
//   - A queue that was empty and gets a frame joins the "new" list, served
//     before the backlogged "old" list: a sparse flow (a query, a PING, a
//     CREDIT) leaves at the next write instead of after the backlog. A new
//     queue that empties moves to the old list rather than leaving (while
//     others wait), so a flow cannot stay ahead by sending one frame at a
//     time just fast enough: it gets one quantum, then takes turns.
//
// Cost: one hash lookup per push; no allocation per frame once a flow's
// queue exists (a queue is erased when it empties on the old list).
// Thread-safety: none; owned by the lane's worker.
#ifndef BRAID_PROXY_STRIPE_LANE_QUEUE_H_
#define BRAID_PROXY_STRIPE_LANE_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "braid/wire.h"

namespace braid::proxy {

class LaneQueue {
 public:
  // Each turn of a backlogged queue may send this many bytes, carried over
  // when a frame does not fit: one full frame.
  static constexpr int64_t kQuantum = wire::kMaxFrameSize;

  // Push appends an encoded frame (a whole wire frame, header first; at
  // least the header).
  void Push(std::string frame);
  // Pop removes and returns the next frame to send. Requires !empty().
  std::string Pop();

  bool empty() const { return frames_ == 0; }
  size_t frames() const { return frames_; }
  size_t bytes() const { return bytes_; }
  // The queues that exist, empty ones still on the old list included.
  size_t flow_queues() const { return queues_.size(); }

 private:
  struct FlowQueue {
    uint64_t key = 0;
    int64_t deficit = 0;
    bool is_new = false;
    std::deque<std::string> frames;
  };

  // The queue a frame belongs to: its flow id for flow frames, and one key
  // of its own (above every flow id) for the tunnel's frames.
  static uint64_t KeyOf(const std::string& frame);

  // Owned here; the lists point into it (unique_ptr: stable addresses).
  absl::flat_hash_map<uint64_t, std::unique_ptr<FlowQueue>> queues_;
  std::deque<FlowQueue*> new_;
  std::deque<FlowQueue*> old_;
  size_t frames_ = 0;
  size_t bytes_ = 0;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_STRIPE_LANE_QUEUE_H_
