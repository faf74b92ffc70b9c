#include "bench/wan/link_model.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>

namespace braid::bench {
namespace {

constexpr size_t kInitialRing = 256;
constexpr double kNsPerSecond = 1e9;

}  // namespace

absl::Status LinkConfig::Check() const {
  if (delay.count() < 0) return absl::InvalidArgumentError("delay must not be negative");
  if (!(loss >= 0 && loss <= 1)) {
    return absl::InvalidArgumentError("loss must be a probability in [0, 1], not " + std::to_string(loss));
  }
  if (per_conn_bytes_per_s > 0 && per_conn_burst_bytes == 0) {
    return absl::InvalidArgumentError("a per-connection policer needs a burst of at least 1 byte");
  }
  return absl::OkStatus();
}

LinkModel::LinkModel(const LinkConfig& config) : config_(config), rng_(config.seed), ring_(kInitialRing) {
  assert(config.Check().ok());
  if (config.per_conn_bytes_per_s > 0) {
    policer_.emplace(config.per_conn_bytes_per_s, config.per_conn_burst_bytes);
  }
}

uint64_t LinkModel::BacklogBytes(std::chrono::nanoseconds now) const {
  if (config_.rate_bytes_per_s == 0 || link_free_ <= now) return 0;
  const double busy_ns = static_cast<double>((link_free_ - now).count());
  return static_cast<uint64_t>(std::ceil(busy_ns * static_cast<double>(config_.rate_bytes_per_s) / kNsPerSecond));
}

std::chrono::nanoseconds LinkModel::Serialize(uint64_t size, std::chrono::nanoseconds now) {
  if (config_.rate_bytes_per_s == 0) return now;
  // Rounded up, so that a link never carries more than its rate. size is
  // at most 64 KiB, so size * 1e9 fits easily in 64 bits.
  const uint64_t rate = config_.rate_bytes_per_s;
  const auto transmit = std::chrono::nanoseconds((size * 1'000'000'000ULL + rate - 1) / rate);
  link_free_ = std::max(link_free_, now) + transmit;
  return link_free_;
}

bool LinkModel::Lost() {
  if (config_.loss <= 0) return false;
  // 53 random bits as a double in [0, 1): the same on every platform for
  // the same seed, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return u < config_.loss;
}

LinkModel::Verdict LinkModel::Offer(uint64_t tag, std::span<const uint8_t> packet, std::chrono::nanoseconds now) {
  const uint64_t size = packet.size();
  ++counters_.offered_packets;
  counters_.offered_bytes += size;
  if (policer_) {
    switch (policer_->Check(packet, now)) {
      case ConnectionPolicer::Verdict::kDrop:
        ++counters_.dropped_policer;
        return Verdict::kDroppedPolicer;
      case ConnectionPolicer::Verdict::kUnpoliced:
        ++counters_.unpoliced;
        break;
      case ConnectionPolicer::Verdict::kPass:
        break;
    }
  }
  const uint64_t backlog = BacklogBytes(now);
  if (backlog > 0 && backlog + size > config_.queue_bytes) {
    ++counters_.dropped_queue_full;
    return Verdict::kDroppedQueueFull;
  }
  const std::chrono::nanoseconds left = Serialize(size, now);
  if (Lost()) {
    ++counters_.dropped_loss;
    return Verdict::kDroppedLoss;
  }
  Push(InFlight{.tag = tag, .release = left + config_.delay, .size = static_cast<uint32_t>(size)});
  return Verdict::kQueued;
}

void LinkModel::Push(const InFlight& p) {
  if (count_ == ring_.size()) {
    // Grow by doubling, oldest first at index 0. Happens only when more
    // packets are in flight than ever before.
    std::vector<InFlight> bigger(ring_.size() * 2);
    for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    head_ = 0;
  }
  ring_[(head_ + count_) & (ring_.size() - 1)] = p;
  ++count_;
  in_flight_bytes_ += p.size;
}

std::optional<std::chrono::nanoseconds> LinkModel::NextRelease() const {
  if (count_ == 0) return std::nullopt;
  return ring_[head_].release;
}

std::optional<LinkModel::Released> LinkModel::PopReleased(std::chrono::nanoseconds now) {
  if (count_ == 0 || ring_[head_].release > now) return std::nullopt;
  const InFlight p = ring_[head_];
  head_ = (head_ + 1) & (ring_.size() - 1);
  --count_;
  in_flight_bytes_ -= p.size;
  ++counters_.forwarded_packets;
  counters_.forwarded_bytes += p.size;
  return Released{.tag = p.tag, .size = p.size};
}

}  // namespace braid::bench
