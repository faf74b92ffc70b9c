// ReassemblyBuffer: the receive side of one direction of one flow. DATA
// frames arrive in any order across the lanes of a tunnel, each tagged with
// its per-flow sequence number; the buffer hands their bytes out strictly in
// sequence order, and grants the flow-control credit that bounds it.
//
// Data model (after QUICHE's QuicStreamSequencerBuffer, keyed by frame
// sequence number rather than byte offset, since frames never overlap):
//   - next_seq: every frame below it has arrived and its bytes are in the
//     ready queue, a list of byte chunks read front to back. In-order arrival
//     (one lane, or the lagging lane catching up) appends to this queue and
//     touches nothing else: no map insertion, and small frames are coalesced
//     into the last chunk so that interactive flows do not cost a chunk each.
//   - pending: frames above next_seq, in an ordered map from seq to bytes.
//     When the frame at next_seq arrives, the run of pending frames that
//     follows it moves (without copying) to the ready queue.
//   - FIN: the final sequence number, once known. The direction has ended
//     cleanly (IsFinished) only when every frame below it has arrived and
//     every byte has been consumed: a truncated stream never looks finished.
//
// Flow control and memory bound: the buffer is its own credit authority. It
// advertises two absolute limits to the sender (in OPEN/OPEN_OK, then in
// CREDIT frames): a byte limit = consumed bytes + window_bytes, and a
// sequence limit = next_seq + window_frames. A frame is accepted only within
// the limits last advertised, so at any time
//   buffered_bytes() <= window_bytes and pending_frames() < window_frames,
// whatever the sender does. Heap use is therefore bounded by configuration:
// about window_bytes (up to twice that in string capacity slack for
// coalesced small frames) plus window_frames map entries of ~80 bytes.
// An idle, empty buffer allocates nothing.
//
// Errors: a frame or FIN that breaks a rule (beyond a window, after FIN,
// inconsistent FIN, a second frame with a sequence number still pending but
// other bytes) is refused with a Status and changes nothing. Every such
// Status is a protocol error of the tunnel (docs/protocol.md).
//
// Duplicates: an exact copy of a frame still pending, or a frame below
// next_seq (already in order; its bytes may be gone, so it cannot be
// compared), is dropped with kDuplicate and changes nothing. Lane recovery
// resends only what the peer never processed, so a duplicate is not
// expected; dropping it keeps a stray resend harmless.
//
// Thread-safety: none, by design. The buffer belongs to its flow, which is
// owned by one worker; lanes on other workers hand DATA over to that worker.
//
// Expected use:
//   ReassemblyBuffer rx({.window_bytes = 1 << 20, .window_frames = 512});
//   Send OPEN/OPEN_OK with rx.advertised_byte_limit(), rx.advertised_seq_limit().
//   On DATA:  if (rx.OnData(seq, payload) != kOk) TearDownTunnel();
//   On FIN:   if (rx.OnFin(final_seq) != kOk) TearDownTunnel();
//   Writable: n = rx.GetReadableRegions(regions); written = writev(...);
//             rx.MarkConsumed(written);
//         or: rx.TakeReady(&chunks, 256 * 1024); write the chunks;
//   After either: if (rx.MaybeGrantCredit(&bytes, &seq)) Send CREDIT{bytes, seq};
//             if (rx.IsFinished()) shutdown(host, SHUT_WR);
#ifndef BRAID_PROXY_STRIPE_REASSEMBLY_BUFFER_H_
#define BRAID_PROXY_STRIPE_REASSEMBLY_BUFFER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"

namespace braid::proxy {

class ReassemblyBuffer {
 public:
  struct Limits {
    // Receive window in bytes: the most that can be buffered, received but
    // not yet consumed. At least 1.
    uint32_t window_bytes = 1u << 20;
    // Sequence window: how far past next_seq a frame may be. At least 1.
    uint32_t window_frames = 1024;
  };

  enum class Status : uint8_t {
    kOk,
    kEmptyPayload,      // DATA with no bytes
    kDuplicate,         // not an error: the frame was already received (an
                        // exact copy, or below next_seq) and is dropped
    kInconsistentDuplicate,  // a frame with this seq is pending, with other bytes
    kBeyondSeqWindow,   // seq >= the advertised sequence limit
    kBeyondByteWindow,  // the bytes would pass the advertised byte limit
    kAfterFin,          // seq >= the final seq of a FIN already received
    kDuplicateFin,      // a second FIN
    kFinInconsistent,   // FIN below a frame already received, or above the
                        // advertised sequence limit
  };

  // Frames smaller than this are appended to the last ready chunk.
  static constexpr size_t kCoalesceBytes = 4096;

  explicit ReassemblyBuffer(Limits limits);
  ReassemblyBuffer(const ReassemblyBuffer&) = delete;
  ReassemblyBuffer& operator=(const ReassemblyBuffer&) = delete;

  // OnData accepts the payload of DATA frame `seq`, copying it. Returns kOk,
  // kDuplicate (dropped), or the rule the frame breaks (and then nothing
  // changes).
  Status OnData(uint64_t seq, std::string_view payload);
  // OnDataOwned is OnData taking the string instead of copying it: for a
  // payload already copied out of the decoder to cross to the flow's worker.
  // On error the string is left as it was.
  Status OnDataOwned(uint64_t seq, std::string&& payload);

  // OnFin records the FIN of this direction: exactly final_seq DATA frames
  // were sent. Returns kOk, kDuplicateFin or kFinInconsistent.
  Status OnFin(uint64_t final_seq);

  // Bytes that can be read now, in order.
  size_t readable_bytes() const { return ready_bytes_; }
  // GetReadableRegions fills `out` with up to out.size() views of readable
  // bytes, in order, and returns how many it filled. The views stay valid
  // until the next call to a non-const method.
  size_t GetReadableRegions(std::span<std::string_view> out) const;
  // MarkConsumed drops the first `bytes` readable bytes (at most
  // readable_bytes(); more is clamped) and opens the byte window.
  void MarkConsumed(size_t bytes);
  // Read copies up to out.size() readable bytes into `out`, consumes them,
  // and returns how many.
  size_t Read(std::span<char> out);
  // TakeReady moves whole readable chunks, in order, to the end of `out`
  // until at least `max_bytes` (or everything readable) is taken, consumes
  // them, and returns how many bytes it took. Unlike the views of
  // GetReadableRegions, the chunks stay valid while more data arrives: the
  // gateway writes them to the host while the lanes go on delivering.
  size_t TakeReady(std::vector<std::string>* out, size_t max_bytes);

  bool fin_received() const { return fin_received_; }
  uint64_t final_seq() const { return final_seq_; }
  // IsFinished: the FIN has arrived, so has every frame below it, and every
  // byte has been consumed. Only then may the host see end of stream.
  bool IsFinished() const {
    return fin_received_ && next_seq_ == final_seq_ && ready_bytes_ == 0;
  }

  // The limits advertised so far (initially the first window: send these in
  // OPEN or OPEN_OK).
  uint64_t advertised_byte_limit() const { return advertised_bytes_; }
  uint64_t advertised_seq_limit() const { return advertised_seq_; }
  // MaybeGrantCredit returns true and fills both limits when either window
  // has opened by at least half since it was last advertised; the caller
  // sends them in a CREDIT frame. Call after OnData and MarkConsumed. After
  // FIN nothing more is granted.
  bool MaybeGrantCredit(uint64_t* byte_limit, uint64_t* seq_limit);
  // CreditDue: whether MaybeGrantCredit would grant now (either window has
  // opened by at least half), without granting.
  bool CreditDue() const;
  // SetWindow changes the windows that later grants extend (FlowWindow
  // tunes them). Limits already advertised stand: a smaller window only
  // grants less from now on. Both at least 1.
  void SetWindow(uint32_t window_bytes, uint32_t window_frames) {
    limits_.window_bytes = std::max<uint32_t>(window_bytes, 1);
    limits_.window_frames = std::max<uint32_t>(window_frames, 1);
  }
  // Credit granted ahead of the host: the most this buffer may have to
  // hold (what it holds now plus what the peer may still send) until the
  // host consumes more.
  uint64_t credit_ahead() const { return advertised_bytes_ - consumed_bytes_; }

  const Limits& limits() const { return limits_; }
  uint64_t next_seq() const { return next_seq_; }
  // Received and not yet consumed: ready plus pending bytes.
  size_t buffered_bytes() const { return ready_bytes_ + pending_bytes_; }
  size_t pending_frames() const { return pending_.size(); }
  uint64_t received_bytes() const { return received_bytes_; }
  uint64_t consumed_bytes() const { return consumed_bytes_; }

 private:
  Status Check(uint64_t seq, std::string_view payload) const;
  // Appends in-order bytes to the ready queue.
  void AppendReady(std::string_view bytes);
  void AppendReady(std::string&& bytes);
  // Moves the run of pending frames starting at next_seq_ to the ready queue.
  void DrainPending();
  // Frees the consumed chunks at the front of the ready queue.
  void CompactReady();

  Limits limits_;
  // Ready queue: chunks ready_[ready_head_..], the first read from
  // read_offset_. A vector with a moving head rather than a deque: an empty
  // vector allocates nothing, which matters with 10,000 idle flows.
  std::vector<std::string> ready_;
  uint32_t ready_head_ = 0;
  uint32_t read_offset_ = 0;
  uint32_t ready_bytes_ = 0;
  uint32_t pending_bytes_ = 0;
  absl::btree_map<uint64_t, std::string> pending_;
  uint64_t next_seq_ = 0;
  uint64_t final_seq_ = 0;
  uint64_t received_bytes_ = 0;
  uint64_t consumed_bytes_ = 0;
  uint64_t advertised_bytes_ = 0;
  uint64_t advertised_seq_ = 0;
  bool fin_received_ = false;
};

std::string_view ReassemblyStatusName(ReassemblyBuffer::Status status);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_STRIPE_REASSEMBLY_BUFFER_H_
