// StripeScheduler: the send side of one direction of one flow. For each
// DATA frame it picks the lane, assigns the sequence number, and keeps the
// flow's send credit so that nothing is ever sent beyond what the receiver
// granted.
//
// Policy, and why:
//   1. Small flows stay home. A flow has a home lane: the lane its control
//      frames use, normally the one owned by the worker that owns the flow.
//      While the flow is not "hot", or when the frame is small, the frame
//      goes home. Home-lane frames arrive in order (the receiver's in-order
//      fast path: no reordering wait, no map) and need no hand-off to
//      another worker, so an interactive or request/response flow pays
//      nothing for striping.
//   2. A flow is hot when the bytes it sent recently reach hot_bytes. Recent
//      bytes decay by half every half_life (integer halvings, no floating
//      point), so the estimate tracks rate: with the defaults (256 KiB,
//      10 ms) a flow turns hot above roughly 100-200 Mbit/s sustained, well
//      below what one core can encrypt but where spreading the work starts
//      to pay on a loaded gateway; a short burst (a small HTTP response, a
//      query result) stays on one lane.
//   3. A hot flow's large frames are spread over every usable lane by smooth
//      weighted round-robin (nginx's algorithm), each lane weighted by its
//      free send space (capacity - queued). Equal lanes take turns, so the
//      TLS work of one flow runs on all cores; a lane that drains slowly gets
//      proportionally fewer frames; a lane with no room for the frame gets
//      none, so a stalled lane never holds the flow (it only holds the
//      frames it already has, which the receiver's sequence window covers).
//   4. If the home lane is unusable or full, the frame goes out as in 3
//      rather than waiting: latency first.
//   5. If no lane has room, PickLane says kBlockedOnLanes: the flow stops
//      reading its host socket until a lane drains (backpressure).
// Lane loads are snapshots published by the lane workers; they may be
// slightly stale, which only skews the weights for a moment.
//
// Credit: the receiver grants absolute limits (bytes and sequence numbers)
// in OPEN/OPEN_OK and CREDIT. PickLane never hands out a frame beyond them;
// SendableBytes() says how large the next frame may be.
//
// Memory: a few words plus one int64 per lane (inlined up to 8 lanes).
// Thread-safety: none; owned by the flow's worker, like the flow.
//
// Expected use:
//   StripeScheduler tx(home_lane, open_ok.initial_byte_credit,
//                      open_ok.initial_seq_credit);
//   On CREDIT: tx.OnCredit(c.byte_limit, c.seq_limit);
//   Host readable: n = read(host, buf + 16, tx.SendableBytes());
//     pick = tx.PickLane(n, lane_loads, now); if kOk: EncodeDataHeader(flow,
//     pick.seq, n, buf) and queue buf on lane pick.lane.
//   Host EOF: Send FIN{flow, tx.Finish()} on the home lane.
#ifndef BRAID_PROXY_STRIPE_STRIPE_SCHEDULER_H_
#define BRAID_PROXY_STRIPE_STRIPE_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/container/inlined_vector.h"

namespace braid::proxy {

// LaneLoad: what the scheduler needs to know about one lane.
struct LaneLoad {
  bool usable = false;          // LANE_HELLO exchanged, not closing
  uint32_t queued_bytes = 0;    // waiting in the lane's send queue
  uint32_t capacity_bytes = 0;  // the lane's send-queue high watermark
};

class StripeScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // Frames below this many bytes go to the home lane.
    uint32_t small_frame_bytes = 4096;
    // A flow whose decayed recent byte count reaches this stripes.
    uint32_t hot_bytes = 256 * 1024;
    // Recent bytes halve every half_life.
    std::chrono::microseconds half_life{10000};
  };

  enum class PickStatus : uint8_t {
    kOk,
    kBlockedOnCredit,  // the frame exceeds the byte or sequence credit left
    kBlockedOnLanes,   // no usable lane has room for the frame
    kBadSize,          // payload_len is 0 or over wire::kMaxPayload
    kFinished,         // Finish() was called
  };

  struct Pick {
    PickStatus status = PickStatus::kOk;
    uint16_t lane = 0;   // valid with kOk
    uint64_t seq = 0;    // valid with kOk
    bool striped = false;  // kOk and not sent home because of rule 1
  };

  StripeScheduler(uint16_t home_lane, uint64_t initial_byte_limit, uint64_t initial_seq_limit)
      : StripeScheduler(home_lane, initial_byte_limit, initial_seq_limit, Options{}) {}
  StripeScheduler(uint16_t home_lane, uint64_t initial_byte_limit, uint64_t initial_seq_limit,
                  Options options);

  // OnCredit raises the limits from a CREDIT frame. A lower value (an old
  // CREDIT overtaken on another lane) is ignored.
  void OnCredit(uint64_t byte_limit, uint64_t seq_limit);

  // SendableBytes is the largest payload the next frame may carry: the byte
  // credit left, capped at wire::kMaxPayload; 0 when blocked on byte or
  // sequence credit, or finished.
  uint32_t SendableBytes() const;

  // PickLane chooses the lane for a DATA frame of payload_len bytes and, on
  // kOk, commits it: the credit is spent and the returned seq is used up, so
  // the caller must queue the frame on that lane. `lanes` is indexed by lane
  // index. On any other status nothing changes.
  Pick PickLane(uint32_t payload_len, std::span<const LaneLoad> lanes, Clock::time_point now);

  // Finish ends this direction: returns the FIN's final sequence number
  // (the number of DATA frames sent). PickLane returns kFinished afterwards.
  uint64_t Finish();

  uint16_t home_lane() const { return home_lane_; }
  uint64_t next_seq() const { return next_seq_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t byte_limit() const { return byte_limit_; }
  uint64_t seq_limit() const { return seq_limit_; }
  bool finished() const { return finished_; }
  // IsHot: whether the flow would stripe a large frame sent at `now`.
  bool IsHot(Clock::time_point now);

 private:
  // Decays recent_bytes_ to `now`.
  void Decay(Clock::time_point now);
  // Smooth weighted round-robin over the lanes with room; -1 if none.
  int PickWeighted(uint32_t payload_len, std::span<const LaneLoad> lanes);

  Options options_;
  absl::InlinedVector<int64_t, 8> current_weight_;
  uint64_t next_seq_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t byte_limit_;
  uint64_t seq_limit_;
  uint64_t recent_bytes_ = 0;
  Clock::time_point decayed_at_{};
  uint16_t home_lane_;
  bool finished_ = false;
};

std::string_view PickStatusName(StripeScheduler::PickStatus status);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_STRIPE_STRIPE_SCHEDULER_H_
