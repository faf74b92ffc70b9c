#include "proxy/stripe/stripe_scheduler.h"

#include <algorithm>

#include "braid/wire.h"

namespace braid::proxy {
namespace {

// The bytes a frame of payload_len takes in a lane's queue.
uint32_t FrameBytes(uint32_t payload_len) { return payload_len + static_cast<uint32_t>(wire::kHeaderSize); }

// A lane takes a frame if it is up and either idle or has room for it. An
// idle lane always takes one, whatever its watermark, so that a frame larger
// than a small watermark can still go out.
bool HasRoom(const LaneLoad& lane, uint32_t payload_len) {
  if (!lane.usable) return false;
  if (lane.queued_bytes == 0) return true;
  return lane.capacity_bytes > lane.queued_bytes &&
         lane.capacity_bytes - lane.queued_bytes >= FrameBytes(payload_len);
}

// How many frames of payload_len the lane takes, by HasRoom's rule.
uint64_t Room(const LaneLoad& lane, uint32_t payload_len) {
  if (!lane.usable) return 0;
  const uint64_t free_bytes = lane.capacity_bytes > lane.queued_bytes ? lane.capacity_bytes - lane.queued_bytes : 0;
  const uint64_t frames = free_bytes / FrameBytes(payload_len);
  return lane.queued_bytes == 0 ? std::max<uint64_t>(frames, 1) : frames;
}

int64_t Weight(const LaneLoad& lane) {
  const int64_t free_bytes =
      lane.capacity_bytes > lane.queued_bytes ? lane.capacity_bytes - lane.queued_bytes : 0;
  return std::max<int64_t>(free_bytes, 1);
}

}  // namespace

StripeScheduler::StripeScheduler(uint16_t home_lane, uint64_t initial_byte_limit,
                                 uint64_t initial_seq_limit, Options options)
    : options_(options),
      byte_limit_(initial_byte_limit),
      seq_limit_(initial_seq_limit),
      home_lane_(home_lane) {
  if (options_.half_life <= std::chrono::microseconds::zero()) {
    options_.half_life = std::chrono::microseconds(1);
  }
}

void StripeScheduler::OnCredit(uint64_t byte_limit, uint64_t seq_limit) {
  byte_limit_ = std::max(byte_limit_, byte_limit);
  seq_limit_ = std::max(seq_limit_, seq_limit);
}

uint32_t StripeScheduler::SendableBytes() const {
  if (finished_ || next_seq_ >= seq_limit_ || bytes_sent_ >= byte_limit_) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(byte_limit_ - bytes_sent_, wire::kMaxPayload));
}

void StripeScheduler::Decay(Clock::time_point now) {
  if (now <= decayed_at_) return;
  const auto halvings = (now - decayed_at_) / options_.half_life;
  if (halvings <= 0) return;
  recent_bytes_ = halvings >= 64 ? 0 : recent_bytes_ >> halvings;
  decayed_at_ += halvings * options_.half_life;
}

bool StripeScheduler::IsHot(Clock::time_point now) {
  Decay(now);
  return recent_bytes_ >= options_.hot_bytes;
}

int StripeScheduler::PickWeighted(uint32_t payload_len, std::span<const LaneLoad> lanes) {
  if (current_weight_.size() != lanes.size()) current_weight_.resize(lanes.size(), 0);
  int best = -1;
  int64_t total = 0;
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (!HasRoom(lanes[i], payload_len)) continue;
    const int64_t w = Weight(lanes[i]);
    total += w;
    current_weight_[i] += w;
    if (best < 0 || current_weight_[i] > current_weight_[best]) best = static_cast<int>(i);
  }
  if (best >= 0) current_weight_[best] -= total;
  return best;
}

uint32_t StripeScheduler::FramesThatFit(uint32_t payload_len, std::span<const LaneLoad> lanes,
                                        uint32_t max_frames) {
  if (payload_len == 0) return 0;
  uint64_t fit = 0;
  for (const LaneLoad& lane : lanes) {
    fit += Room(lane, payload_len);
    if (fit >= max_frames) return max_frames;
  }
  return static_cast<uint32_t>(fit);
}

int StripeScheduler::PickOverflow(std::span<const LaneLoad> lanes) const {
  int best = -1;
  int64_t best_free = 0;
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (!lanes[i].usable) continue;
    const int64_t free_bytes = int64_t{lanes[i].capacity_bytes} - int64_t{lanes[i].queued_bytes};
    if (best < 0 || free_bytes > best_free) {
      best = static_cast<int>(i);
      best_free = free_bytes;
    }
  }
  return best < 0 ? home_lane_ : best;
}

StripeScheduler::Pick StripeScheduler::PickLane(uint32_t payload_len,
                                                std::span<const LaneLoad> lanes,
                                                Clock::time_point now, WhenFull when_full) {
  Pick pick;
  if (finished_) {
    pick.status = PickStatus::kFinished;
    return pick;
  }
  if (payload_len == 0 || payload_len > wire::kMaxPayload) {
    pick.status = PickStatus::kBadSize;
    return pick;
  }
  if (next_seq_ >= seq_limit_ || bytes_sent_ > byte_limit_ ||
      payload_len > byte_limit_ - bytes_sent_) {
    pick.status = PickStatus::kBlockedOnCredit;
    return pick;
  }
  Decay(now);
  const bool hot = recent_bytes_ + payload_len >= options_.hot_bytes;
  const bool home_has_room = home_lane_ < lanes.size() && HasRoom(lanes[home_lane_], payload_len);
  int lane;
  if ((!hot || payload_len < options_.small_frame_bytes) && home_has_room) {
    lane = home_lane_;
  } else {
    lane = PickWeighted(payload_len, lanes);
    if (lane < 0) {
      if (when_full == WhenFull::kBlock) {
        pick.status = PickStatus::kBlockedOnLanes;
        return pick;
      }
      lane = PickOverflow(lanes);
      pick.overflow = true;
    }
    pick.striped = true;
  }
  pick.lane = static_cast<uint16_t>(lane);
  pick.seq = next_seq_++;
  bytes_sent_ += payload_len;
  recent_bytes_ += payload_len;
  return pick;
}

uint64_t StripeScheduler::Finish() {
  finished_ = true;
  return next_seq_;
}

std::string_view PickStatusName(StripeScheduler::PickStatus status) {
  using PickStatus = StripeScheduler::PickStatus;
  switch (status) {
    case PickStatus::kOk: return "ok";
    case PickStatus::kBlockedOnCredit: return "blocked on credit";
    case PickStatus::kBlockedOnLanes: return "blocked on lanes";
    case PickStatus::kBadSize: return "bad payload size";
    case PickStatus::kFinished: return "finished";
  }
  return "unknown";
}

}  // namespace braid::proxy
