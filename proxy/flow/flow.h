// Flow: one host TCP connection carried over a tunnel, both directions.
//
// A flow lives on the control worker with its tunnel and is owned by the
// tunnel's flow table. Two coroutines move its bytes:
//   - HostToTunnel reads the host socket straight into DATA frames, within the
//     credit the peer granted (so a slow destination pushes back all the way
//     to this host's TCP window) and the room the tunnel's lanes have (so
//     do full lanes), and ends with FIN on EOF or RST on error. Its
//     StripeScheduler keeps the credit, numbers the frames and picks each
//     one's lane;
//   - TunnelToHost writes what the ReassemblyBuffer releases, in order, to
//     the host, grants credit as bytes leave the buffer (before the write
//     to the host completes, so a long link never waits on it), with a
//     window that FlowWindow sizes to the link's round trip, and half-closes
//     the host's socket only when the peer's FIN and every byte before it
//     have arrived.
// An abort in either direction, or from the tunnel, resets the host socket
// (SO_LINGER 0): a truncated stream never looks like a finished one.
//
// Memory: receive side bounded by the ReassemblyBuffer window, which starts
// at flow_window_bytes and grows only within the tunnel's and the gateway's
// WindowBudget; send side by the lanes' send-queue watermark (what is read
// from the host is within the credit the peer grants, and goes straight to a
// lane).
#ifndef BRAID_PROXY_FLOW_FLOW_H_
#define BRAID_PROXY_FLOW_FLOW_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "braid/flow_key.h"
#include "braid/wire.h"
#include "proxy/flow/close_reason.h"
#include "proxy/runtime/asio.h"
#include "proxy/stripe/flow_window.h"
#include "proxy/stripe/reassembly_buffer.h"
#include "proxy/stripe/stripe_scheduler.h"

namespace braid::proxy {

class Tunnel;

class Flow : public std::enable_shared_from_this<Flow> {
 public:
  enum class Side : uint8_t { kIngress, kEgress };

  // The receive window starts at window.initial_bytes and grows within
  // `budget` (the tunnel's).
  Flow(uint32_t id, Side side, tcp::socket host, FlowKey key, std::string target, std::string rule,
       std::weak_ptr<Tunnel> tunnel, FlowWindow::Options window, std::shared_ptr<WindowBudget> budget);

  uint32_t id() const { return id_; }
  Side side() const { return side_; }
  const FlowKey& key() const { return key_; }
  // Whether key().dst is the real destination. An ingress flow to a target
  // named by DNS never learns it (the far gateway resolves the name); an
  // egress flow learns it when it resolves.
  bool dst_known() const { return dst_known_; }
  void set_dst(const IpAddress& dst) {
    key_.dst = dst;
    dst_known_ = true;
  }
  void set_dst_unknown() { dst_known_ = false; }
  const std::string& target() const { return target_; }
  ReassemblyBuffer& rx() { return rx_; }
  const ReassemblyBuffer& rx() const { return rx_; }
  const FlowWindow& window() const { return window_; }
  // The receive window (FlowWindow) goes back to its initial size after
  // this long with nothing received.
  static constexpr std::chrono::seconds kWindowIdleReset{2};
  // The lane that carries every control frame of this flow (OPEN, OPEN_OK,
  // CREDIT, FIN, RST), so they stay in order.
  uint16_t control_lane() const { return control_lane_; }
  // The tunnel moves it when the lane is lost (Tunnel::CompleteRecovery),
  // after the frames that were on it.
  void set_control_lane(uint16_t lane) {
    control_lane_ = lane;
    if (tx_) tx_->set_home_lane(lane);
  }

  // Start begins carrying data once the peer's initial credit is known.
  void Start(uint64_t byte_limit, uint64_t seq_limit);
  // OnCredit raises the send limits (a smaller, reordered one is ignored).
  void OnCredit(uint64_t byte_limit, uint64_t seq_limit);
  // OnLaneRoom wakes HostToTunnel after the tunnel's lanes drained some.
  void OnLaneRoom();
  // Wake TunnelToHost after DATA or FIN was added to rx().
  void OnReceived();
  // Abort resets the host connection and ends the flow; no frame is sent.
  void Abort(CloseReason reason, std::string detail);
  // SetHost gives an egress flow its connected target socket.
  void SetHost(tcp::socket host) { host_ = std::move(host); }

  // Whether Start() was called: the flow carries data (an egress flow only
  // once it has answered OPEN_OK).
  bool carrying() const { return carrying_; }
  bool finished() const { return ended_; }
  // Whether the flow can end without its tunnel's lanes: our FIN is sent,
  // and every frame the peer will send for it, up to its FIN, has arrived.
  bool CanFinishWithoutLanes() const {
    return tx_done_ && rx_.fin_received() && rx_.next_seq() == rx_.final_seq();
  }
  uint64_t bytes_from_host() const { return tx_ ? tx_->bytes_sent() : 0; }
  // Send credit left: how much more the peer lets this flow send now (0
  // before the flow carries data). With the peer's window_bytes this tells
  // whether a slow flow waits for credit or for its lanes.
  uint64_t send_credit() const { return tx_ ? tx_->byte_limit() - tx_->bytes_sent() : 0; }
  // State, for the admin endpoint: "opening" (waiting for OPEN_OK, or for
  // the target to accept), "open", "half_closed_local" (the host sent its
  // FIN), "half_closed_remote" (the peer's FIN reached the host), "closing".
  std::string_view state() const {
    if (!carrying_) return "opening";
    if (tx_done_ && rx_done_) return "closing";
    if (tx_done_) return "half_closed_local";
    if (rx_done_) return "half_closed_remote";
    return "open";
  }
  uint64_t bytes_to_host() const { return rx_.consumed_bytes(); }
  std::chrono::steady_clock::time_point started() const { return started_; }
  // The rule that admitted the flow, or, once it is refused or revoked by
  // policy, the rule that did it ("" = the default rule).
  const std::string& rule() const { return rule_; }
  void set_rule(std::string rule) { rule_ = std::move(rule); }

 private:
  asio::awaitable<void> HostToTunnel();
  asio::awaitable<void> TunnelToHost();
  void MaybeEnd();
  void ResetHost();
  // HostWasReset: whether an end of stream read from the host was in fact
  // a reset (see flow.cc).
  bool HostWasReset();
  // GrantCredit tunes the window and sends CREDIT when one is due; called
  // after bytes left rx_.
  void GrantCredit();

  const uint32_t id_;
  const Side side_;
  tcp::socket host_;
  FlowKey key_;
  bool dst_known_ = true;
  const std::string target_;
  std::string rule_;
  std::weak_ptr<Tunnel> tunnel_;
  FlowWindow window_;  // sizes rx_'s windows; declared first, as rx_ is made from it
  ReassemblyBuffer rx_;
  asio::steady_timer credit_wake_;  // HostToTunnel waits here for credit or lane room
  asio::steady_timer data_wake_;    // TunnelToHost waits here for data
  // The send direction: credit, sequence numbers, lanes. Made by Start, when
  // the peer's initial credit is known; home lane = control lane.
  std::optional<StripeScheduler> tx_;
  uint16_t control_lane_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool carrying_ = false;
  bool tx_done_ = false;  // FIN sent
  bool waiting_for_lanes_ = false;  // registered with Tunnel::WaitForLaneRoom
  bool rx_done_ = false;  // host half-closed after the peer's FIN
  bool ended_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_FLOW_FLOW_H_
