#include "proxy/tunnel/tunnel_manager.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "absl/strings/match.h"
#include "proxy/wire/frame_codec.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

using namespace asio::experimental::awaitable_operators;

// ReadLaneHello reads exactly one frame from a freshly handshaken lane and
// requires it to be a LANE_HELLO. Reads nothing past it, so the Lane's own
// read loop starts at the next frame.
// SetLaneSocketOptions prepares a lane's TCP connection, on either side.
//  - No Nagle: a lane writes whole batches of records; a small frame (a
//    CREDIT, a request) must leave at once.
//  - TCP_NOTSENT_LOWAT: the kernel keeps at most about one lane write
//    (Lane::kMaxFlushBytes) of bytes it has not yet sent. Without it, a
//    lane that outruns its peer fills the send buffer (megabytes, as
//    autotuned), and a small flow's frame, however early the lane's fair
//    queue lets it go, waits behind all of it in the kernel. Bytes in
//    flight are not limited, so a long link still fills its window.
void SetLaneSocketOptions(tcp::socket& socket) {
  using NotSentLowat = asio::detail::socket_option::integer<IPPROTO_TCP, TCP_NOTSENT_LOWAT>;
  boost::system::error_code ignored;  // both are optimizations only
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(NotSentLowat(static_cast<int>(Lane::kMaxFlushBytes)), ignored);
}

asio::awaitable<std::optional<wire::LaneHello>> ReadLaneHello(TlsConnection& connection, std::string* error) {
  std::array<char, wire::kHeaderSize + wire::kLaneHelloPayloadSize> buf;
  boost::system::error_code ec = co_await connection.ReadExactly(std::span<char>(buf.data(), wire::kHeaderSize));
  if (ec) {
    *error = "reading LANE_HELLO: " + ec.message();
    co_return std::nullopt;
  }
  wire::FrameHeader header;
  DecodeError decode = ParseHeader(std::span<const char, wire::kHeaderSize>(buf.data(), wire::kHeaderSize), std::nullopt, &header);
  if (decode != DecodeError::kNone || header.type != wire::FrameType::kLaneHello ||
      header.length != wire::kLaneHelloPayloadSize) {
    *error = "first frame is not a valid LANE_HELLO";
    co_return std::nullopt;
  }
  ec = co_await connection.ReadExactly(std::span<char>(buf.data() + wire::kHeaderSize, header.length));
  if (ec) {
    *error = "reading LANE_HELLO: " + ec.message();
    co_return std::nullopt;
  }
  wire::Frame frame;
  if (ParseFrame(std::string_view(buf.data(), buf.size()), std::nullopt, &frame) != DecodeError::kNone) {
    *error = "malformed LANE_HELLO";
    co_return std::nullopt;
  }
  co_return std::get<wire::LaneHello>(frame);
}

Lane::Options LaneOptions(const TunnelConfig& cfg, wire::Role role, GatewayMetrics& metrics, const std::string& peer,
                          uint16_t index, uint16_t generation) {
  const std::string lane = std::to_string(index);
  return Lane::Options{role,
                       cfg.key_update_records,
                       cfg.key_limit == TunnelConfig::KeyLimit::kRotate,
                       cfg.keepalive_interval,
                       cfg.keepalive_timeout,
                       generation,
                       &metrics.lane_bytes.With({peer, lane, "sent"}),
                       &metrics.lane_bytes.With({peer, lane, "received"}),
                       &metrics.key_updates};
}

// CountHandshake counts a lane's TLS handshake (GatewayMetrics::handshakes).
void CountHandshake(GatewayMetrics& metrics, const char* side, bool ok, SSL* ssl) {
  metrics.handshakes.With({side, ok ? "ok" : "failed", ok && HandshakeResumed(ssl) ? "yes" : "no"}).Add();
}

template <typename Op>
asio::awaitable<boost::system::error_code> WithTimeout(Op op, Duration timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (std::move(op) || timer.async_wait(kAsTuple));
  if (result.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(std::get<0>(result));
}

}  // namespace

TunnelManager::TunnelManager(WorkerPool& workers, TunnelEnv env, std::shared_ptr<const TlsContext> tls,
                             unsigned cores)
    : workers_(workers),
      limits_(env.config->limits.max_flows, env.config->limits.max_flows_per_source, *env.metrics),
      env_(std::move(env)),
      tls_(std::move(tls)),
      cores_(cores) {
  env_.on_closed = [this](uint64_t id) { OnTunnelClosed(id); };
  env_.dial_lane = [this](std::shared_ptr<Tunnel> tunnel, uint16_t index, std::optional<uint16_t> replacing) {
    asio::co_spawn(*env_.control, KeepLaneUp(std::move(tunnel), index, replacing), asio::detached);
  };
  env_.limits = &limits_;
  env_.window_budget = std::make_shared<WindowBudget>(env_.config->limits.window_budget_bytes);
}

asio::io_context& TunnelManager::LaneWorker(uint16_t index) {
  // Lanes start on the workers after the control worker, which already
  // carries the flows.
  return workers_.context((1 + index) % workers_.size());
}

void TunnelManager::CarryFlow(tcp::socket host, FlowKey key, const ServiceConfig& service, std::string rule) {
  std::shared_ptr<Tunnel>& tunnel = dialed_[service.peer];
  if (!tunnel || tunnel->closed() || tunnel->going_away()) {
    const PeerConfig* peer = env_.config->FindPeer(service.peer);
    uint64_t id = 0;
    while (id == 0) RAND_bytes(reinterpret_cast<uint8_t*>(&id), sizeof(id));
    // As many lane slots as the tunnel can have; the first lane may cut
    // them down (Dial).
    const uint16_t lanes = MaxLaneCount(env_.config->tunnel, cores_);
    tunnel = std::make_shared<Tunnel>(env_, wire::Role::kDialer, service.peer, id, lanes,
                                      std::array<uint8_t, wire::kBinderSize>{});
    tunnels_[id] = tunnel;
    spdlog::info("tunnel {} to {}: dialing at {}", id, service.peer, peer->address.ToString());
    asio::co_spawn(*env_.control, Dial(tunnel, *peer), asio::detached);
  }
  tunnel->OpenIngressFlow(std::move(host), std::move(key), service, std::move(rule));
}

namespace {

// LaneDial is what dialing one lane needs, copied on the control worker
// for the lane's worker.
struct LaneDial {
  std::shared_ptr<const GatewayConfig> config;
  std::shared_ptr<const TlsContext> tls;
  GatewayMetrics* metrics = nullptr;  // thread-safe
  PeerConfig peer;
  uint64_t tunnel_id = 0;
  uint16_t lane_count = 0;  // for lane 0 with tunnel.lanes = 0: at most this many
  unsigned cores = 0;
  uint16_t index = 0;
  uint16_t generation = 0;  // 0: the lane's first connection
  LaneBinder binder{};  // the tunnel's, from lane 0 (unknown when dialing lane 0)
};

// DialedLane: the lane, up, and the binder its LANE_HELLO carried; or no
// lane and why.
struct DialedLane {
  std::shared_ptr<Lane> lane;
  LaneBinder binder{};
  uint16_t lane_count = 0;                 // as its LANE_HELLO said
  std::chrono::microseconds round_trip{};  // lane 0's, when it decided the count
  std::string error;
};

// DialLaneOnItsWorker dials lane `dial.index` of a tunnel: connect, TLS
// handshake, LANE_HELLO both ways. Runs on the lane's worker and touches
// nothing but `dial` and its own connection.
asio::awaitable<DialedLane> DialLaneOnItsWorker(LaneDial dial) {
  DialedLane dialed;
  std::string* error = &dialed.error;
  const PeerConfig& peer = dial.peer;
  const uint16_t index = dial.index;
  const TunnelConfig& cfg = dial.config->tunnel;
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = dial.tls->NewClientSsl(peer.name);
  if (!ssl.ok()) {
    *error = std::string(ssl.status().message());
    co_return dialed;
  }
  // The connection adopts the SSL that TlsContext configured for this peer.
  const asio::any_io_executor worker = co_await asio::this_coro::executor;
  auto conn = std::make_unique<TlsConnection>(tcp::socket(worker), std::move(*ssl));
  tcp::resolver resolver(worker);
  auto [rec, endpoints] = co_await resolver.async_resolve(peer.address.host, std::to_string(peer.address.port),
                                                          kAsTuple);
  if (rec) {
    *error = "resolving " + peer.address.ToString() + ": " + rec.message();
    co_return dialed;
  }
  boost::system::error_code ec = co_await WithTimeout(
      asio::async_connect(conn->socket(), endpoints, asio::as_tuple(asio::use_awaitable)), cfg.handshake_timeout);
  if (ec) {
    *error = "connecting to " + peer.address.ToString() + ": " + ec.message();
    co_return dialed;
  }
  SetLaneSocketOptions(conn->socket());
  ec = co_await WithTimeout(conn->Handshake(), cfg.handshake_timeout);
  if (ec == asio::error::timed_out) dial.metrics->limit_hits.With({"handshake_timeout"}).Add();
  if (!ec) {
    if (absl::Status s = CheckEstablished(conn->ssl()); !s.ok()) {
      CountHandshake(*dial.metrics, "dial", false, conn->ssl());
      *error = "TLS handshake with " + peer.name + ": " + std::string(s.message());
      co_return dialed;
    }
  }
  CountHandshake(*dial.metrics, "dial", !ec, conn->ssl());
  if (ec) {
    *error = "TLS handshake with " + peer.name + ": " + conn->ErrorText(ec);
    co_return dialed;
  }
  // Lane 0's first handshake gives the tunnel its binder; the others, and
  // lane 0 redialed, carry it.
  dialed.binder = dial.binder;
  if (index == 0 && dial.generation == 0) {
    absl::StatusOr<LaneBinder> binder = ExportLaneBinder(conn->ssl(), dial.tunnel_id);
    if (!binder.ok()) {
      *error = std::string(binder.status().message());
      co_return dialed;
    }
    dialed.binder = *binder;
  }
  // Lane 0 fixes the tunnel's lane count (LaneCount); the handshake has
  // measured its round trip. The other lanes repeat the count.
  dialed.lane_count = dial.lane_count;
  if (index == 0 && dial.generation == 0 && cfg.lanes == 0) {
    TcpStats tcp;
    if (ReadTcpStats(conn->socket().native_handle(), &tcp)) dialed.round_trip = std::chrono::microseconds(tcp.rtt_us);
    dialed.lane_count = std::min(dial.lane_count, LaneCount(cfg, dial.cores, dialed.round_trip));
  }
  wire::LaneHello hello{dial.tunnel_id, wire::kProtocolVersion, index, dialed.lane_count, dial.generation,
                        dialed.binder};
  std::string out;
  (void)Encode(hello, &out);
  if (!conn->Seal(out)) {
    *error = "sending LANE_HELLO: " + conn->ErrorText({});
    co_return dialed;
  }
  if (boost::system::error_code wec = co_await conn->Flush()) {
    *error = "sending LANE_HELLO: " + wec.message();
    co_return dialed;
  }
  std::optional<wire::LaneHello> reply = co_await ReadLaneHello(*conn, error);
  if (!reply) {
    // The server checks our certificate after our handshake completes: its
    // refusal arrives here, on the first read.
    *error = "lane " + std::to_string(index) + " to " + peer.name + ": " +
             conn->ErrorText(asio::error::connection_aborted) + " (" + *error + ")";
    co_return dialed;
  }
  if (reply->version != wire::kProtocolVersion) {
    *error = "peer answered LANE_HELLO with protocol version " + std::to_string(reply->version);
    co_return dialed;
  }
  if (reply->tunnel_id != hello.tunnel_id || reply->lane_index != index || reply->lane_count != hello.lane_count ||
      reply->generation != hello.generation || reply->binder != hello.binder) {
    *error = "peer answered LANE_HELLO for another tunnel or lane";
    co_return dialed;
  }
  spdlog::debug("tunnel {} lane {} to {} up{}", dial.tunnel_id, index, peer.name,
                HandshakeResumed(conn->ssl()) ? " (resumed)" : "");
  dialed.lane = std::make_shared<Lane>(
      std::move(conn), index, LaneOptions(cfg, wire::Role::kDialer, *dial.metrics, peer.name, index, dial.generation));
  co_return dialed;
}

}  // namespace

asio::awaitable<std::shared_ptr<Lane>> TunnelManager::DialLane(std::shared_ptr<Tunnel> tunnel, const PeerConfig& peer,
                                                               uint16_t index, uint16_t generation,
                                                               std::string* error) {
  // The lane's socket belongs to its worker, so the dial runs there, as
  // ServeLane does on the accepting side: an Asio object is used only on
  // the thread that runs its io_context. (The control worker used to
  // connect and handshake the socket itself while the lane worker's
  // io_uring loop reaped its completions, unsynchronized: a data race that
  // ThreadSanitizer reported in every dialing gateway.) The dial gets
  // copies of what it needs and hands back the lane, or why there is none;
  // the tunnel is touched only here.
  LaneDial dial{.config = env_.config,  // held for the whole dial: a reload may replace env_'s meanwhile
                .tls = tls_,
                .metrics = env_.metrics,
                .peer = peer,
                .tunnel_id = tunnel->id(),
                .lane_count = tunnel->lane_count(),
                .cores = cores_,
                .index = index,
                .generation = generation,
                .binder = tunnel->binder()};
  DialedLane dialed = co_await asio::co_spawn(LaneWorker(index), DialLaneOnItsWorker(std::move(dial)),
                                              asio::use_awaitable);
  if (!dialed.lane) {
    *error = std::move(dialed.error);
    co_return nullptr;
  }
  if (index == 0 && generation == 0) {
    tunnel->SetBinder(dialed.binder);
    if (env_.config->tunnel.lanes == 0) {
      spdlog::info("tunnel {} to {}: first lane's round trip {:.2f} ms: {} lanes", tunnel->id(), peer.name,
                   dialed.round_trip.count() / 1000.0, dialed.lane_count);
    }
    // No lane is attached yet, so no flow uses any slot but lane 0's.
    tunnel->SetLaneCount(dialed.lane_count);
  }
  co_return dialed.lane;
}

asio::awaitable<void> TunnelManager::Dial(std::shared_ptr<Tunnel> tunnel, PeerConfig peer) {
  std::string error;
  std::shared_ptr<Lane> first = co_await DialLane(tunnel, peer, 0, 0, &error);
  if (!first) {
    spdlog::error("tunnel {} to {}: {}", tunnel->id(), peer.name, error);
    tunnel->Close(CloseReason::kTunnelLost, error, false);
    co_return;
  }
  if (tunnel->closed()) co_return;
  tunnel->AttachLane(first);
  // The other lanes in parallel; lane 0's session ticket lets them resume.
  // A lane that fails is dialed again, as one lost later would be.
  for (uint16_t i = 1; i < tunnel->lane_count(); ++i) {
    if (tunnel->StartRedial(i)) asio::co_spawn(*env_.control, KeepLaneUp(tunnel, i, std::nullopt), asio::detached);
  }
}

asio::awaitable<void> TunnelManager::KeepLaneUp(std::shared_ptr<Tunnel> tunnel, uint16_t index,
                                                std::optional<uint16_t> replacing) {
  std::chrono::milliseconds backoff{0};
  asio::steady_timer timer(*env_.control);
  // Whether the connection to replace is still the lane's: if it was lost
  // meanwhile, this is a plain redial.
  auto replaces = [&] {
    return replacing && tunnel->HasLane(index) && tunnel->LaneGeneration(index) == *replacing;
  };
  for (;;) {
    if (backoff.count() > 0) {
      timer.expires_after(backoff);
      co_await timer.async_wait(kAsTuple);
    }
    const PeerConfig* peer = env_.config->FindPeer(tunnel->peer());
    if (tunnel->closed() || tunnel->going_away() || peer == nullptr) break;
    if (tunnel->HasLane(index) && !replaces()) break;
    const PeerConfig copy = *peer;  // the config may be replaced while we dial
    const uint16_t generation = tunnel->NextGeneration(index);
    std::string error;
    std::shared_ptr<Lane> lane = co_await DialLane(tunnel, copy, index, generation, &error);
    if (lane) {
      if (tunnel->closed() || tunnel->WasLost(index, generation) || (tunnel->HasLane(index) && !replaces())) {
        asio::post(lane->executor(), [lane] { lane->Close(); });
      } else if (tunnel->HasLane(index)) {
        tunnel->ReplaceLane(lane);
      } else {
        tunnel->AttachLane(lane);
      }
      break;
    }
    if (replaces()) {
      // The connection it was to replace is still up and keeps the lane.
      spdlog::warn("tunnel {} to {}: lane {}: no connection to replace connection {}: {}", tunnel->id(), copy.name,
                   index, *replacing, error);
      break;
    }
    backoff = std::clamp(backoff * 2, kRedialFirst, kRedialMax);
    spdlog::warn("tunnel {} to {}: lane {}: {}; next attempt in {} ms", tunnel->id(), copy.name, index, error,
                 backoff.count());
  }
  tunnel->EndRedial(index);
}

asio::awaitable<void> TunnelManager::AcceptLoop(tcp::acceptor& acceptor) {
  while (acceptor.is_open()) {
    asio::io_context& worker = workers_.context(next_accept_worker_++);
    auto [ec, socket] = co_await acceptor.async_accept(worker, kAsTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning.
      spdlog::warn("tunnel listener: accept: {}", ec.message());
      asio::steady_timer pause(*env_.control, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    // Each connection holds memory (a TLS object, buffers) until it
    // authenticates or times out: past max_handshakes at once, newcomers
    // are closed unread, so a flood costs bounded memory. One address may
    // hold at most half of them, so that a flood from one place does not
    // lock a real peer out.
    boost::system::error_code ignored;
    const asio::ip::address from = socket.remote_endpoint(ignored).address();
    const uint32_t max = env_.config->limits.max_handshakes;
    if (!TryStartHandshake(from, max)) {
      env_.metrics->limit_hits.With({"max_handshakes"}).Add();
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(worker, ServeLane(std::move(socket), env_.config, tls_),
                   [this, from](std::exception_ptr) { EndHandshake(from); });
  }
}

bool TunnelManager::TryStartHandshake(const asio::ip::address& from, uint32_t max) {
  std::lock_guard lock(handshakes_mu_);
  uint32_t& mine = handshakes_by_source_[from];
  if (handshakes_ >= max || mine >= std::max<uint32_t>(1, max / 2)) {
    if (mine == 0) handshakes_by_source_.erase(from);
    return false;
  }
  ++mine;
  ++handshakes_;
  return true;
}

void TunnelManager::EndHandshake(const asio::ip::address& from) {
  std::lock_guard lock(handshakes_mu_);
  auto it = handshakes_by_source_.find(from);
  if (it != handshakes_by_source_.end() && --it->second == 0) handshakes_by_source_.erase(it);
  --handshakes_;
}

asio::awaitable<void> TunnelManager::ServeLane(tcp::socket socket, std::shared_ptr<const GatewayConfig> config,
                                               std::shared_ptr<const TlsContext> tls) {
  const TunnelConfig& cfg = config->tunnel;
  boost::system::error_code ignored;
  const auto remote = socket.remote_endpoint(ignored);
  const std::string from = remote.address().to_string() + ":" + std::to_string(remote.port());
  SetLaneSocketOptions(socket);
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = tls->NewServerSsl();
  if (!ssl.ok()) {
    spdlog::error("tunnel listener: {}", std::string(ssl.status().message()));
    co_return;
  }
  auto conn = std::make_unique<TlsConnection>(std::move(socket), std::move(*ssl));
  boost::system::error_code ec = co_await WithTimeout(conn->Handshake(), cfg.handshake_timeout);
  if (ec == asio::error::timed_out) env_.metrics->limit_hits.With({"handshake_timeout"}).Add();
  if (ec) {
    CountHandshake(*env_.metrics, "accept", false, conn->ssl());
    spdlog::warn("tunnel listener: rejected {}: {}", from, conn->ErrorText(ec));
    co_return;
  }
  absl::Status established = CheckEstablished(conn->ssl());
  CountHandshake(*env_.metrics, "accept", established.ok(), conn->ssl());
  if (absl::Status s = established; !s.ok()) {
    spdlog::warn("tunnel listener: rejected {}: {}", from, std::string(s.message()));
    co_return;
  }
  absl::StatusOr<std::string> peer = PeerName(conn->ssl());
  if (!peer.ok()) {
    spdlog::warn("tunnel listener: rejected {}: {}", from, std::string(peer.status().message()));
    co_return;
  }
  if (!config->peers.empty() && !config->FindPeer(*peer)) {
    spdlog::warn("tunnel listener: rejected {}: gateway {} is not a configured peer", from, *peer);
    co_return;
  }
  std::string error;
  std::optional<wire::LaneHello> hello;
  {
    asio::steady_timer timer(co_await asio::this_coro::executor, cfg.handshake_timeout);
    auto result = co_await (ReadLaneHello(*conn, &error) || timer.async_wait(kAsTuple));
    if (result.index() == 0) hello = std::get<0>(result);
    if (result.index() == 1) error = "no LANE_HELLO in time";
  }
  if (!hello) {
    spdlog::warn("tunnel listener: rejected {} ({}): {}", from, *peer, error);
    co_return;
  }
  if (hello->version != wire::kProtocolVersion) {
    // Answered, so that a newer peer learns why instead of guessing from a
    // closed connection (docs/protocol.md, "Lane setup").
    spdlog::warn("tunnel listener: rejected {} ({}): LANE_HELLO version {}, this gateway speaks {}", from, *peer,
                 hello->version, wire::kProtocolVersion);
    std::string out;
    if (Encode(wire::Goaway{0, wire::GoawayReason::kVersionMismatch, "unsupported protocol version"}, &out) &&
        conn->Seal(out)) {
      (void)co_await conn->Flush();
    }
    co_return;
  }
  if (hello->lane_index == 0 && hello->generation == 0) {
    absl::StatusOr<LaneBinder> own = ExportLaneBinder(conn->ssl(), hello->tunnel_id);
    if (!own.ok() || *own != hello->binder) {
      spdlog::warn("tunnel listener: rejected {} ({}): lane 0 binder does not match its TLS session", from, *peer);
      co_return;
    }
  }
  auto lane = std::make_shared<Lane>(
      std::move(conn), hello->lane_index,
      LaneOptions(cfg, wire::Role::kAcceptor, *env_.metrics, *peer, hello->lane_index, hello->generation));
  asio::post(*env_.control, [this, peer = *peer, hello = *hello, lane] { BindLane(peer, hello, lane); });
}

void TunnelManager::BindLane(std::string peer, wire::LaneHello hello, std::shared_ptr<Lane> lane) {
  auto reject = [&](const std::string& why) {
    spdlog::warn("tunnel {} from {}: lane {} rejected: {}", hello.tunnel_id, peer, hello.lane_index, why);
    asio::post(lane->executor(), [lane] { lane->Close(); });
  };
  auto it = tunnels_.find(hello.tunnel_id);
  std::shared_ptr<Tunnel> tunnel;
  if (hello.lane_index == 0 && hello.generation == 0) {
    if (draining_) return reject("this gateway is draining");
    if (it != tunnels_.end()) return reject("tunnel id already in use");
    tunnel = std::make_shared<Tunnel>(env_, wire::Role::kAcceptor, peer, hello.tunnel_id, hello.lane_count, hello.binder);
    tunnels_[hello.tunnel_id] = tunnel;
    spdlog::info("tunnel {} from {}: accepted, {} lanes", hello.tunnel_id, peer, hello.lane_count);
  } else {
    if (it == tunnels_.end() || it->second->closed()) return reject("no such tunnel");
    tunnel = it->second;
    if (tunnel->peer() != peer) return reject("lane certificate names " + peer + ", tunnel belongs to " + tunnel->peer());
    // In constant time: whoever holds a certificate of the CA must not learn,
    // from how long a refusal takes, how much of a guessed binder was right.
    if (CRYPTO_memcmp(tunnel->binder().data(), hello.binder.data(), hello.binder.size()) != 0) {
      return reject("binder does not match the tunnel's first lane");
    }
    if (hello.lane_count != tunnel->lane_count()) return reject("lane count does not fit the tunnel");
    if (tunnel->WasLost(hello.lane_index, hello.generation)) return reject("that connection of the lane was lost");
    if (tunnel->HasLane(hello.lane_index) && tunnel->LaneGeneration(hello.lane_index) == hello.generation) {
      return reject("lane already attached");
    }
  }
  std::string out;
  (void)Encode(hello, &out);  // the answer echoes the tunnel, lane and binder
  asio::post(lane->executor(), [lane, out = std::move(out)]() mutable {
    std::vector<std::string> frames;
    frames.push_back(std::move(out));
    lane->Send(std::move(frames));
  });
  // A new connection of a lane that is up replaces it make-before-break:
  // the old one drains. If the dialer had lost it instead, its LANE_LOST
  // follows on the new connection at once and ends the draining.
  if (tunnel->HasLane(hello.lane_index)) {
    tunnel->ReplaceLane(lane);
  } else {
    tunnel->AttachLane(lane);
  }
}

void TunnelManager::OnTunnelClosed(uint64_t id) {
  auto it = tunnels_.find(id);
  if (it == tunnels_.end()) return;
  auto d = dialed_.find(it->second->peer());
  if (d != dialed_.end() && d->second == it->second) dialed_.erase(d);
  tunnels_.erase(it);
}

std::vector<std::shared_ptr<Tunnel>> TunnelManager::LiveTunnels() const {
  std::vector<std::shared_ptr<Tunnel>> live;
  live.reserve(tunnels_.size());
  for (const auto& [id, tunnel] : tunnels_) live.push_back(tunnel);
  return live;
}

void TunnelManager::RecheckPolicy() {
  std::shared_ptr<const PolicySnapshot> snapshot = env_.policy->Current();
  // A draining tunnel whose last flow the new policy revokes closes here.
  for (auto& tunnel : LiveTunnels()) tunnel->RecheckPolicy(*snapshot);
}

void TunnelManager::DrainAll() {
  draining_ = true;
  // A tunnel with no flows closes as it drains.
  for (auto& tunnel : LiveTunnels()) tunnel->Drain();
}

void TunnelManager::UpdateConfig(std::shared_ptr<const GatewayConfig> config, std::shared_ptr<const TlsContext> tls) {
  env_.config = std::move(config);
  tls_ = std::move(tls);
  limits_.SetLimits(env_.config->limits.max_flows, env_.config->limits.max_flows_per_source);
  env_.window_budget->SetLimit(env_.config->limits.window_budget_bytes);
  if (env_.config->peers.empty()) return;  // any gateway of the CA may connect
  std::vector<std::shared_ptr<Tunnel>> gone;
  for (auto& [id, tunnel] : tunnels_) {
    if (!env_.config->FindPeer(tunnel->peer())) gone.push_back(tunnel);
  }
  for (auto& tunnel : gone) {
    spdlog::info("reload: tunnel {} to {} closed: no longer a peer", tunnel->id(), tunnel->peer());
    tunnel->Close(CloseReason::kShutdown, tunnel->peer() + " is no longer a peer", true);
  }
}

void TunnelManager::CloseTunnelsTo(const std::string& peer, const std::string& why) {
  std::vector<std::shared_ptr<Tunnel>> gone;
  for (auto& [id, tunnel] : tunnels_) {
    if (absl::EqualsIgnoreCase(tunnel->peer(), peer)) gone.push_back(tunnel);
  }
  for (auto& tunnel : gone) {
    spdlog::warn("tunnel {} to {} closed: {}", tunnel->id(), tunnel->peer(), why);
    tunnel->Close(CloseReason::kShutdown, why, true);
  }
}

void TunnelManager::CloseAll(const std::string& why) {
  for (auto& tunnel : LiveTunnels()) tunnel->Close(CloseReason::kShutdown, why, true);
}

}  // namespace braid::proxy
