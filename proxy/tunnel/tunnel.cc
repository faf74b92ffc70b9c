#include "proxy/tunnel/tunnel.h"

#include <algorithm>
#include <chrono>

#include "proxy/flow/access_log.h"
#include "proxy/wire/frame_codec.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

using namespace asio::experimental::awaitable_operators;

}  // namespace

Tunnel::Tunnel(TunnelEnv env, wire::Role role, std::string peer, uint64_t id, uint16_t lane_count,
               std::array<uint8_t, wire::kBinderSize> binder)
    : env_(std::move(env)),
      role_(role),
      peer_(std::move(peer)),
      id_(id),
      binder_(binder),
      lanes_(lane_count),
      loads_(lane_count, LaneLoad{.usable = false, .queued_bytes = 0, .capacity_bytes = kLaneHighWatermark}),
      next_flow_id_(role == wire::Role::kDialer ? 1 : 2),
      created_(std::chrono::steady_clock::now()),
      sent_bytes_(env_.metrics->peer_bytes.With({peer_, "sent"})),
      received_bytes_(env_.metrics->peer_bytes.With({peer_, "received"})),
      tunnels_up_(env_.metrics->tunnels_up.With({peer_})),
      lanes_up_(env_.metrics->lanes_up.With({peer_})),
      lanes_lost_(env_.metrics->lanes_lost.With({peer_})),
      lanes_redialed_(env_.metrics->lanes_redialed.With({peer_})),
      lanes_retired_(env_.metrics->lanes_retired.With({peer_})),
      frames_resent_(env_.metrics->frames_resent.With({peer_})),
      grace_timer_(*env_.control),
      window_budget_(std::make_shared<WindowBudget>(env_.config->tunnel.window_budget_bytes, env_.window_budget)),
      idle_timer_(*env_.control) {}

std::vector<Tunnel::LaneView> Tunnel::Lanes() const {
  std::vector<LaneView> out;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const LaneSlot& s = lanes_[i];
    const bool up = s.lane != nullptr && !closed_;
    const Recovery* parked = ParkedBy(static_cast<uint16_t>(i));
    const std::string_view state = parked == nullptr ? (up ? "up" : "down")
                                   : parked->draining ? "retiring"
                                                      : "recovering";
    out.push_back(LaneView{static_cast<uint16_t>(i), up, state, s.generation, up ? s.lane->unacked_bytes() : 0,
                           s.queued, s.rtt_us, s.lane ? s.lane->bytes_sent() : 0,
                           s.lane ? s.lane->bytes_received() : 0, s.lane ? s.lane->tcp_stats() : TcpStats{}});
  }
  return out;
}

FlowWindow::Options Tunnel::WindowOptions() const {
  return FlowWindow::Options{.initial_bytes = env_.config->tunnel.flow_window_bytes,
                             .max_bytes = env_.config->tunnel.flow_window_max_bytes};
}

std::chrono::microseconds Tunnel::RoundTrip() const {
  // The slowest lane: a striped flow's frames wait in reassembly for the
  // last of them, so that is the round trip its credit has to cover.
  uint32_t rtt_us = 0;
  for (const LaneSlot& slot : lanes_) {
    if (slot.lane) rtt_us = std::max(rtt_us, slot.lane->tcp_stats().rtt_us);
  }
  return std::chrono::microseconds(rtt_us);
}

void Tunnel::Attach(std::shared_ptr<Lane> lane, bool replaces_retired) {
  const uint16_t index = lane->index();
  LaneSlot& slot = lanes_[index];
  slot.lane = lane;
  slot.generation = lane->generation();
  slot.next_generation = std::max<uint16_t>(slot.next_generation, lane->generation() + 1);
  ++lanes_live_;
  ++grace_generation_;  // a lane is up: no grace period runs
  grace_timer_.cancel();
  if (lane->generation() != 0 && !replaces_retired) {
    lanes_redialed_.Add();
    spdlog::info("tunnel {} to {}: lane {} up again (connection {})", id_, peer_, index, lane->generation());
  }
  if (lanes_attached_++ == 0) {
    // The first lane makes the tunnel usable.
    tunnels_up_.Add();
    if (role_ == wire::Role::kDialer) {
      env_.metrics->tunnel_setup.With({}).Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count());
    }
  }
  lanes_up_.Add();
  RefreshUsable(index);
  asio::post(lane->executor(), [lane, self = weak_from_this(), exec = env_.control->get_executor()] {
    lane->Start(self, exec);
  });
  if (!slot.pending.empty() && !flush_scheduled_) {
    flush_scheduled_ = true;
    asio::post(*env_.control, [self = shared_from_this()] { self->Flush(); });
  }
  // A lane up can carry what waited for one.
  SendLaneLosts();
  CompleteRecoveries();
  if (flows_.empty()) ArmIdleTimer();
  WakeLaneWaiters();  // a new lane has room
}

bool Tunnel::StartRedial(uint16_t index) {
  if (closed_ || index >= lanes_.size() || lanes_[index].redialing) return false;
  lanes_[index].redialing = true;
  return true;
}

void Tunnel::RefreshUsable(uint16_t index) { loads_[index].usable = Usable(index); }

void Tunnel::SetLaneCount(uint16_t count) {
  if (lanes_attached_ > 0 || count == 0 || count >= lanes_.size()) return;
  // Shrinking keeps the vectors' storage, so no span of loads_ moves.
  lanes_.resize(count);
  loads_.resize(count);
}

uint16_t Tunnel::HomeLane(uint32_t flow_id) const {
  // The home lane must be up; fall back to the lowest lane that is.
  // Each side's ids step by 2 (odd: the dialer's, even: the acceptor's), so
  // id / 2 walks every lane in turn; id mod lanes would use only the odd
  // lanes of a dialer with an even lane count.
  const uint16_t home = static_cast<uint16_t>((flow_id / 2) % lanes_.size());
  if (Steady(home)) return home;
  for (uint16_t i = 0; i < lanes_.size(); ++i) {
    if (Steady(i)) return i;
  }
  // None usable: the frames wait for the home lane (in its pending list
  // before the first lane is up, in its recovery when it was lost).
  return home;
}

void Tunnel::Enqueue(size_t lane, std::string frame) {
  if (Recovery* parked = ParkedBy(static_cast<uint16_t>(lane))) {
    // Behind the frames being recovered (they are resent first). DATA is
    // ordered by its sequence numbers, not by its lane: on a new connection
    // it need not wait.
    const bool data_may_go = lanes_[lane].lane && IsDataFrame(frame);
    if (IsCountedFrame(frame) && !data_may_go) return parked->held.push_back(std::move(frame));
  }
  // The tunnel's own frames mean something only on the connection they
  // were meant for.
  if (!lanes_[lane].lane && lanes_attached_ > 0 && !IsCountedFrame(frame)) return;
  EnqueueUp(lane, std::move(frame));
}

void Tunnel::EnqueueUp(size_t lane, std::string frame) {
  LaneSlot& slot = lanes_[lane];
  slot.queued += frame.size();
  PublishLoad(lane);
  slot.pending.push_back(std::move(frame));
  if (!flush_scheduled_) {
    // Frames produced in one turn of the event loop go to each lane in one
    // hand-off.
    flush_scheduled_ = true;
    asio::post(*env_.control, [self = shared_from_this()] { self->Flush(); });
  }
}

void Tunnel::Flush() {
  flush_scheduled_ = false;
  for (LaneSlot& slot : lanes_) {
    if (!slot.lane || slot.pending.empty()) continue;
    asio::post(slot.lane->executor(), [lane = slot.lane, frames = std::move(slot.pending)]() mutable {
      lane->Send(std::move(frames));
    });
    slot.pending.clear();
  }
}

void Tunnel::SendData(uint16_t lane, std::string frame) {
  if (closed_) return;
  sent_bytes_.Add(frame.size() - wire::kHeaderSize);
  Enqueue(lane, std::move(frame));
}

void Tunnel::SendFin(Flow& flow, uint64_t final_seq) {
  std::string out;
  if (!closed_ && Encode(wire::Fin{flow.id(), final_seq}, &out)) SendControl(flow, std::move(out));
}

void Tunnel::SendRst(Flow& flow, wire::ResetReason reason, const std::string& text) {
  std::string out;
  if (!closed_ && Encode(wire::Rst{flow.id(), reason, text}, &out)) SendControl(flow, std::move(out));
}

void Tunnel::SendCredit(Flow& flow, uint64_t byte_limit, uint64_t seq_limit) {
  std::string out;
  if (!closed_ && Encode(wire::Credit{flow.id(), byte_limit, seq_limit}, &out)) SendControl(flow, std::move(out));
}

void Tunnel::OpenIngressFlow(tcp::socket host, FlowKey key, const ServiceConfig& service, std::string rule) {
  if (closed_) {
    boost::system::error_code ignored;
    host.set_option(asio::socket_base::linger(true, 0), ignored);
    env_.limits->Release(key.src);
    return;
  }
  const uint32_t id = next_flow_id_;
  next_flow_id_ += 2;
  auto flow = std::make_shared<Flow>(id, Flow::Side::kIngress, std::move(host), key, service.target.ToString(),
                                     std::move(rule), weak_from_this(), WindowOptions(), window_budget_);
  flow->set_control_lane(HomeLane(id));
  flows_.emplace(id, flow);
  opening_.emplace(id, true);
  idle_timer_.cancel();

  wire::Open open;
  open.flow_id = id;
  open.protocol = key.proto;
  open.src_address = key.src;
  open.src_port = key.src_port;
  if (auto literal = IpAddress::Parse(service.target.host)) {
    open.target_address = *literal;
  } else {
    open.target_name = service.target.host;
    flow->set_dst_unknown();
  }
  open.target_port = service.target.port;
  open.initial_byte_credit = flow->rx().advertised_byte_limit();
  open.initial_seq_credit = static_cast<uint32_t>(flow->rx().advertised_seq_limit());
  std::string out;
  if (!Encode(open, &out)) {
    flow->Abort(CloseReason::kRefused, "cannot encode OPEN for target " + service.target.ToString());
    return;
  }
  SendControl(*flow, std::move(out));
  asio::co_spawn(*env_.control, OpenTimeout(flow), asio::detached);
}

asio::awaitable<void> Tunnel::OpenTimeout(std::shared_ptr<Flow> flow) {
  asio::steady_timer timer(*env_.control, env_.config->limits.open_timeout);
  co_await timer.async_wait(kAsTuple);
  if (!flow->finished() && opening_.contains(flow->id())) {
    env_.metrics->limit_hits.With({"open_timeout"}).Add();
    SendRst(*flow, wire::ResetReason::kInternal, "open timeout");
    flow->Abort(CloseReason::kOpenTimeout, "no answer from " + peer_);
  }
}

std::shared_ptr<Flow> Tunnel::FindFlow(uint32_t id) {
  auto it = flows_.find(id);
  return it == flows_.end() ? nullptr : it->second;
}

std::shared_ptr<Flow> Tunnel::FindFlowFor(uint32_t id, std::string_view frame) {
  if (auto flow = FindFlow(id)) return flow;
  // Ids are never reused, so an id we have not seen yet cannot be a late
  // frame of an ended flow. The peer's ids: every frame of a flow travels
  // behind its OPEN on the flow's control lane (DATA only after OPEN_OK), so
  // nothing may name an id above the highest OPEN received.
  const bool ours = (id % 2 == 1) == (role_ == wire::Role::kDialer);
  if (ours ? id >= next_flow_id_ : id > highest_peer_flow_id_) {
    ProtocolError(wire::GoawayReason::kProtocolError,
                  std::string(frame) + " for flow " + std::to_string(id) + ", which was never opened");
  }
  return nullptr;  // a flow that ended: its late frames are dropped
}

void Tunnel::OnLaneFrames(uint16_t lane, std::vector<InboundFrame> frames) {
  for (InboundFrame& in : frames) {
    if (closed_) return;
    // The lane checked the header (for our role); now the payload.
    wire::Frame frame;
    DecodeError error = ParsePayload(in.header, in.payload, &frame);
    if (error != DecodeError::kNone) {
      return ProtocolError(wire::GoawayReason::kProtocolError, std::string(DecodeErrorName(error)));
    }
    if (const auto* ping = std::get_if<wire::Ping>(&frame)) {
      // Answered on the lane it came in on: that lane is the one whose
      // liveness the peer is checking.
      std::string out;
      if (Encode(wire::Pong{ping->opaque}, &out) && lanes_[lane].lane) EnqueueUp(lane, std::move(out));
    } else if (const auto* pong = std::get_if<wire::Pong>(&frame)) {
      // Our lanes put their send time in the PING (Lane::KeepaliveLoop).
      const int64_t now_us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
              .count();
      if (pong->opaque <= static_cast<uint64_t>(now_us)) lanes_[lane].rtt_us = now_us - static_cast<int64_t>(pong->opaque);
    } else if (in.header.type == wire::FrameType::kData) {
      HandleData(in.header.flow_id, in.header.value, std::move(in.payload));
    } else {
      HandleFrame(frame, lane);
    }
  }
}

void Tunnel::HandleData(uint32_t flow_id, uint64_t seq, std::string payload) {
  auto flow = FindFlowFor(flow_id, "DATA");
  if (!flow) return;
  if (flow->side() == Flow::Side::kEgress && !flow->carrying()) {
    // The opener has no credit before our OPEN_OK.
    return ProtocolError(wire::GoawayReason::kProtocolError,
                         "DATA for flow " + std::to_string(flow_id) + " before OPEN_OK");
  }
  const size_t size = payload.size();
  // The payload moves into the reassembly buffer: no copy.
  ReassemblyBuffer::Status s = flow->rx().OnDataOwned(seq, std::move(payload));
  if (s == ReassemblyBuffer::Status::kDuplicate) return;  // dropped (ReassemblyBuffer, "Duplicates")
  if (s != ReassemblyBuffer::Status::kOk) {
    return ProtocolError(wire::GoawayReason::kFlowControlError,
                         "flow " + std::to_string(flow_id) + ": " + std::string(ReassemblyStatusName(s)));
  }
  received_bytes_.Add(size);
  flow->OnReceived();
}

void Tunnel::HandleFrame(const wire::Frame& frame, uint16_t lane) {
  if (const auto* credit = std::get_if<wire::Credit>(&frame)) {
    if (auto flow = FindFlowFor(credit->flow_id, "CREDIT")) flow->OnCredit(credit->byte_limit, credit->seq_limit);
  } else if (const auto* fin = std::get_if<wire::Fin>(&frame)) {
    auto flow = FindFlowFor(fin->flow_id, "FIN");
    if (!flow) return;
    ReassemblyBuffer::Status s = flow->rx().OnFin(fin->final_seq);
    if (s != ReassemblyBuffer::Status::kOk) {
      return ProtocolError(wire::GoawayReason::kProtocolError,
                           "flow " + std::to_string(fin->flow_id) + ": " + std::string(ReassemblyStatusName(s)));
    }
    flow->OnReceived();
  } else if (const auto* open = std::get_if<wire::Open>(&frame)) {
    HandleOpen(*open, lane);
  } else if (const auto* ok = std::get_if<wire::OpenOk>(&frame)) {
    auto flow = FindFlowFor(ok->flow_id, "OPEN_OK");
    if (!flow) return;
    if (!opening_.erase(ok->flow_id)) {
      return ProtocolError(wire::GoawayReason::kProtocolError,
                           "second answer to OPEN of flow " + std::to_string(ok->flow_id));
    }
    flow->Start(ok->initial_byte_credit, ok->initial_seq_credit);
  } else if (const auto* refused = std::get_if<wire::OpenRefused>(&frame)) {
    auto flow = FindFlowFor(refused->flow_id, "OPEN_REFUSED");
    if (!flow) return;
    if (!opening_.erase(refused->flow_id)) {
      return ProtocolError(wire::GoawayReason::kProtocolError,
                           "second answer to OPEN of flow " + std::to_string(refused->flow_id));
    }
    const bool denied = refused->reason == wire::RefuseReason::kPolicyDenied;
    if (denied) flow->set_rule(std::string(refused->rule_id));  // the peer's rule that refused it
    std::string detail = denied ? "denied by " + peer_ + " rule " +
                                      (refused->rule_id.empty() ? std::string("(default)") : std::string(refused->rule_id))
                                : "refused by " + peer_ + ": " + std::string(refused->text);
    flow->Abort(denied ? CloseReason::kDeniedEgress : CloseReason::kRefused, std::move(detail));
  } else if (const auto* rst = std::get_if<wire::Rst>(&frame)) {
    if (auto flow = FindFlowFor(rst->flow_id, "RST")) {
      const bool revoked = rst->reason == wire::ResetReason::kPolicyRevoked;
      // The text names the peer's rule (Tunnel::RecheckPolicy).
      if (revoked) flow->set_rule(rst->text == "(default)" ? "" : std::string(rst->text));
      flow->Abort(revoked ? CloseReason::kPolicyRevoked : CloseReason::kPeerReset,
                  "reset by " + peer_ + ": " + std::string(rst->text));
    }
  } else if (std::holds_alternative<wire::Goaway>(frame)) {
    const auto& goaway = std::get<wire::Goaway>(frame);
    if (goaway.reason != wire::GoawayReason::kNoError) {
      return Close(CloseReason::kTunnelLost, "peer sent GOAWAY: " + std::string(goaway.text), false);
    }
    // The sender closes the lanes once its own flows are done (Drain, the
    // idle teardown): closing them from here could cut a frame it still has
    // in flight to one of its flows. OnLaneClosed takes the end.
    peer_going_away_ = true;
  } else if (const auto* lost = std::get_if<wire::LaneLost>(&frame)) {
    HandleLaneLost(*lost);
  } else if (const auto* rotate = std::get_if<wire::Rotate>(&frame)) {
    if (role_ == wire::Role::kAcceptor) {
      return ProtocolError(wire::GoawayReason::kProtocolError, "ROTATE from the dialer");
    }
    if (rotate->lane_index >= lanes_.size()) {
      return ProtocolError(wire::GoawayReason::kProtocolError,
                           "ROTATE for lane " + std::to_string(rotate->lane_index) + ": the tunnel has " +
                               std::to_string(lanes_.size()) + " lanes");
    }
    // A request about a connection that is gone is late: nothing to do.
    if (HasLane(rotate->lane_index) && lanes_[rotate->lane_index].generation == rotate->generation) {
      const std::string why = RetireLane(rotate->lane_index);
      if (!why.empty()) spdlog::info("tunnel {} to {}: ROTATE of lane {}: {}", id_, peer_, rotate->lane_index, why);
    }
  } else if (std::holds_alternative<wire::LaneHello>(frame)) {
    ProtocolError(wire::GoawayReason::kProtocolError, "LANE_HELLO after the lane was set up");
  }
}

void Tunnel::HandleOpen(const wire::Open& open, uint16_t lane) {
  // The peer allocates ids in increasing order, but OPENs travel on
  // different lanes and may arrive in any order: an id is refused only when
  // it is live, or so far below the newest one that it must be a reuse.
  constexpr uint32_t kReorderWindow = 1u << 16;
  if (flows_.contains(open.flow_id) ||
      (highest_peer_flow_id_ > kReorderWindow && open.flow_id < highest_peer_flow_id_ - kReorderWindow)) {
    return ProtocolError(wire::GoawayReason::kProtocolError, "OPEN reuses flow id " + std::to_string(open.flow_id));
  }
  highest_peer_flow_id_ = std::max(highest_peer_flow_id_, open.flow_id);
  if (draining_) {
    std::string out;
    if (Encode(wire::OpenRefused{open.flow_id, wire::RefuseReason::kShuttingDown, "", "gateway draining"}, &out)) {
      Enqueue(lane, std::move(out));
    }
    return;
  }
  if (open.protocol != Protocol::kTcp) {
    // Version 1 carries TCP only, whatever the policy permits.
    spdlog::warn("flow {} from {} via {}: refused: protocol {} is not carried", open.flow_id,
                 open.src_address.WithPort(open.src_port), peer_, static_cast<int>(open.protocol));
    std::string out;
    if (Encode(wire::OpenRefused{open.flow_id, wire::RefuseReason::kUnsupported, "", "only TCP is carried"}, &out)) {
      Enqueue(lane, std::move(out));
    }
    return;
  }
  if (std::string why; !env_.limits->TryAdmit(open.src_address, &why)) {
    spdlog::warn("flow {} from {} via {}: refused: {}", open.flow_id, open.src_address.WithPort(open.src_port),
                 peer_, why);
    std::string out;
    if (Encode(wire::OpenRefused{open.flow_id, wire::RefuseReason::kLimit, "", why}, &out)) Enqueue(lane, std::move(out));
    return;
  }
  idle_timer_.cancel();
  FlowKey key;
  key.src = open.src_address;
  key.src_port = open.src_port;
  key.dst = open.target_address;
  key.dst_port = open.target_port;
  key.proto = open.protocol;
  key.src_gateway = peer_;  // from the peer's certificate, never the message
  key.dst_gateway = env_.config->name;
  const std::string target = open.target_name.empty() ? open.target_address.WithPort(open.target_port)
                                                      : std::string(open.target_name) + ":" + std::to_string(open.target_port);
  // Register before the first check: a policy update that lands while we
  // connect re-checks this flow too.
  auto flow = std::make_shared<Flow>(open.flow_id, Flow::Side::kEgress, tcp::socket(*env_.control), key, target, "",
                                     weak_from_this(), WindowOptions(), window_budget_);
  flow->set_control_lane(lane);  // answer on the lane the peer chose for it
  if (!open.target_name.empty()) flow->set_dst_unknown();  // until it resolves
  flows_.emplace(open.flow_id, flow);
  asio::co_spawn(*env_.control,
                 ConnectEgress(flow, open.target_name.empty() ? open.target_address.ToString() : std::string(open.target_name),
                               open.target_port, open.initial_byte_credit, open.initial_seq_credit),
                 asio::detached);
}

asio::awaitable<void> Tunnel::ConnectEgress(std::shared_ptr<Flow> flow, std::string host, uint16_t port,
                                            uint64_t byte_credit, uint64_t seq_credit) {
  auto self = shared_from_this();
  auto refuse = [&](wire::RefuseReason reason, std::string rule_id, std::string text, CloseReason why) {
    std::string out;
    if (Encode(wire::OpenRefused{flow->id(), reason, rule_id, text}, &out)) SendControl(*flow, std::move(out));
    flow->Abort(why, text);
  };
  tcp::resolver resolver(*env_.control);
  auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service, kAsTuple);
  if (flow->finished()) co_return;
  if (rec || results.empty()) {
    refuse(wire::RefuseReason::kResolveFailed, "", "cannot resolve " + host + ": " + rec.message(), CloseReason::kRefused);
    co_return;
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  flow->set_dst(*IpAddress::Parse(endpoint.address().to_string()));
  const FlowKey& key = flow->key();
  std::shared_ptr<const PolicySnapshot> policy = env_.policy->Current();
  const Decision decision = policy->Decide(key);
  const std::string rule = policy->table ? policy->table->RuleId(decision) : "";
  env_.metrics->sft_decisions.With({"egress", decision.action == Action::kPermit ? "permit" : "deny", rule}).Add();
  flow->set_rule(rule);
  if (decision.action != Action::kPermit) {
    spdlog::warn("flow {} from {} via {} to {}: denied by rule {}", flow->id(), key.src.WithPort(key.src_port), peer_,
                 flow->target(), rule.empty() ? "(default)" : rule);
    refuse(wire::RefuseReason::kPolicyDenied, rule, "denied by policy", CloseReason::kDeniedIngress);
    co_return;
  }
  tcp::socket socket(*env_.control);
  asio::steady_timer timer(*env_.control, env_.config->limits.connect_timeout);
  auto result = co_await (socket.async_connect(endpoint, kAsTuple) || timer.async_wait(kAsTuple));
  if (flow->finished()) co_return;
  if (result.index() == 1) {
    env_.metrics->limit_hits.With({"connect_timeout"}).Add();
    refuse(wire::RefuseReason::kTimeout, "", "connect to " + flow->target() + " timed out", CloseReason::kRefused);
    co_return;
  }
  auto [cec] = std::get<0>(result);
  if (cec) {
    const auto reason = cec == asio::error::connection_refused ? wire::RefuseReason::kConnectionRefused
                                                               : wire::RefuseReason::kNoRoute;
    refuse(reason, "", "connect to " + flow->target() + ": " + cec.message(), CloseReason::kRefused);
    co_return;
  }
  flow->SetHost(std::move(socket));
  std::string out;
  if (Encode(wire::OpenOk{flow->id(), flow->rx().advertised_byte_limit(),
                          static_cast<uint32_t>(flow->rx().advertised_seq_limit())},
             &out)) {
    SendControl(*flow, std::move(out));
  }
  flow->Start(byte_credit, seq_credit);
}

void Tunnel::OnFlowEnded(Flow& flow, CloseReason reason, std::string detail) {
  LogFlowEnd(flow, reason, detail);
  CountFlowEnd(flow, reason, detail);
  env_.limits->Release(flow.key().src);
  opening_.erase(flow.id());
  flows_.erase(flow.id());
  if (flows_.empty()) {
    if (draining_ || lanes_ended_ > 0) return Close(CloseReason::kCompleted, draining_ ? "drained" : "peer went away", false);
    ArmIdleTimer();
  }
}

void Tunnel::LogFlowEnd(const Flow& flow, CloseReason reason, const std::string& detail) {
  const FlowKey& k = flow.key();
  const std::string source = k.src.WithPort(k.src_port);
  WriteAccessLog(AccessRecord{
      .flow_id = flow.id(),
      .tunnel_id = id_,
      .side = flow.side() == Flow::Side::kIngress ? "ingress" : "egress",
      .source = source,
      .target = flow.target(),
      .peer = peer_,
      .sent = flow.bytes_from_host(),
      .received = flow.bytes_to_host(),
      .duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - flow.started()),
      .reason = reason,
      .rule = flow.rule(),
      .detail = detail,
  });
}

void Tunnel::CountFlowEnd(const Flow& flow, CloseReason reason, const std::string& /*detail*/) {
  GatewayMetrics& m = *env_.metrics;
  const bool refusal = reason == CloseReason::kDeniedIngress || reason == CloseReason::kDeniedEgress ||
                       reason == CloseReason::kPolicyRevoked;
  m.flows_ended.With({flow.side() == Flow::Side::kIngress ? "ingress" : "egress", std::string(CloseReasonName(reason)),
                      refusal ? flow.rule() : ""})
      .Add();
  m.flow_duration.With({}).Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - flow.started()).count());
}

void Tunnel::ArmIdleTimer() {
  if (closed_ || role_ != wire::Role::kDialer) return;
  const uint64_t generation = ++idle_generation_;
  idle_timer_.expires_after(env_.config->tunnel.idle_timeout);
  idle_timer_.async_wait([self = weak_from_this(), generation](boost::system::error_code ec) {
    auto t = self.lock();
    if (ec || !t || t->idle_generation_ != generation || !t->flows_.empty()) return;
    spdlog::info("tunnel {} to {}: idle for {}ms, tearing down", t->id_, t->peer_,
                 t->env_.config->tunnel.idle_timeout.count());
    t->Close(CloseReason::kCompleted, "idle", true);
  });
}

void Tunnel::ProtocolError(wire::GoawayReason reason, const std::string& detail) {
  spdlog::error("tunnel {} to {}: protocol error: {}", id_, peer_, detail);
  std::string out;
  if (Encode(wire::Goaway{0, reason, detail}, &out)) {
    for (size_t i = 0; i < lanes_.size(); ++i) {
      if (lanes_[i].lane) EnqueueUp(i, out);
    }
  }
  Close(CloseReason::kTunnelLost, "protocol error: " + detail, false);
}

void Tunnel::Drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  idle_timer_.cancel();
  std::string out;
  if (Encode(wire::Goaway{highest_peer_flow_id_, wire::GoawayReason::kNoError, "gateway draining"}, &out)) {
    for (size_t i = 0; i < lanes_.size(); ++i) {
      if (lanes_[i].lane) EnqueueUp(i, out);
    }
  }
  if (flows_.empty()) Close(CloseReason::kCompleted, "drained", false);
}

void Tunnel::Close(CloseReason reason, const std::string& why, bool goaway) {
  if (closed_) return;
  if (goaway) {
    std::string out;
    if (Encode(wire::Goaway{highest_peer_flow_id_, wire::GoawayReason::kNoError, why}, &out)) {
      for (size_t i = 0; i < lanes_.size(); ++i) {
        if (lanes_[i].lane) EnqueueUp(i, out);
      }
    }
  }
  Flush();
  closed_ = true;
  idle_timer_.cancel();
  grace_timer_.cancel();
  for (Recovery& r : recoveries_) {
    if (r.lane) asio::post(r.lane->executor(), [lane = r.lane] { lane->Close(); });
  }
  recoveries_.clear();
  if (lanes_attached_ > 0) tunnels_up_.Sub();
  lanes_up_.Sub(lanes_live_);
  auto flows = std::move(flows_);
  flows_.clear();
  for (auto& [id, flow] : flows) flow->Abort(reason == CloseReason::kCompleted ? CloseReason::kTunnelLost : reason, why);
  for (LaneSlot& slot : lanes_) {
    if (slot.lane) asio::post(slot.lane->executor(), [lane = slot.lane] { lane->Finish(); });
  }
  spdlog::info("tunnel {} to {} closed: {}", id_, peer_, why);
  if (env_.on_closed) env_.on_closed(id_);
}

void Tunnel::OnLaneWritten(uint16_t lane, uint16_t generation, size_t bytes) {
  LaneSlot& slot = lanes_[lane];
  if (!slot.lane || slot.generation != generation) return;  // a lost connection's
  // A lane also writes frames of its own (PING), which were never counted.
  slot.queued = slot.queued > bytes ? slot.queued - bytes : 0;
  PublishLoad(lane);
  WakeLaneWaiters();
}

void Tunnel::PublishLoad(size_t lane) {
  loads_[lane].queued_bytes = static_cast<uint32_t>(std::min<uint64_t>(lanes_[lane].queued, UINT32_MAX));
}

void Tunnel::WakeLaneWaiters() {
  // OnLaneRoom only sets the flow's wake-up going: nothing here re-enters.
  for (uint32_t id : lane_waiters_) {
    if (auto flow = FindFlow(id)) flow->OnLaneRoom();
  }
  lane_waiters_.clear();
}

void Tunnel::OnLaneProtocolError(uint16_t lane, std::string detail) {
  if (closed_) return;
  ProtocolError(wire::GoawayReason::kProtocolError, "lane " + std::to_string(lane) + ": " + detail);
}

void Tunnel::OnLaneClosed(uint16_t lane, uint16_t generation, std::string reason) {
  if (closed_) return;
  LaneSlot& slot = lanes_[lane];
  if (!slot.lane || slot.generation != generation) {
    // A retired connection that has drained (or failed while draining).
    Recovery* r = FindRecovery(lane, generation);
    if (r != nullptr && r->draining) CollectRemains(*r, reason);
    return;  // else already taken off (LoseLane)
  }
  if (!peer_going_away_ || !reason.starts_with(Lane::kClosedByPeer)) return LoseLane(lane, reason);
  // After its GOAWAY the peer closes each lane once everything queued on it
  // was written, so a lane's end follows its last frame. Only when every
  // lane has ended is everything in: then flows whose data all arrived and
  // whose FIN went out finish on their own (their hosts get every byte);
  // the others were cut and are reset.
  slot.lane = nullptr;
  RefreshUsable(lane);
  lanes_up_.Sub();
  ++lanes_ended_;
  if (--lanes_live_ > 0) return;
  std::vector<std::shared_ptr<Flow>> cut;
  for (auto& [id, flow] : flows_) {
    if (!flow->CanFinishWithoutLanes()) cut.push_back(flow);
  }
  for (auto& flow : cut) flow->Abort(CloseReason::kTunnelLost, "the peer closed the tunnel before the flow ended");
  if (flows_.empty()) Close(CloseReason::kCompleted, "peer went away", false);
}

void Tunnel::RecheckPolicy(const PolicySnapshot& snapshot) {
  std::vector<std::pair<std::shared_ptr<Flow>, Decision>> denied;
  for (auto& [id, flow] : flows_) {
    FlowKey key = flow->key();
    if (flow->side() == Flow::Side::kIngress) {
      key.src_gateway = env_.config->name;
      key.dst_gateway = peer_;
    }
    const Decision d = flow->dst_known() ? snapshot.Decide(key) : snapshot.DecideAnyDst(key);
    if (d.action != Action::kPermit) denied.emplace_back(flow, d);
  }
  for (auto& [flow, d] : denied) {
    std::string rule = snapshot.table ? snapshot.table->RuleId(d) : "";
    if (rule.empty()) rule = "(default)";
    SendRst(*flow, wire::ResetReason::kPolicyRevoked, rule);
    flow->set_rule(rule == "(default)" ? "" : rule);
    flow->Abort(CloseReason::kPolicyRevoked, "denied by rule " + rule + " after policy version " +
                                                 std::to_string(snapshot.version));
  }
}

}  // namespace braid::proxy
