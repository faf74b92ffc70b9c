#include "proxy/stripe/lane_queue.h"

#include <utility>

#include "proxy/wire/big_endian.h"

namespace braid::proxy {
namespace {

// Frames of the tunnel and its lanes share this key; flow ids are 32 bits.
constexpr uint64_t kTunnelKey = uint64_t{1} << 32;

}  // namespace

uint64_t LaneQueue::KeyOf(const std::string& frame) {
  if (frame.size() < wire::kHeaderSize) return kTunnelKey;  // never pushed by the lane; kept in order
  switch (static_cast<wire::FrameType>(frame[0])) {
    case wire::FrameType::kOpen:
    case wire::FrameType::kOpenOk:
    case wire::FrameType::kOpenRefused:
    case wire::FrameType::kData:
    case wire::FrameType::kFin:
    case wire::FrameType::kRst:
    case wire::FrameType::kCredit:
      return be::Load32(frame.data() + 4);
    default:
      // LANE_HELLO, PING, PONG, and GOAWAY (whose flow id field is
      // last_flow_id, not a flow).
      return kTunnelKey;
  }
}

void LaneQueue::Push(std::string frame) {
  const uint64_t key = KeyOf(frame);
  auto [it, inserted] = queues_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<FlowQueue>();
    FlowQueue& q = *it->second;
    q.key = key;
    q.deficit = kQuantum;
    q.is_new = true;
    new_.push_back(&q);
  }
  ++frames_;
  bytes_ += frame.size();
  it->second->frames.push_back(std::move(frame));
}

std::string LaneQueue::Pop() {
  for (;;) {
    std::deque<FlowQueue*>& list = new_.empty() ? old_ : new_;
    FlowQueue* q = list.front();
    if (q->frames.empty()) {
      // An emptied queue kept on the old list for its turn (below): it had
      // nothing more to send, so it goes.
      list.pop_front();
      queues_.erase(q->key);
      continue;
    }
    if (q->deficit <= 0) {
      // Turn used up: the next turn, a quantum later, at the back.
      q->deficit += kQuantum;
      q->is_new = false;
      list.pop_front();
      old_.push_back(q);
      continue;
    }
    std::string frame = std::move(q->frames.front());
    q->frames.pop_front();
    q->deficit -= static_cast<int64_t>(frame.size());
    --frames_;
    bytes_ -= frame.size();
    if (q->frames.empty()) {
      list.pop_front();
      if (q->is_new && !old_.empty()) {
        // A new queue that empties waits on the old list for one turn, so
        // that a frame arriving just after does not make it new again and
        // keep it ahead of the backlogged flows (RFC 8290 §4.2).
        q->is_new = false;
        old_.push_back(q);
      } else {
        queues_.erase(q->key);
      }
    }
    return frame;
  }
}

}  // namespace braid::proxy
