// Fuzz target: a model of lane-loss recovery (docs/protocol.md, protocol
// version 2). One direction of up to 4 flows goes from a sender to a
// receiver over K lanes (1-8). Each lane connection is a sender-side
// LaneLedger, a FIFO of encoded frames, and a receiver-side LaneLedger; ACKs
// go back on the same connection, in a FIFO of their own. The receiver
// parses each frame with ParseFrame, counts it, and hands DATA and FIN to
// the flow's ReassemblyBuffer, as Lane::ReadLoop and the tunnel do.
//
// A lane is lost in two steps, as in the gateway: the receiver stops reading
// it (its count is final: LANE_LOST), and later the sender learns of it and
// resends TakeUnacked(count), in order, on a lane it believes up (which may
// itself be one whose receiver has stopped reading: the frames are lost
// again and resent again), or holds them until a lane is redialled. Until it
// learns, the sender goes on writing to the lost connection, and ACKs
// already on their way may still arrive. Credit goes back out of band: the
// sender uses the latest grant delivered to it, as CREDIT frames would
// bring it.
//
// Input: byte 0 is K - 1 (bits 0-2), the flows - 1 (bits 3-4) and the ACK
// mode (bit 5: prompt, every ACK due is applied at once, as a lane that
// acknowledges every kAckEveryFrames frames on a short link; else ACKs are
// taken and delivered only when the input says). Byte 1 picks the window
// (bits 0-1: bytes, bits 2-3: frames). The rest is operations, an opcode
// byte (kOps) and up to three argument bytes each. An input shorter than
// kShortInput is continued by a fixed-seed generator (splitmix64, seeded
// from the input) for kGeneratedOps operations, so that small seeds make
// long runs; a longer one runs until its bytes run out.
//
// Checked, beside the sanitizers' own checks:
//   - every frame a lane delivers parses and is accepted: a frame the
//     receiver already processed is never resent (kDuplicate from a lane is
//     a failure), and the sender never passes the credit it was given;
//   - TakeUnacked returns exactly the counted frames the lost connection
//     still held unread, in the order written, and empties the send side;
//   - no DATA frame is lost: every frame sent is received or is in exactly
//     one place, a live channel or the held frames (frames and bytes);
//   - a ledger keeps exactly the counted frames written and not yet
//     acknowledged (frames and bytes); with prompt ACKs, all the ledgers
//     together keep at most the flows' credit plus, per lane, fewer than
//     kAckEveryFrames frames received and not yet acknowledged;
//   - a bad ACK or LANE_LOST count (beyond the frames written, below an
//     earlier ACK) is refused and changes nothing, and TakeUnacked then
//     appends nothing;
//   - an exact duplicate of an accepted DATA frame is dropped (kDuplicate)
//     and changes nothing; a frame with the seq of a pending one and other
//     bytes is kInconsistentDuplicate and changes nothing; below next_seq
//     other bytes cannot be compared and are dropped as a duplicate;
//   - the bytes read out of each flow are the bytes sent, in order (checked
//     as they are read); at the end, after every lane is redialled, every
//     frame delivered and acknowledged and every flow finished, each flow
//     read exactly what it sent and every ledger is empty.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "braid/wire.h"
#include "proxy/stripe/reassembly_buffer.h"
#include "proxy/tunnel/lane_ledger.h"
#include "proxy/wire/frame_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/proxy/lane_ledger_state.h"

namespace braid::proxy {
namespace {

using fuzz::Check;
using fuzz::Fail;
using Status = ReassemblyBuffer::Status;
using AckStatus = LaneLedger::AckStatus;
using testing::LedgerState;

constexpr size_t kShortInput = 8;
constexpr size_t kGeneratedOps = 1500;
constexpr uint64_t kSeed = 0x6272616964ULL;  // "braid"
constexpr std::array<uint32_t, 4> kWindowBytes = {1024, 16 * 1024, 64 * 1024, 1 << 20};
constexpr std::array<uint32_t, 4> kWindowFrames = {2, 8, 64, 1024};

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Input: the fuzz input a byte at a time; past its end, a fixed-seed
// generator's bytes.
class Input {
 public:
  explicit Input(std::string_view data) : data_(data), state_(kSeed) {
    for (char c : data) state_ = Mix(state_ ^ static_cast<uint8_t>(c));
  }
  uint8_t Byte() {
    if (pos_ < data_.size()) return static_cast<uint8_t>(data_[pos_++]);
    state_ = Mix(state_);
    return static_cast<uint8_t>(state_ >> 56);
  }
  bool exhausted() const { return pos_ >= data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  uint64_t state_;
};

// The bytes [offset, offset + size) of flow `flow_id`'s stream: 8-byte
// words, each a hash of its place, so no short period, and a frame out of
// place never reads back as the right bytes. Made a word at a time: the
// fuzzer's comparison hooks on a loop per byte cost more than the rest of
// the model.
std::string StreamBytes(uint32_t flow_id, uint64_t offset, size_t size) {
  const uint64_t first = offset / 8, end = (offset + size + 7) / 8;
  std::string words((end - first) * 8, '\0');
  for (uint64_t w = first; w < end; ++w) {
    const uint64_t word = Mix((uint64_t{flow_id} << 56) ^ w);
    std::memcpy(words.data() + (w - first) * 8, &word, 8);
  }
  return words.substr(offset % 8, size);
}

// What the model needs of an encoded frame without parsing it.
wire::FrameType TypeOf(std::string_view frame) { return static_cast<wire::FrameType>(frame[0]); }
size_t PayloadSize(std::string_view frame) { return frame.size() - wire::kHeaderSize; }

enum class LaneState : uint8_t {
  kUp,
  kReaderStopped,  // the receiver reads no more (LANE_LOST sent); the sender does not know yet
  kLost,           // the sender has resent its frames; waits for a redial
};

struct Lane {
  LaneState state = LaneState::kUp;
  LaneLedger tx;  // the sender's
  LaneLedger rx;  // the receiver's
  std::deque<std::string> channel;  // written by the sender, not read yet
  std::deque<std::string> acks;     // ACK frames on their way back
  uint64_t final_count = 0;         // the receiver's count when it stopped
  // The model's view of tx: the sizes of the counted frames written and
  // not acknowledged.
  std::deque<size_t> unacked_sizes;
  size_t unacked_bytes = 0;
};

struct Flow {
  explicit Flow(ReassemblyBuffer::Limits limits) : rx(limits) {}
  uint32_t id = 0;
  // Sender.
  uint64_t next_seq = 0;
  uint64_t sent_bytes = 0;
  uint64_t byte_limit = 0, seq_limit = 0;  // the credit the sender has
  bool fin_sent = false;
  std::vector<std::pair<uint64_t, uint32_t>> frames;  // by seq: stream offset, size
  // Receiver.
  ReassemblyBuffer rx;
  std::set<uint64_t> pending;  // accepted seqs at or above rx.next_seq()
  uint64_t grant_bytes = 0, grant_seq = 0;  // the latest grant, not yet at the sender
};

struct Snapshot {
  uint64_t next_seq, received, consumed, final_seq, byte_limit, seq_limit;
  size_t buffered, readable, pending;
  bool fin;
  explicit Snapshot(const ReassemblyBuffer& rx)
      : next_seq(rx.next_seq()), received(rx.received_bytes()), consumed(rx.consumed_bytes()),
        final_seq(rx.final_seq()), byte_limit(rx.advertised_byte_limit()), seq_limit(rx.advertised_seq_limit()),
        buffered(rx.buffered_bytes()), readable(rx.readable_bytes()), pending(rx.pending_frames()),
        fin(rx.fin_received()) {}
  bool operator==(const Snapshot&) const = default;
};

std::string Encoded(const auto& frame) {
  std::string out;
  Check(Encode(frame, &out), "the encoder refused a frame the model built");
  return out;
}

// The operations, weighted by how often the opcode byte picks them: data
// moves most of the time, a lane is lost now and then.
enum class Op : uint8_t {
  kSend,          // flow, lane, size: a DATA frame within the credit
  kDeliver,       // lane (count in the high bits): the receiver reads frames
  kAck,           // lane (threshold in the high bit): the receiver sends an ACK if due
  kDeliverAcks,   // lane (count in the high bits): ACKs reach the sender
  kStopReading,   // lane: the receiver loses the connection
  kLearnLoss,     // lane, target: LANE_LOST reaches the sender, which resends
  kRedial,        // lane: a lost lane gets a fresh connection
  kDuplicate,     // flow, pick: an exact copy of an accepted frame
  kInconsistent,  // flow, pick, tweak: an accepted seq with other bytes
  kConsume,       // flow, how: the host reads
  kCredit,        // flow: the latest grant reaches the sender
  kPing,          // lane: an uncounted frame
  kFin,           // flow, lane: rarely, the flow's FIN
  kProbe,         // lane, delta: bad ACK and LANE_LOST counts
};
constexpr std::array<Op, 32> kOps = {
    Op::kSend,        Op::kSend,         Op::kSend,        Op::kSend,      Op::kSend,       Op::kSend,
    Op::kSend,        Op::kSend,         Op::kDeliver,     Op::kDeliver,   Op::kDeliver,    Op::kDeliver,
    Op::kDeliver,     Op::kDeliver,      Op::kDeliver,     Op::kAck,       Op::kDeliverAcks, Op::kDeliverAcks,
    Op::kStopReading, Op::kLearnLoss,    Op::kRedial,      Op::kDuplicate, Op::kInconsistent, Op::kConsume,
    Op::kConsume,     Op::kConsume,      Op::kConsume,     Op::kCredit,    Op::kCredit,     Op::kPing,
    Op::kFin,         Op::kProbe,
};

class Model {
 public:
  explicit Model(Input* in) : in_(in) {
    const uint8_t shape = in_->Byte();
    const uint8_t window = in_->Byte();
    lanes_.resize(1 + (shape & 7));
    prompt_acks_ = (shape >> 5) & 1;
    const ReassemblyBuffer::Limits limits{.window_bytes = kWindowBytes[window & 3],
                                          .window_frames = kWindowFrames[(window >> 2) & 3]};
    const size_t flows = 1 + ((shape >> 3) & 3);
    for (size_t f = 0; f < flows; ++f) {
      Flow& flow = flows_.emplace_back(limits);
      flow.id = static_cast<uint32_t>(2 * f + 1);  // the sender is the dialer
      // OPEN_OK's credit.
      flow.byte_limit = flow.grant_bytes = flow.rx.advertised_byte_limit();
      flow.seq_limit = flow.grant_seq = flow.rx.advertised_seq_limit();
    }
  }

  void Step() {
    switch (kOps[in_->Byte() % kOps.size()]) {
      case Op::kSend: {
        const uint8_t f = in_->Byte(), l = in_->Byte(), size = in_->Byte();
        SendData(flows_[f % flows_.size()], l, size);
        break;
      }
      case Op::kDeliver: {
        const uint8_t l = in_->Byte();
        Deliver(lanes_[l % lanes_.size()], 1 + (l >> 5));
        break;
      }
      case Op::kAck: {
        const uint8_t l = in_->Byte();
        SendAck(lanes_[l % lanes_.size()], l & 0x80 ? 1 : LaneLedger::kAckEveryFrames);
        break;
      }
      case Op::kDeliverAcks: {
        const uint8_t l = in_->Byte();
        DeliverAcks(lanes_[l % lanes_.size()], 1 + (l >> 5));
        break;
      }
      case Op::kStopReading: StopReading(lanes_[in_->Byte() % lanes_.size()]); break;
      case Op::kLearnLoss: {
        const uint8_t l = in_->Byte(), target = in_->Byte();
        LearnLoss(lanes_[l % lanes_.size()], target);
        break;
      }
      case Op::kRedial: Redial(lanes_[in_->Byte() % lanes_.size()]); break;
      case Op::kDuplicate: {
        const uint8_t f = in_->Byte(), pick = in_->Byte();
        InjectDuplicate(flows_[f % flows_.size()], pick);
        break;
      }
      case Op::kInconsistent: {
        const uint8_t f = in_->Byte(), pick = in_->Byte(), tweak = in_->Byte();
        InjectInconsistent(flows_[f % flows_.size()], pick, tweak);
        break;
      }
      case Op::kConsume: {
        const uint8_t f = in_->Byte(), how = in_->Byte();
        Consume(flows_[f % flows_.size()], how);
        break;
      }
      case Op::kCredit: DeliverCredit(flows_[in_->Byte() % flows_.size()]); break;
      case Op::kPing: {
        const uint8_t l = in_->Byte();
        Write(l, Encoded(wire::Ping{.opaque = l}));
        break;
      }
      case Op::kFin: {
        // Rare (1 in 16): a FIN ends the flow's data.
        const uint8_t f = in_->Byte(), l = in_->Byte();
        if ((f >> 4) == 0xf) SendFin(flows_[f % flows_.size()], l);
        break;
      }
      case Op::kProbe: {
        const uint8_t l = in_->Byte(), delta = in_->Byte();
        ProbeBadCounts(lanes_[l % lanes_.size()], delta);
        break;
      }
    }
    CheckInvariants();
  }

  // Drain ends the run as a tunnel that stays up would: every loss is
  // learnt, every lane redialled, every flow finished, every frame
  // delivered and read, every ACK applied. Then nothing may be missing.
  void Drain() {
    for (Lane& lane : lanes_) {
      if (lane.state == LaneState::kReaderStopped) LearnLoss(lane, 0);
    }
    for (Lane& lane : lanes_) Redial(lane);
    Check(held_.empty(), "frames held with every lane up");
    for (size_t f = 0; f < flows_.size(); ++f) SendFin(flows_[f], static_cast<uint8_t>(f));
    for (Lane& lane : lanes_) {
      Deliver(lane, lane.channel.size());
      Check(lane.channel.empty(), "a lane up did not deliver all it was sent");
      SendAck(lane, 1);
      DeliverAcks(lane, lane.acks.size());
      Check(lane.tx.kept_frames() == 0 && lane.tx.kept_bytes() == 0, "a ledger keeps frames after the last ACK");
      Check(lane.tx.written() == lane.rx.received(), "a connection received other than what was written");
    }
    for (Flow& flow : flows_) {
      while (flow.rx.readable_bytes() > 0) Consume(flow, 0);
      Check(flow.rx.next_seq() == flow.next_seq && flow.pending.empty(), "a DATA frame never arrived");
      Check(flow.rx.consumed_bytes() == flow.sent_bytes, "the bytes read are not the bytes sent");
      Check(flow.rx.IsFinished() && flow.rx.final_seq() == flow.next_seq, "a flow did not finish");
    }
    CheckInvariants();
    Check(in_flight_frames_ == 0 && in_flight_bytes_ == 0, "DATA still in flight after the drain");
  }

 private:
  static uint32_t DataSize(uint8_t b) {
    if (b < 192) return 1u + b;
    return std::min<uint32_t>((b - 191u) * 256u, wire::kMaxPayload);
  }

  // A lane the sender believes up, from `choice` on; nullptr if none.
  Lane* SenderLane(uint8_t choice) {
    for (size_t i = 0; i < lanes_.size(); ++i) {
      Lane& lane = lanes_[(choice + i) % lanes_.size()];
      if (lane.state != LaneState::kLost) return &lane;
    }
    return nullptr;
  }

  void Account(std::string_view frame, int sign) {
    if (TypeOf(frame) != wire::FrameType::kData) return;
    in_flight_frames_ += sign;
    in_flight_bytes_ += sign * static_cast<int64_t>(PayloadSize(frame));
  }

  void WriteTo(Lane& lane, std::string frame) {
    Account(frame, +1);
    if (IsCountedFrame(frame)) {
      lane.unacked_sizes.push_back(frame.size());
      lane.unacked_bytes += frame.size();
    }
    lane.channel.push_back(frame);
    lane.tx.OnWritten(std::move(frame));
  }

  // Write: the sender writes a frame to a lane it believes up, or holds it
  // (as the tunnel queues it) when there is none.
  void Write(uint8_t choice, std::string frame) {
    if (Lane* lane = SenderLane(choice)) {
      WriteTo(*lane, std::move(frame));
    } else if (IsCountedFrame(frame)) {
      Account(frame, +1);
      held_.push_back(std::move(frame));
    }
  }

  void SendData(Flow& flow, uint8_t lane, uint8_t size_byte) {
    if (flow.fin_sent || flow.next_seq >= flow.seq_limit || flow.sent_bytes >= flow.byte_limit) return;
    // As the gateway reads from the host: at most the credit it has.
    const uint32_t size = static_cast<uint32_t>(std::min<uint64_t>(DataSize(size_byte), flow.byte_limit - flow.sent_bytes));
    const std::string payload = StreamBytes(flow.id, flow.sent_bytes, size);
    flow.frames.emplace_back(flow.sent_bytes, size);
    Write(lane, Encoded(wire::Data{.flow_id = flow.id, .seq = flow.next_seq, .payload = payload}));
    ++flow.next_seq;
    flow.sent_bytes += size;
  }

  void SendFin(Flow& flow, uint8_t lane) {
    if (flow.fin_sent) return;
    flow.fin_sent = true;
    Write(lane, Encoded(wire::Fin{.flow_id = flow.id, .final_seq = flow.next_seq}));
  }

  Flow& FlowById(uint32_t id) {
    Check(id % 2 == 1 && (id - 1) / 2 < flows_.size(), "a frame for a flow never opened");
    return flows_[(id - 1) / 2];
  }

  void Deliver(Lane& lane, size_t frames) {
    if (lane.state != LaneState::kUp) return;  // the receiver reads no more
    for (; frames > 0 && !lane.channel.empty(); --frames) {
      std::string frame = std::move(lane.channel.front());
      lane.channel.pop_front();
      Account(frame, -1);
      Receive(lane, std::move(frame));
    }
  }

  void Receive(Lane& lane, std::string bytes) {
    wire::Frame frame;
    const DecodeError error = ParseFrame(bytes, wire::Role::kAcceptor, &frame);
    Check(error == DecodeError::kNone, "a frame on a lane does not parse", DecodeErrorName(error));
    if (IsCountedFrame(bytes)) lane.rx.OnReceived();
    if (const auto* data = std::get_if<wire::Data>(&frame)) {
      Flow& flow = FlowById(data->flow_id);
      const uint64_t seq = data->seq;
      Check(seq < flow.next_seq, "DATA with a seq never sent");
      std::string payload(data->payload);
      const Status status =
          seq % 2 ? flow.rx.OnData(seq, payload) : flow.rx.OnDataOwned(seq, std::move(payload));
      // A duplicate here is a frame resent although the receiver had it.
      Check(status == Status::kOk, "a frame a lane delivered was refused", ReassemblyStatusName(status));
      flow.pending.insert(seq);
      flow.pending.erase(flow.pending.begin(), flow.pending.lower_bound(flow.rx.next_seq()));
    } else if (const auto* fin = std::get_if<wire::Fin>(&frame)) {
      Flow& flow = FlowById(fin->flow_id);
      Check(fin->final_seq == flow.next_seq, "FIN with another final seq");
      const Status status = flow.rx.OnFin(fin->final_seq);
      Check(status == Status::kOk, "a FIN a lane delivered was refused", ReassemblyStatusName(status));
    } else {
      Check(std::holds_alternative<wire::Ping>(frame), "a frame the model never sends");
    }
    if (prompt_acks_ && lane.rx.AckDue()) SendAck(lane, LaneLedger::kAckEveryFrames);
  }

  // SendAck: the receiver acknowledges what it received, if `at_least`
  // frames are new. With prompt ACKs the sender has it at once.
  void SendAck(Lane& lane, uint64_t at_least) {
    if (lane.state != LaneState::kUp || !lane.rx.AckDue(at_least)) return;
    lane.acks.push_back(Encoded(wire::Ack{.received = lane.rx.TakeAck()}));
    if (prompt_acks_) DeliverAcks(lane, lane.acks.size());
  }

  void DeliverAcks(Lane& lane, size_t count) {
    if (lane.state == LaneState::kLost) return;  // gone with the connection
    for (; count > 0 && !lane.acks.empty(); --count) {
      wire::Frame frame;
      Check(ParseFrame(lane.acks.front(), wire::Role::kDialer, &frame) == DecodeError::kNone,
            "an ACK does not parse");
      lane.acks.pop_front();
      const uint64_t received = std::get<wire::Ack>(frame).received;
      const uint64_t before = lane.tx.acked();
      const AckStatus status = lane.tx.OnAck(received);
      Check(status == AckStatus::kOk, "a true ACK was refused", AckStatusName(status));
      Check(lane.tx.acked() == received, "an ACK did not move the count to its value");
      for (uint64_t i = before; i < received; ++i) {
        lane.unacked_bytes -= lane.unacked_sizes.front();
        lane.unacked_sizes.pop_front();
      }
    }
  }

  // StopReading: the connection is lost on the receiver's side. Its count
  // is final from now on.
  void StopReading(Lane& lane) {
    if (lane.state != LaneState::kUp) return;
    lane.state = LaneState::kReaderStopped;
    lane.final_count = lane.rx.received();
  }

  // LearnLoss: the sender gets LANE_LOST and resends exactly what the
  // receiver never read, on a lane it believes up (`target` picks).
  void LearnLoss(Lane& lane, uint8_t target) {
    if (lane.state != LaneState::kReaderStopped) return;
    std::vector<std::string> want;
    for (std::string& frame : lane.channel) {
      Account(frame, -1);
      if (IsCountedFrame(frame)) want.push_back(std::move(frame));
    }
    lane.channel.clear();
    lane.acks.clear();
    std::vector<std::string> resend;
    const AckStatus status = lane.tx.TakeUnacked(lane.final_count, &resend);
    Check(status == AckStatus::kOk, "LANE_LOST's true count was refused", AckStatusName(status));
    Check(resend == want, "TakeUnacked is not the frames the receiver never read, in order");
    Check(lane.tx.kept_frames() == 0 && lane.tx.kept_bytes() == 0 && lane.tx.acked() == lane.tx.written(),
          "TakeUnacked left the send side not empty");
    lane.unacked_sizes.clear();
    lane.unacked_bytes = 0;
    lane.state = LaneState::kLost;
    for (std::string& frame : resend) Write(target, std::move(frame));
  }

  // Redial: a fresh connection for a lost lane; what was held goes on it.
  void Redial(Lane& lane) {
    if (lane.state != LaneState::kLost) return;
    lane = Lane{};
    std::vector<std::string> held = std::move(held_);
    held_.clear();
    for (std::string& frame : held) {
      Account(frame, -1);
      WriteTo(lane, std::move(frame));
    }
  }

  // ProbeBadCounts: ACK and LANE_LOST counts beyond what was written or
  // below an earlier ACK are refused and change nothing.
  void ProbeBadCounts(Lane& lane, uint8_t delta) {
    LaneLedger& tx = lane.tx;
    const LedgerState before(tx);
    std::vector<std::string> out = {"sentinel"};
    Check(tx.OnAck(tx.written() + 1 + delta) == AckStatus::kBeyondSent, "an ACK beyond the frames written passed");
    Check(tx.TakeUnacked(tx.written() + 1 + delta, &out) == AckStatus::kBeyondSent,
          "a LANE_LOST beyond the frames written passed");
    if (tx.acked() > 0) {
      const uint64_t back = tx.acked() - 1 - delta % tx.acked();
      Check(tx.OnAck(back) == AckStatus::kBackwards, "an ACK going backwards passed");
      Check(tx.TakeUnacked(back, &out) == AckStatus::kBackwards, "a LANE_LOST going backwards passed");
    }
    Check(LedgerState(tx) == before, "a refused count changed the ledger");
    Check(out.size() == 1, "a refused TakeUnacked appended frames");
  }

  // The accepted seqs of a flow: below next_seq, or pending.
  std::optional<uint64_t> PickAccepted(const Flow& flow, uint8_t pick, bool pending_only) {
    if ((pick & 1 || pending_only) && !flow.pending.empty()) {
      return *std::next(flow.pending.begin(), static_cast<ptrdiff_t>((pick >> 1) % flow.pending.size()));
    }
    if (pending_only || flow.rx.next_seq() == 0) return std::nullopt;
    return (pick >> 1) % flow.rx.next_seq();
  }

  std::string PayloadOf(const Flow& flow, uint64_t seq) {
    const auto [offset, size] = flow.frames[seq];
    return StreamBytes(flow.id, offset, size);
  }

  // Offer hands a frame to the reassembly outside the lanes (a stray
  // resend), by copy or by move as `pick` says, and checks that it is
  // refused with `want` and changes nothing.
  void Offer(Flow& flow, uint64_t seq, const std::string& payload, uint8_t pick, Status want) {
    const Snapshot before(flow.rx);
    Status status;
    if (pick & 0x80) {
      std::string owned = payload;
      status = flow.rx.OnDataOwned(seq, std::move(owned));
      Check(owned == payload, "a refused OnDataOwned took the string");
    } else {
      status = flow.rx.OnData(seq, payload);
    }
    Check(status == want, "a duplicate got another status", ReassemblyStatusName(status));
    Check(Snapshot(flow.rx) == before, "a refused duplicate changed the buffer");
  }

  void InjectDuplicate(Flow& flow, uint8_t pick) {
    const std::optional<uint64_t> seq = PickAccepted(flow, pick, false);
    if (!seq) return;
    Offer(flow, *seq, PayloadOf(flow, *seq), pick, Status::kDuplicate);
  }

  void InjectInconsistent(Flow& flow, uint8_t pick, uint8_t tweak) {
    const std::optional<uint64_t> seq = PickAccepted(flow, pick, tweak & 1);
    if (!seq) return;
    std::string payload = PayloadOf(flow, *seq);
    switch ((tweak >> 1) % 3) {
      case 0: payload[(tweak >> 3) % payload.size()] ^= static_cast<char>(1 + (pick & 0x7f)); break;
      case 1:
        if (payload.size() < wire::kMaxPayload) {
          payload.push_back('+');
        } else {
          payload.pop_back();
        }
        break;
      case 2:
        if (payload.size() > 1) {
          payload.pop_back();
        } else {
          payload[0] ^= 1;
        }
        break;
    }
    // A pending frame can be compared; one below next_seq may be gone.
    const Status want = *seq >= flow.rx.next_seq() ? Status::kInconsistentDuplicate : Status::kDuplicate;
    Offer(flow, *seq, payload, pick, want);
  }

  void CheckRead(const Flow& flow, uint64_t offset, std::string_view bytes) {
    const std::string want = StreamBytes(flow.id, offset, bytes.size());
    if (bytes == want) return;
    const size_t at = static_cast<size_t>(std::mismatch(want.begin(), want.end(), bytes.begin()).first - want.begin());
    Fail("a flow read bytes other than those sent", "at stream offset " + std::to_string(offset + at));
  }

  // Consume: the host reads, one of three ways (`how`), then the receiver
  // grants what opened.
  void Consume(Flow& flow, uint8_t how) {
    ReassemblyBuffer& rx = flow.rx;
    const uint64_t offset = rx.consumed_bytes();
    const size_t amount = (how >> 2) == 0 ? rx.readable_bytes() : (how >> 2) * size_t{509};
    switch (how & 3) {
      case 0:
      case 1: {
        std::string out(std::min(amount, rx.readable_bytes()), '\0');
        Check(rx.Read(out) == out.size(), "Read returned less than readable");
        CheckRead(flow, offset, out);
        break;
      }
      case 2: {
        std::vector<std::string> chunks;
        const size_t taken = rx.TakeReady(&chunks, amount);
        uint64_t at = offset;
        for (const std::string& chunk : chunks) {
          CheckRead(flow, at, chunk);
          at += chunk.size();
        }
        Check(at - offset == taken, "TakeReady's count is not its chunks'");
        break;
      }
      case 3: {
        std::array<std::string_view, 4> regions;
        const size_t n = rx.GetReadableRegions(regions);
        size_t left = amount;
        uint64_t at = offset;
        for (size_t i = 0; i < n && left > 0; ++i) {
          const std::string_view part = regions[i].substr(0, left);
          CheckRead(flow, at, part);
          at += part.size();
          left -= part.size();
        }
        rx.MarkConsumed(at - offset);
        break;
      }
    }
    Check(rx.consumed_bytes() >= offset, "consumed bytes went down");
    uint64_t bytes, seq;
    if (rx.MaybeGrantCredit(&bytes, &seq)) {
      Check(bytes >= flow.grant_bytes && seq >= flow.grant_seq, "a credit grant shrank a limit");
      flow.grant_bytes = bytes;
      flow.grant_seq = seq;
    }
  }

  void DeliverCredit(Flow& flow) {
    // Limits only grow; a CREDIT overtaken by a later one is ignored.
    flow.byte_limit = std::max(flow.byte_limit, flow.grant_bytes);
    flow.seq_limit = std::max(flow.seq_limit, flow.grant_seq);
  }

  void CheckInvariants() {
    int64_t unreceived_frames = 0, unreceived_bytes = 0;
    uint64_t frame_bound = 0, byte_bound = 0;
    for (const Flow& flow : flows_) {
      const ReassemblyBuffer& rx = flow.rx;
      const ReassemblyBuffer::Limits& limits = rx.limits();
      Check(rx.buffered_bytes() <= limits.window_bytes && rx.pending_frames() < limits.window_frames,
            "reassembly: over its window");
      Check(rx.received_bytes() == rx.consumed_bytes() + rx.buffered_bytes(), "reassembly: bytes unaccounted for");
      Check(rx.pending_frames() == flow.pending.size(), "reassembly: pending frames are not the model's");
      Check(flow.byte_limit <= rx.advertised_byte_limit() && flow.seq_limit <= rx.advertised_seq_limit(),
            "the sender has more credit than was granted");
      unreceived_frames += static_cast<int64_t>(flow.next_seq - rx.next_seq() - rx.pending_frames());
      unreceived_bytes += static_cast<int64_t>(flow.sent_bytes - rx.received_bytes());
      // DATA not received is within the credit; so is its FIN, one frame.
      frame_bound += rx.advertised_seq_limit() - rx.next_seq() - rx.pending_frames() + 1;
      byte_bound += rx.credit_ahead();
    }
    // No frame lost: each DATA frame sent and not received is in exactly
    // one place, a channel or the held frames.
    Check(in_flight_frames_ == unreceived_frames && in_flight_bytes_ == unreceived_bytes,
          "a DATA frame was lost or duplicated in flight");
    size_t kept_frames = 0, kept_bytes = 0;
    for (const Lane& lane : lanes_) {
      const LaneLedger& tx = lane.tx;
      Check(tx.kept_frames() == tx.written() - tx.acked(), "a ledger keeps other than written - acked");
      Check(tx.kept_frames() == lane.unacked_sizes.size() && tx.kept_bytes() == lane.unacked_bytes,
            "a ledger keeps other than the frames not acknowledged");
      Check(lane.rx.received() <= tx.written(), "received more than was written");
      kept_frames += tx.kept_frames();
      kept_bytes += tx.kept_bytes();
      // Received and not acknowledged: fewer than kAckEveryFrames frames.
      frame_bound += LaneLedger::kAckEveryFrames - 1;
      byte_bound += (LaneLedger::kAckEveryFrames - 1) * wire::kMaxPayload;
    }
    if (prompt_acks_) {
      Check(kept_frames <= frame_bound, "the ledgers keep more frames than the credit allows");
      Check(kept_bytes <= byte_bound + kept_frames * wire::kHeaderSize,
            "the ledgers keep more bytes than the credit allows");
    }
  }

  Input* in_;
  std::vector<Lane> lanes_;
  std::deque<Flow> flows_;  // a ReassemblyBuffer does not move
  bool prompt_acks_ = false;
  // Frames resent while the sender believed no lane up.
  std::vector<std::string> held_;
  // DATA in channels and held: frames and payload bytes.
  int64_t in_flight_frames_ = 0;
  int64_t in_flight_bytes_ = 0;
};

}  // namespace
}  // namespace braid::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::proxy;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Input in(input);
  Model model(&in);
  if (size < kShortInput) {
    for (size_t i = 0; i < kGeneratedOps; ++i) model.Step();
  } else {
    while (!in.exhausted()) model.Step();
  }
  model.Drain();
  return 0;
}
