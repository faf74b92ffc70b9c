// LaneLedger: what one lane connection has sent and received, so that the
// loss of the connection loses no frame.
//
// Flow frames and LANE_LOST (wire::IsCounted) are numbered on each lane
// connection in the order they are written, from 0, separately in each
// direction. Each side counts those it receives and tells the peer with a
// cumulative ACK on the same lane; the sender keeps every frame it wrote
// until an ACK covers it. When the connection is lost, each side tells the
// other, on another lane, how many it received (LANE_LOST), and each resends
// exactly the frames the other never got: the receiver stopped reading the
// lost connection before it said how many it had, so nothing arrives twice.
//
// Send side: OnWritten(frame) as each frame is written (the ledger keeps the
// counted ones, moving the string: no copy), OnAck(n) when an ACK arrives,
// TakeUnacked(n) when the peer's LANE_LOST says it received n.
// Receive side: OnReceived() for each counted frame read and handed on;
// TakeAck() when an ACK is due.
//
// Memory bound: the kept frames are the counted frames written and not yet
// acknowledged. A flow's DATA is limited by the credit its receiver grants,
// which it grants only as it hands bytes to its host, and the receiver
// acknowledges at least every kAckEveryFrames frames and every keepalive
// tick: so what a ledger keeps is at most the flows' credit plus what the
// receiver handed on while its ACK was on the way back (one ACK's worth
// of frames when ACKs are prompt; more on a lane whose ACK waits behind a
// long queue, though never more than that lane carried meanwhile). A lane
// whose peer stops reading keeps at most the credit, since nothing it
// sends past that is let through.
//
// Errors (a peer that breaks the rules, a protocol error of the tunnel):
// an ACK or LANE_LOST count above the frames written ("acknowledges frames
// never sent"), or below an earlier ACK ("goes backwards").
//
// Thread-safety: none. A ledger belongs to its lane's worker while the
// lane lives, and moves to the tunnel's worker when the lane is lost.
#ifndef BRAID_PROXY_TUNNEL_LANE_LEDGER_H_
#define BRAID_PROXY_TUNNEL_LANE_LEDGER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "braid/wire.h"

namespace braid::proxy {

class LaneLedger {
 public:
  // The receiver acknowledges at least this often, counted in frames
  // received (256 KiB of full DATA frames), besides every keepalive tick.
  static constexpr uint64_t kAckEveryFrames = 16;

  enum class AckStatus : uint8_t {
    kOk,
    kBeyondSent,  // the count is above the frames written
    kBackwards,   // the count is below an earlier one
  };

  // OnWritten notes a frame written to the connection (a whole encoded
  // frame). Counted frames are kept until acknowledged; others are
  // dropped.
  void OnWritten(std::string frame);
  // OnAck releases the frames below `received`. Returns kOk, or the rule it
  // breaks (and then nothing changes).
  AckStatus OnAck(uint64_t received);
  // TakeUnacked appends, in the order written, the kept frames from
  // `received` on (the peer's count in LANE_LOST) to *out, and empties the
  // ledger's send side. Returns kOk, or the rule the count breaks (and then
  // appends nothing).
  AckStatus TakeUnacked(uint64_t received, std::vector<std::string>* out);

  // OnReceived counts a counted frame received and handed on.
  void OnReceived() { ++received_; }
  // AckDue: whether `at_least` or more frames were received since the last
  // ACK sent (1: any).
  bool AckDue(uint64_t at_least = kAckEveryFrames) const { return received_ - ack_sent_ >= at_least; }
  // TakeAck returns the count to send in an ACK and notes it as sent.
  uint64_t TakeAck() {
    ack_sent_ = received_;
    return received_;
  }

  uint64_t written() const { return written_; }
  uint64_t acked() const { return acked_; }
  uint64_t received() const { return received_; }
  size_t kept_frames() const { return kept_.size(); }
  size_t kept_bytes() const { return kept_bytes_; }

 private:
  // Counted frames acked_ .. written_ - 1, in order.
  std::deque<std::string> kept_;
  size_t kept_bytes_ = 0;
  uint64_t written_ = 0;
  uint64_t acked_ = 0;
  uint64_t received_ = 0;
  uint64_t ack_sent_ = 0;
};

std::string_view AckStatusName(LaneLedger::AckStatus status);

// IsCountedFrame: whether an encoded frame (header first) is numbered on
// its lane (wire::IsCounted of its type).
bool IsCountedFrame(std::string_view frame);
// IsDataFrame: whether an encoded frame is DATA.
inline bool IsDataFrame(std::string_view frame) {
  return !frame.empty() && static_cast<uint8_t>(frame[0]) == static_cast<uint8_t>(wire::FrameType::kData);
}

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_LANE_LEDGER_H_
