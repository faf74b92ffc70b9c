// StripeScheduler: the send side of one direction of one flow. For each
// DATA frame it picks the lane, assigns the sequence number, and keeps the
// flow's send credit so that nothing is ever sent beyond what the receiver
// granted.
//
// Policy, and why:
//   1. Small flows stay home. A flow has a home lane: its control lane,
//      the one its OPEN, CREDIT, FIN and RST use. While the flow is not
//      "hot", or when the frame is small, the frame goes home. Home-lane
//      frames arrive in order (the receiver's in-order fast path: no
//      reordering wait, no map), so an interactive or request/response flow
//      pays nothing for striping.
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
//   5. If no lane has room, PickLane says kBlockedOnLanes and commits
//      nothing. The caller avoids that case rather than handling it: before
//      it reads its host socket it asks FramesThatFit how many frames the
//      lanes can take, reads no more than that, and reads nothing (it waits
//      for a lane to drain) when the answer is 0: backpressure that reaches
//      the host's TCP window, and no byte is ever read that cannot be sent.
//      The count is exact for one flow alone, but several flows share the
//      lanes and a read completes some time after its check, so frames
//      already read may find the room taken (by other flows' frames, or
//      control frames): PickLane(..., WhenFull::kOverflow) then places them
//      anyway (a frame read is always sent), on the usable lane with the
//      most free space, over its watermark. The watermark is therefore
//      soft: the lanes exceed it by at most the reads in progress when they
//      filled (up to 8 frames per flow), and then take nothing new until
//      they drain below it.
// Room is counted in frame bytes (header and payload), as lane queues are.
// Lane loads are a live view that the tunnel keeps current as frames are
// queued and written (the lane reports writes a little late, which only
// skews the weights for a moment).
//
// Credit: the receiver grants absolute limits (bytes and sequence numbers)
// in OPEN/OPEN_OK and CREDIT. PickLane never hands out a frame beyond them;
// SendableBytes() says how large the next frame may be.
//
// Memory: a few words plus one int64 per lane (inlined up to 8 lanes).
// Thread-safety: none; owned by the flow's worker, like the flow.
//
// Expected use (Flow::HostToTunnel; the tunnel owns the LaneLoad array and
// updates it in place, so nothing is built or allocated per frame):
//   Flow::Start: tx.emplace(control_lane, initial_byte_credit,
//                           initial_seq_credit);
//   On CREDIT: tx->OnCredit(c.byte_limit, c.seq_limit);
//   Loop: len = tx->SendableBytes(); 0: wait for CREDIT.
//     k = FramesThatFit(len, tunnel.lane_loads(), frames_wanted); 0: wait
//     until the tunnel reports a lane written. Otherwise readv(host) into at
//     most k frames of at most len bytes, then for each frame filled:
//       pick = tx->PickLane(n, tunnel.lane_loads(), now, WhenFull::kOverflow);
//       EncodeDataHeader(flow, pick.seq, n, frame); queue it on pick.lane
//       (which adds it to that lane's queued_bytes).
//   Host EOF: send FIN{flow, tx->Finish()} on the control lane.
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
  uint32_t queued_bytes = 0;    // frame bytes (headers too) queued, not yet written
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

  // What PickLane does when no usable lane has room for the frame.
  enum class WhenFull : uint8_t {
    kBlock,     // return kBlockedOnLanes, commit nothing
    kOverflow,  // place it anyway (see rule 5) and set Pick::overflow
  };

  struct Pick {
    PickStatus status = PickStatus::kOk;
    uint16_t lane = 0;   // valid with kOk
    uint64_t seq = 0;    // valid with kOk
    bool striped = false;  // kOk and not sent home because of rule 1
    bool overflow = false;  // kOk and placed over every lane's watermark
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
  // index. On any other status nothing changes. With WhenFull::kOverflow it
  // never returns kBlockedOnLanes: the frame goes to the usable lane with
  // the most free space, or home when no lane is usable (the tunnel holds
  // frames for a lane that is not up yet).
  Pick PickLane(uint32_t payload_len, std::span<const LaneLoad> lanes, Clock::time_point now,
                WhenFull when_full = WhenFull::kBlock);

  // FramesThatFit counts how many frames of up to payload_len bytes each the
  // lanes have room for, stopping at max_frames: PickLane, given the same
  // lanes updated only by the frames it places, places that many frames of
  // at most payload_len bytes without blocking (each frame placed takes at
  // most one frame's room from one lane). 0 means every lane is full or
  // unusable.
  static uint32_t FramesThatFit(uint32_t payload_len, std::span<const LaneLoad> lanes, uint32_t max_frames);

  // Finish ends this direction: returns the FIN's final sequence number
  // (the number of DATA frames sent). PickLane returns kFinished afterwards.
  uint64_t Finish();

  uint16_t home_lane() const { return home_lane_; }
  // set_home_lane moves the home lane (the flow's control lane moved after
  // a lane loss).
  void set_home_lane(uint16_t lane) { home_lane_ = lane; }
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
  // The usable lane with the most free space (possibly negative); the home
  // lane if none is usable.
  int PickOverflow(std::span<const LaneLoad> lanes) const;

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
