// Tunnel: lane loss and recovery, kill and retire (docs/protocol.md, "Lane
// loss"; the overview is at the top of tunnel.h). Every function here runs
// on the control worker.
#include <algorithm>
#include <utility>

#include "proxy/tunnel/tunnel.h"
#include "proxy/wire/frame_codec.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {

Tunnel::Recovery* Tunnel::FindRecovery(uint16_t index, uint16_t generation) {
  for (Recovery& r : recoveries_) {
    if (r.index == index && r.generation == generation) return &r;
  }
  return nullptr;
}

const Tunnel::Recovery* Tunnel::ParkedBy(uint16_t index) const {
  for (const Recovery& r : recoveries_) {
    if (r.index == index) return &r;
  }
  return nullptr;
}

Tunnel::Recovery* Tunnel::ParkedBy(uint16_t index) {
  return const_cast<Recovery*>(std::as_const(*this).ParkedBy(index));
}

Tunnel::Recovery& Tunnel::Detach(uint16_t index) {
  LaneSlot& slot = lanes_[index];
  Recovery& recovery = recoveries_.emplace_back();
  recovery.index = index;
  recovery.generation = slot.generation;
  recovery.lane = std::move(slot.lane);
  slot.lane = nullptr;
  // Flow frames queued for the connection and never handed to it come
  // after its own (resent first); the tunnel's own frames meant something
  // only on it.
  for (std::string& frame : slot.pending) {
    if (IsCountedFrame(frame)) recovery.held.push_back(std::move(frame));
  }
  slot.pending.clear();
  slot.queued = 0;
  PublishLoad(index);
  lanes_up_.Sub();
  --lanes_live_;
  RefreshUsable(index);
  return recovery;
}

void Tunnel::LoseLane(uint16_t index, const std::string& reason) {
  lanes_lost_.Add();
  Recovery& recovery = Detach(index);
  spdlog::warn("tunnel {} to {}: lane {} lost ({}); recovering its frames on the other lanes", id_, peer_, index,
               reason);
  CollectRemains(recovery, reason);
  if (role_ == wire::Role::kDialer && env_.dial_lane && StartRedial(index)) {
    env_.dial_lane(shared_from_this(), index, std::nullopt);
  }
  if (lanes_live_ == 0) ArmGraceTimer();
  WakeLaneWaiters();  // flows waiting on the lost lane may fit elsewhere
}

void Tunnel::CollectRemains(Recovery& recovery, const std::string& reason) {
  recovery.draining = false;
  // The lane stops reading before it is asked for its remains, so the count
  // of frames it received (which the peer resends from) is final, and every
  // one of them reaches OnLaneFrames before the remains arrive (the lane's
  // worker posts to this one in order).
  asio::post(recovery.lane->executor(), [lane = recovery.lane, self = weak_from_this(),
                                         exec = env_.control->get_executor(), index = recovery.index,
                                         generation = recovery.generation, reason] {
    lane->Kill(reason);
    asio::post(exec, [self, index, generation, remains = lane->TakeRemains()]() mutable {
      if (auto t = self.lock()) t->OnLaneRemains(index, generation, std::move(remains));
    });
  });
  WatchRecovery(recovery.index, recovery.generation);
}

void Tunnel::OnLaneRemains(uint16_t index, uint16_t generation, LaneRemains remains) {
  if (closed_) return;
  Recovery* recovery = FindRecovery(index, generation);
  if (recovery == nullptr) return;
  recovery->lane.reset();
  recovery->remains = std::move(remains);
  SendLaneLosts();
  CompleteRecoveries();
}

void Tunnel::SendLaneLosts() {
  for (Recovery& r : recoveries_) {
    if (r.lost_sent || !r.remains) continue;
    // Any lane up will do: LANE_LOST names the lane it is about.
    auto up = std::find_if(lanes_.begin(), lanes_.end(), [](const LaneSlot& s) { return s.lane != nullptr; });
    if (up == lanes_.end()) return;  // sent when a lane comes up
    std::string out;
    if (Encode(wire::LaneLost{r.index, r.generation, r.remains->ledger.received()}, &out)) {
      EnqueueUp(static_cast<size_t>(up - lanes_.begin()), std::move(out));
    }
    r.lost_sent = true;
  }
}

void Tunnel::HandleLaneLost(const wire::LaneLost& lost) {
  const std::string which =
      "LANE_LOST for lane " + std::to_string(lost.lane_index) + " connection " + std::to_string(lost.generation);
  if (lost.lane_index >= lanes_.size()) {
    return ProtocolError(wire::GoawayReason::kProtocolError, which + ": the tunnel has " +
                                                                 std::to_string(lanes_.size()) + " lanes");
  }
  if (lanes_[lost.lane_index].WasRecovered(lost.generation)) {
    return ProtocolError(wire::GoawayReason::kProtocolError, which + ": sent twice");
  }
  Recovery* recovery = FindRecovery(lost.lane_index, lost.generation);
  if (recovery == nullptr) {
    const LaneSlot& slot = lanes_[lost.lane_index];
    if (slot.lane && slot.generation == lost.generation) {
      // The peer lost a connection we still see up: take it down too.
      LoseLane(lost.lane_index, "the peer lost it");
      recovery = FindRecovery(lost.lane_index, lost.generation);
    } else {
      // A connection this side never attached (a dial the dialer gave up
      // after the acceptor took it, or one not bound yet): nothing was sent
      // on it from here, and it may not be attached any more.
      if (lost.received != 0) {
        return ProtocolError(wire::GoawayReason::kProtocolError, which + ": acknowledges " +
                                                                     std::to_string(lost.received) +
                                                                     " frames never sent");
      }
      lanes_[lost.lane_index].MarkRecovered(lost.generation);
      std::string out;
      auto up = std::find_if(lanes_.begin(), lanes_.end(), [](const LaneSlot& s) { return s.lane != nullptr; });
      if (up != lanes_.end() && Encode(wire::LaneLost{lost.lane_index, lost.generation, 0}, &out)) {
        EnqueueUp(static_cast<size_t>(up - lanes_.begin()), std::move(out));
      }
      return;
    }
  }
  if (recovery->peer_received) return ProtocolError(wire::GoawayReason::kProtocolError, which + ": sent twice");
  // A connection we retired, still draining, that the peer lost: it will
  // not drain any more.
  if (recovery->draining) CollectRemains(*recovery, "the peer lost it");
  recovery->peer_received = lost.received;
  CompleteRecoveries();
}

void Tunnel::CompleteRecoveries() {
  // In order of loss: a lane lost twice is recovered oldest first, and one
  // that completes may free a lane for the next.
  for (size_t i = 0; i < recoveries_.size() && !closed_;) {
    if (!CompleteRecovery(recoveries_[i])) {
      ++i;
      continue;
    }
    const uint16_t index = recoveries_[i].index;
    recoveries_.erase(recoveries_.begin() + static_cast<ptrdiff_t>(i));
    RefreshUsable(index);  // usable again if up and not lost twice
    WakeLaneWaiters();
    i = 0;
  }
}

bool Tunnel::CompleteRecovery(Recovery& r) {
  // Our own LANE_LOST must be on its way first: the peer completes its side
  // only with our count.
  if (!r.remains || !r.peer_received || !r.lost_sent) return false;
  if (ParkedBy(r.index) != &r) return false;  // an older loss of the same lane first
  // A later connection of the same lane that is being recovered too
  // (lost, or retired, before this one was done): these frames go ahead of
  // its held ones and wait with them. Its own frames are DATA only (control
  // frames were held here meanwhile), so nothing is reordered, and a frame
  // resent now on a lane that could fail in its turn would come out behind
  // the control frames that lane holds.
  Recovery* next = nullptr;
  for (Recovery& o : recoveries_) {
    if (&o != &r && o.index == r.index) {
      next = &o;
      break;
    }
  }
  // Else where the frames go: the lane itself if it is up again, else the
  // steady lane with the least queued.
  int target = -1;
  if (next == nullptr && lanes_[r.index].lane) {
    target = r.index;
  } else if (next == nullptr) {
    for (uint16_t i = 0; i < lanes_.size(); ++i) {
      if (Steady(i) && (target < 0 || lanes_[i].queued < lanes_[target].queued)) target = i;
    }
    if (target < 0) return false;  // when a lane comes up
  }
  std::vector<std::string> frames;
  const LaneLedger::AckStatus status = r.remains->ledger.TakeUnacked(*r.peer_received, &frames);
  if (status != LaneLedger::AckStatus::kOk) {
    ProtocolError(wire::GoawayReason::kProtocolError,
                  "LANE_LOST for lane " + std::to_string(r.index) + " connection " + std::to_string(r.generation) +
                      " counts " + std::to_string(*r.peer_received) + " frames received, " +
                      std::to_string(r.remains->ledger.written()) + " were written: " +
                      std::string(AckStatusName(status)));
    return false;
  }
  const size_t resent = frames.size();
  for (std::string& frame : r.remains->unwritten) frames.push_back(std::move(frame));
  for (std::string& frame : r.held) frames.push_back(std::move(frame));
  frames_resent_.Add(resent);
  lanes_[r.index].MarkRecovered(r.generation);
  if (next != nullptr) {
    const size_t moved = frames.size() - resent;
    frames.insert(frames.end(), std::make_move_iterator(next->held.begin()), std::make_move_iterator(next->held.end()));
    next->held = std::move(frames);
    spdlog::info("tunnel {} to {}: lane {} connection {} recovered: {} frames to resend, {} more, wait for connection {}",
                 id_, peer_, r.index, r.generation, resent, moved, next->generation);
    return true;
  }
  const uint16_t to = static_cast<uint16_t>(target);
  for (std::string& frame : frames) EnqueueUp(to, std::move(frame));
  // The lane's flows keep their control frames in order on the new lane.
  if (to != r.index) {
    for (auto& [id, flow] : flows_) {
      if (flow->control_lane() == r.index) flow->set_control_lane(to);
    }
  }
  spdlog::info("tunnel {} to {}: lane {} connection {} recovered: {} frames resent, {} more moved, on lane {}", id_,
               peer_, r.index, r.generation, resent, frames.size() - resent, to);
  return true;
}

void Tunnel::WatchRecovery(uint16_t index, uint16_t generation) {
  // A peer that never answers LANE_LOST while lanes are up would leave the
  // lost lane's flows parked for ever, their control frames held: after
  // twice keepalive_timeout that is a protocol error, which ends the tunnel
  // (with no lane up, lane_loss_grace ends it first).
  const Duration limit = 2 * env_.config->tunnel.keepalive_timeout;
  auto timer = std::make_shared<asio::steady_timer>(*env_.control, limit);
  timer->async_wait([self = weak_from_this(), timer, index, generation, limit](boost::system::error_code ec) {
    auto t = self.lock();
    if (ec || !t || t->closed_ || t->lanes_live_ == 0) return;
    const Recovery* r = t->FindRecovery(index, generation);
    if (r == nullptr || !r->lost_sent || r->peer_received) return;
    t->ProtocolError(wire::GoawayReason::kProtocolError,
                     "no LANE_LOST from the peer for lane " + std::to_string(index) + " connection " +
                         std::to_string(generation) + " within " + std::to_string(limit.count()) + " ms");
  });
}

void Tunnel::ArmGraceTimer() {
  if (closed_) return;
  const uint64_t generation = ++grace_generation_;
  const Duration grace = env_.config->tunnel.lane_loss_grace;
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([self = weak_from_this(), generation, grace](boost::system::error_code ec) {
    auto t = self.lock();
    if (ec || !t || t->closed_ || t->grace_generation_ != generation || t->lanes_live_ > 0) return;
    t->Close(CloseReason::kLanesLost,
             "no lane up for " + std::to_string(grace.count()) + " ms (tunnel.lane_loss_grace)", false);
  });
}

std::string Tunnel::KillLane(uint16_t index, const std::string& why) {
  if (closed_) return "the tunnel is closed";
  if (index >= lanes_.size() || !lanes_[index].lane) return "lane " + std::to_string(index) + " is not up";
  LoseLane(index, why);
  return "";
}

std::string Tunnel::RetireLane(uint16_t index) {
  if (closed_) return "the tunnel is closed";
  if (index >= lanes_.size() || !lanes_[index].lane) return "lane " + std::to_string(index) + " is not up";
  // A lane whose previous connection is still draining or being recovered
  // may be retired again: recoveries of one lane complete in order.
  const uint16_t generation = lanes_[index].generation;
  if (role_ == wire::Role::kAcceptor) {
    // Only the dialer dials: ask it. Its new connection's LANE_HELLO
    // retires this one (ReplaceLane).
    std::string out;
    if (Encode(wire::Rotate{index, generation}, &out)) EnqueueUp(index, std::move(out));
    spdlog::info("tunnel {} to {}: lane {}: asked the peer to replace connection {}", id_, peer_, index, generation);
    return "";
  }
  if (!env_.dial_lane || !StartRedial(index)) return "lane " + std::to_string(index) + " is being dialed";
  spdlog::info("tunnel {} to {}: lane {}: dialing a connection to replace connection {}", id_, peer_, index,
               generation);
  env_.dial_lane(shared_from_this(), index, generation);
  return "";
}

void Tunnel::ReplaceLane(std::shared_ptr<Lane> lane) {
  const uint16_t index = lane->index();
  // Parked from now on: the flows whose control lane this is hold their
  // control frames until the old connection has drained, closed and been
  // recovered (normally nothing is left to resend), then send them on the
  // new one, in order. DATA goes on the new connection at once.
  Recovery& old = Detach(index);
  old.draining = true;
  lanes_retired_.Add();
  spdlog::info("tunnel {} to {}: lane {}: connection {} replaces connection {}, which drains", id_, peer_, index,
               lane->generation(), old.generation);
  // The dialer closes the old connection once the acceptor has
  // acknowledged everything it sent there; the acceptor waits for that (or
  // the LANE_LOST that says the dialer lost it). Were the acceptor to close
  // it too, it could do so before the dialer has taken the new connection
  // in, which the dialer would see as a loss.
  if (role_ == wire::Role::kDialer) {
    asio::post(old.lane->executor(), [old_lane = old.lane] { old_lane->RetireWhenDrained(); });
  }
  WatchDrain(index, old.generation);
  Attach(std::move(lane), /*replaces_retired=*/true);
}

void Tunnel::WatchDrain(uint16_t index, uint16_t generation) {
  const Duration limit = env_.config->tunnel.keepalive_timeout;
  auto timer = std::make_shared<asio::steady_timer>(*env_.control, limit);
  timer->async_wait([self = weak_from_this(), timer, index, generation, limit](boost::system::error_code ec) {
    auto t = self.lock();
    if (ec || !t || t->closed_) return;
    Recovery* r = t->FindRecovery(index, generation);
    if (r == nullptr || !r->draining) return;
    t->CollectRemains(*r, "not drained within " + std::to_string(limit.count()) + " ms");
  });
}

void Tunnel::OnLaneKeyLimit(uint16_t lane, uint16_t generation) {
  if (closed_ || !lanes_[lane].lane || lanes_[lane].generation != generation) return;
  const std::string why = RetireLane(lane);
  spdlog::info("tunnel {} to {}: lane {} connection {} reached half its key usage limit: {}", id_, peer_, lane,
               generation, why.empty() ? "retiring it" : why);
}

}  // namespace braid::proxy
