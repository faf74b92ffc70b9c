// Tunnel: all lanes to one peer gateway, and every flow they carry.
//
// A tunnel and its flows live on the control worker; its lanes each live on
// their own worker. The tunnel is the only place that knows both: it picks a
// lane for every frame (striping), dispatches what lanes receive to flows,
// and enforces the protocol rules that span lanes (flow ids, credit, the
// ReassemblyBuffer's checks). Any protocol error ends the whole tunnel: its
// flows are reset, never silently truncated.
//
// Striping: each flow's StripeScheduler picks the lane of its DATA frames
// (proxy/stripe/stripe_scheduler.h); the tunnel gives it the lanes' loads
// (lane_loads(): up or not, bytes queued, kLaneHighWatermark), keeps them
// current as frames are queued and written, and wakes the flows that wait
// for room when a lane drains or comes up.
//
// Lane loss (tunnel_recovery.cc; docs/protocol.md, "Lane loss"): each lane
// keeps what it sent until the peer acknowledges it. A lost connection is
// taken off its slot into a Recovery; the two sides exchange LANE_LOST
// counts and each resends what the other is missing on one lane that is
// up. Until then the lane is "parked": the control frames of the flows
// whose control lane it is wait in the recovery, so none overtakes a
// recovered one (DATA, ordered by sequence numbers, goes on). Retiring a
// lane is the same without surprise: its new connection is attached first
// (ReplaceLane), the old one drains, closes, and is recovered like a loss.
// Only with no lane up for `lane_loss_grace` does the tunnel end.
//
// Lifecycle: created on demand by the TunnelManager; after `idle_timeout`
// with no flows the dialer sends GOAWAY and closes the lanes.
#ifndef BRAID_PROXY_TUNNEL_TUNNEL_H_
#define BRAID_PROXY_TUNNEL_TUNNEL_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "braid/policy_store.h"
#include "braid/wire.h"
#include "proxy/admin/gateway_metrics.h"
#include "proxy/config/gateway_config.h"
#include "proxy/flow/flow.h"
#include "proxy/flow/flow_limits.h"
#include "proxy/runtime/asio.h"
#include "proxy/stripe/stripe_scheduler.h"
#include "proxy/stripe/window_budget.h"
#include "proxy/tunnel/lane.h"

namespace braid::proxy {

// What a tunnel needs from its gateway. Everything here is immutable or
// thread-safe.
struct TunnelEnv {
  std::shared_ptr<const GatewayConfig> config;
  PolicyStore* policy = nullptr;
  asio::io_context* control = nullptr;
  FlowLimits* limits = nullptr;  // control worker only
  GatewayMetrics* metrics = nullptr;
  // Called on the control worker when the tunnel has closed.
  std::function<void(uint64_t tunnel_id)> on_closed;
  // Dialer only: called on the control worker to dial lane `index`
  // (TunnelManager::KeepLaneUp): again after it was lost (no `replacing`;
  // with backoff until it is up or the tunnel closes), or, with
  // `replacing`, once while that connection is still up, to hand the new
  // one to ReplaceLane (make-before-break; given up if the dial fails while
  // the old connection is still up).
  std::function<void(std::shared_ptr<Tunnel>, uint16_t index, std::optional<uint16_t> replacing)> dial_lane;
  // The gateway-wide budget for flow window growth (control worker only);
  // each tunnel's own budget nests in it.
  std::shared_ptr<WindowBudget> window_budget;
};

class Tunnel final : public LaneOwner, public std::enable_shared_from_this<Tunnel> {
 public:
  // The send-queue high watermark of each lane (LaneLoad::capacity_bytes):
  // past it a lane takes no new DATA, and when every lane is past it flows
  // stop reading their hosts. 1 MiB is four lane writes
  // (Lane::kMaxFlushBytes): a lane has several milliseconds of work queued
  // while its write reports travel back (well under one) and flows refill
  // it. It is also small next to the queues a slow lane builds, so the
  // schedulers' free-space weights steer: a lane 512 KiB behind gets half
  // the share (with 4 MiB, queues bounded by a 4 MiB flow window hardly
  // moved the weights, the lane on the busy control worker got as much as
  // the others, and throughput fell some 5-10% on the gateway A/B). And it
  // bounds what a stalled lane holds, and the queueing delay a lane adds to
  // an interactive flow's frames, to about 1 MiB.
  static constexpr uint32_t kLaneHighWatermark = 1u << 20;

  Tunnel(TunnelEnv env, wire::Role role, std::string peer, uint64_t id, uint16_t lane_count,
         std::array<uint8_t, wire::kBinderSize> binder);

  const std::string& peer() const { return peer_; }
  uint64_t id() const { return id_; }
  wire::Role role() const { return role_; }
  uint16_t lane_count() const { return static_cast<uint16_t>(lanes_.size()); }
  const std::array<uint8_t, wire::kBinderSize>& binder() const { return binder_; }
  // The dialer learns the binder from its first lane's handshake.
  void SetBinder(const std::array<uint8_t, wire::kBinderSize>& binder) { binder_ = binder; }
  // SetLaneCount lowers the number of lanes, as the dialer's first lane
  // decided (LaneCount). Only before any lane is attached: until then every
  // flow's frames wait in lane 0's slot, which is kept.
  void SetLaneCount(uint16_t count);
  bool closed() const { return closed_; }
  // Whether either side has sent GOAWAY: no new flows on this tunnel.
  bool going_away() const { return peer_going_away_ || draining_; }
  bool HasLane(uint16_t index) const { return index < lanes_.size() && lanes_[index].lane != nullptr; }
  // The generation of lane `index`'s connection (HasLane), or of its last.
  uint16_t LaneGeneration(uint16_t index) const { return lanes_[index].generation; }
  // NextGeneration: the generation the next dial of lane `index` carries
  // (0 for its first connection).
  uint16_t NextGeneration(uint16_t index) { return lanes_[index].next_generation++; }
  // Whether connection `generation` of lane `index` was lost and recovered:
  // it may not be attached any more.
  bool WasLost(uint16_t index, uint16_t generation) const { return lanes_[index].WasRecovered(generation); }
  // StartRedial: whether a redial of lane `index` may start (none is
  // running); EndRedial when it stops.
  bool StartRedial(uint16_t index);
  void EndRedial(uint16_t index) { lanes_[index].redialing = false; }
  size_t flow_count() const { return flows_.size(); }
  std::chrono::steady_clock::time_point created() const { return created_; }
  // RoundTrip: the largest smoothed round trip of the lanes up (TCP_INFO);
  // zero before any is measured. Flows size their windows from it.
  std::chrono::microseconds RoundTrip() const;
  const WindowBudget& window_budget() const { return *window_budget_; }

  // What the admin endpoint shows of a lane (control worker).
  struct LaneView {
    uint16_t index;
    bool up;
    // "up"; "retiring": up on a new connection while the old one drains;
    // "recovering": what a lost connection carried is being resent; "down".
    std::string_view state;
    uint16_t generation;
    uint64_t unacked_bytes;  // sent, kept until the peer acknowledges them
    uint64_t queued_bytes;  // handed to the lane or waiting, not yet written
    int64_t rtt_us;         // from the last PONG; -1 before the first
    uint64_t bytes_sent, bytes_received;  // frame bytes, this lane's life
    TcpStats tcp;           // the lane's TCP connection (zero when down)
  };
  std::vector<LaneView> Lanes() const;
  // ForEachFlow calls f(const Flow&) for every live flow (control worker).
  template <typename F>
  void ForEachFlow(F&& f) const {
    for (const auto& [id, flow] : flows_) f(*flow);
  }

  // AttachLane adds a lane whose LANE_HELLO was verified and starts it.
  // Requires !HasLane(lane->index()).
  void AttachLane(std::shared_ptr<Lane> lane) { Attach(std::move(lane), /*replaces_retired=*/false); }
  // ReplaceLane attaches a new connection of a lane that is up, and retires
  // the old one: nothing new is sent on it, and it closes once what was
  // sent on it is acknowledged (make-before-break). Requires
  // HasLane(lane->index()).
  void ReplaceLane(std::shared_ptr<Lane> lane);
  // KillLane closes lane `index` now, as a failure would: its frames are
  // recovered and (dialer) it is redialed. RetireLane replaces its
  // connection make-before-break: the dialer dials the new one, the
  // acceptor asks the dialer to (ROTATE). Both return "" or why not.
  std::string KillLane(uint16_t index, const std::string& why);
  std::string RetireLane(uint16_t index);
  // OpenIngressFlow carries a host connection that this gateway's SFT
  // admitted (by `rule`, "" for the default) and FlowLimits counted, to
  // `service.target`.
  void OpenIngressFlow(tcp::socket host, FlowKey key, const ServiceConfig& service, std::string rule);
  // Close resets every flow with `reason` and closes the lanes, after a
  // GOAWAY when `goaway` is set.
  void Close(CloseReason reason, const std::string& why, bool goaway);
  // Drain sends GOAWAY: the peer opens no more flows here, OPENs already on
  // the way are refused, and the tunnel closes when its last flow ends.
  void Drain();
  // RecheckPolicy aborts the flows that `snapshot` denies.
  void RecheckPolicy(const PolicySnapshot& snapshot);

  // Called by flows, on the control worker.
  // lane_loads is indexed by lane index, kept current by the tunnel: valid
  // as long as the tunnel, and never reallocated.
  std::span<const LaneLoad> lane_loads() const { return loads_; }
  // SendData queues a DATA frame on the lane the flow's scheduler picked.
  void SendData(uint16_t lane, std::string frame);
  // WaitForLaneRoom calls flow.OnLaneRoom() the next time a lane writes or
  // comes up.
  void WaitForLaneRoom(const Flow& flow) { lane_waiters_.push_back(flow.id()); }
  void SendFin(Flow& flow, uint64_t final_seq);
  void SendRst(Flow& flow, wire::ResetReason reason, const std::string& text);
  void SendCredit(Flow& flow, uint64_t byte_limit, uint64_t seq_limit);
  void OnFlowEnded(Flow& flow, CloseReason reason, std::string detail);

  // LaneOwner.
  void OnLaneFrames(uint16_t lane, std::vector<InboundFrame> frames) override;
  void OnLaneWritten(uint16_t lane, uint16_t generation, size_t bytes) override;
  void OnLaneProtocolError(uint16_t lane, std::string detail) override;
  void OnLaneClosed(uint16_t lane, uint16_t generation, std::string reason) override;
  void OnLaneKeyLimit(uint16_t lane, uint16_t generation) override;

 private:
  struct LaneSlot {
    std::shared_ptr<Lane> lane;        // the connection up, or null
    uint16_t generation = 0;           // of `lane`, or of the last one
    uint16_t next_generation = 0;      // dialer: the next dial's
    uint64_t queued = 0;               // pending or posted to the lane, not yet written
    std::vector<std::string> pending;  // waiting for the next Flush
    int64_t rtt_us = -1;               // round-trip time from the last PONG
    bool redialing = false;            // a redial is running
    // The generations most recently lost and recovered, newest last: a
    // LANE_HELLO or a second LANE_LOST for one of them is refused. A ring,
    // so that a lane that keeps failing costs no more memory.
    std::array<uint16_t, 16> recovered{};
    uint8_t recovered_count = 0;
    bool WasRecovered(uint16_t gen) const {
      return std::find(recovered.begin(), recovered.begin() + recovered_count, gen) !=
             recovered.begin() + recovered_count;
    }
    void MarkRecovered(uint16_t gen) {
      if (recovered_count < recovered.size()) {
        recovered[recovered_count++] = gen;
      } else {
        std::rotate(recovered.begin(), recovered.begin() + 1, recovered.end());
        recovered.back() = gen;
      }
    }
  };

  // Recovery: one lost or retired lane connection, until what the peer did
  // not get is resent (see the top of this file).
  struct Recovery {
    uint16_t index = 0;
    uint16_t generation = 0;
    std::shared_ptr<Lane> lane;             // until its remains arrive
    bool draining = false;                  // retired, still up: no remains asked yet
    std::optional<LaneRemains> remains;     // ours
    std::optional<uint64_t> peer_received;  // from the peer's LANE_LOST
    bool lost_sent = false;                 // our LANE_LOST is queued
    // Frames for the lane queued after it was lost (or retired): control
    // frames of the flows it carried, sent after the recovered ones.
    std::vector<std::string> held;
  };

  // HandleData takes a DATA frame's payload into its flow; HandleFrame
  // handles every other frame.
  void HandleData(uint32_t flow_id, uint64_t seq, std::string payload);
  void HandleFrame(const wire::Frame& frame, uint16_t lane);
  void HandleOpen(const wire::Open& open, uint16_t lane);
  void HandleLaneLost(const wire::LaneLost& lost);
  void Attach(std::shared_ptr<Lane> lane, bool replaces_retired);
  // LoseLane detaches lane `index`'s connection and starts its recovery.
  void LoseLane(uint16_t index, const std::string& reason);
  // Detach takes lane `index`'s connection off its slot into a new
  // recovery, with the frames queued for it and not yet handed over.
  Recovery& Detach(uint16_t index);
  // CollectRemains closes a recovery's connection (if it is not yet) and
  // asks it for its remains (OnLaneRemains).
  void CollectRemains(Recovery& recovery, const std::string& reason);
  // WatchDrain kills a retired connection that has not drained within
  // keepalive_timeout (its peer stopped acknowledging).
  void WatchDrain(uint16_t index, uint16_t generation);
  void OnLaneRemains(uint16_t index, uint16_t generation, LaneRemains remains);
  Recovery* FindRecovery(uint16_t index, uint16_t generation);
  // The oldest recovery of lane `index`, or null: while there is one the
  // lane is parked.
  const Recovery* ParkedBy(uint16_t index) const;
  Recovery* ParkedBy(uint16_t index);
  bool Parked(uint16_t index) const { return ParkedBy(index) != nullptr; }
  // SendLaneLosts queues our LANE_LOST for every recovery whose remains are
  // in, on any lane up.
  void SendLaneLosts();
  // CompleteRecoveries resends what the peer is missing for every recovery
  // that has both counts and a lane to go on.
  void CompleteRecoveries();
  bool CompleteRecovery(Recovery& recovery);
  // Usable: up: the schedulers may put DATA on it. Steady: up and not
  // parked: control frames go out at once, so new flows' control lanes
  // and recovered frames go there.
  bool Usable(uint16_t index) const { return lanes_[index].lane != nullptr; }
  bool Steady(uint16_t index) const { return Usable(index) && !Parked(index); }
  void RefreshUsable(uint16_t index);
  void ArmGraceTimer();
  // WatchRecovery ends the tunnel if the peer has not answered our
  // LANE_LOST for this connection within twice keepalive_timeout.
  void WatchRecovery(uint16_t index, uint16_t generation);
  asio::awaitable<void> ConnectEgress(std::shared_ptr<Flow> flow, std::string host, uint16_t port,
                                      uint64_t byte_credit, uint64_t seq_credit);
  asio::awaitable<void> OpenTimeout(std::shared_ptr<Flow> flow);
  void ProtocolError(wire::GoawayReason reason, const std::string& detail);
  // Enqueue queues a frame for lane `lane`; a parked lane holds flow
  // frames in its recovery, and a lane that is down drops the tunnel's
  // own. EnqueueUp queues on a lane that is up, past any parking.
  void Enqueue(size_t lane, std::string frame);
  void EnqueueUp(size_t lane, std::string frame);
  void SendControl(const Flow& flow, std::string frame) { Enqueue(flow.control_lane(), std::move(frame)); }
  void Flush();
  // PublishLoad copies lanes_[lane].queued into loads_[lane].
  void PublishLoad(size_t lane);
  void WakeLaneWaiters();
  uint16_t HomeLane(uint32_t flow_id) const;
  void ArmIdleTimer();
  std::shared_ptr<Flow> FindFlow(uint32_t id);
  // FindFlowFor finds the flow a received `frame` names; null if it has
  // ended (the frame is late and dropped) or was never opened (a protocol
  // error: the tunnel is closed).
  std::shared_ptr<Flow> FindFlowFor(uint32_t id, std::string_view frame);
  void LogFlowEnd(const Flow& flow, CloseReason reason, const std::string& detail);
  void CountFlowEnd(const Flow& flow, CloseReason reason, const std::string& detail);
  FlowWindow::Options WindowOptions() const;

  TunnelEnv env_;
  const wire::Role role_;
  const std::string peer_;
  const uint64_t id_;
  std::array<uint8_t, wire::kBinderSize> binder_;
  std::vector<LaneSlot> lanes_;
  std::vector<LaneLoad> loads_;          // lanes_[i] as the schedulers see it
  std::vector<uint32_t> lane_waiters_;   // flows waiting for lane room
  absl::flat_hash_map<uint32_t, std::shared_ptr<Flow>> flows_;
  absl::flat_hash_map<uint32_t, bool> opening_;  // ingress flows waiting for OPEN_OK
  uint32_t next_flow_id_;
  uint32_t highest_peer_flow_id_ = 0;
  const std::chrono::steady_clock::time_point created_;
  // This peer's series (admin/gateway_metrics.h).
  Counter& sent_bytes_;
  Counter& received_bytes_;
  Gauge& tunnels_up_;
  Gauge& lanes_up_;
  uint16_t lanes_attached_ = 0;  // connections attached so far
  uint16_t lanes_live_ = 0;      // lanes up now
  uint16_t lanes_ended_ = 0;     // closed by the peer after its GOAWAY
  std::vector<Recovery> recoveries_;  // in the order the lanes were lost
  Counter& lanes_lost_;
  Counter& lanes_redialed_;
  Counter& lanes_retired_;
  Counter& frames_resent_;
  asio::steady_timer grace_timer_;
  uint64_t grace_generation_ = 0;
  // Flow window growth on this tunnel (tunnel.window_budget_bytes).
  const std::shared_ptr<WindowBudget> window_budget_;
  asio::steady_timer idle_timer_;
  uint64_t idle_generation_ = 0;
  bool flush_scheduled_ = false;
  bool closed_ = false;
  bool peer_going_away_ = false;
  bool draining_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_TUNNEL_H_
