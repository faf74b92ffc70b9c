#include "proxy/flow/flow.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <vector>

#include "proxy/tunnel/tunnel.h"
#include "proxy/wire/frame_buffer.h"
#include "proxy/wire/frame_codec.h"

namespace braid::proxy {
namespace {

// The most frames one read of the host socket fills (one readv of up to
// 128 KiB).
constexpr size_t kFramesPerRead = 8;
// About this much leaves the ReassemblyBuffer for one write to the host.
constexpr size_t kWriteChunk = 256 * 1024;

}  // namespace

Flow::Flow(uint32_t id, Side side, tcp::socket host, FlowKey key, std::string target, std::string rule,
           std::weak_ptr<Tunnel> tunnel, FlowWindow::Options window, std::shared_ptr<WindowBudget> budget)
    : id_(id),
      side_(side),
      host_(std::move(host)),
      key_(std::move(key)),
      target_(std::move(target)),
      rule_(std::move(rule)),
      tunnel_(std::move(tunnel)),
      window_(window, std::move(budget)),
      rx_({.window_bytes = window_.bytes(), .window_frames = window_.frames()}),
      credit_wake_(host_.get_executor(), asio::steady_timer::time_point::max()),
      data_wake_(host_.get_executor(), asio::steady_timer::time_point::max()),
      started_(std::chrono::steady_clock::now()) {}

void Flow::Start(uint64_t byte_limit, uint64_t seq_limit) {
  tx_.emplace(control_lane_, byte_limit, seq_limit);
  carrying_ = true;
  boost::system::error_code ignored;
  host_.set_option(tcp::no_delay(true), ignored);
  asio::co_spawn(host_.get_executor(), [self = shared_from_this()] { return self->HostToTunnel(); }, asio::detached);
  asio::co_spawn(host_.get_executor(), [self = shared_from_this()] { return self->TunnelToHost(); }, asio::detached);
}

void Flow::OnCredit(uint64_t byte_limit, uint64_t seq_limit) {
  // Before Start there is nothing to raise, and nothing is lost: a peer
  // sends CREDIT on the control lane behind its OPEN_OK (ingress), or only
  // once it received DATA, which follows our OPEN_OK (egress).
  if (!tx_) return;
  tx_->OnCredit(byte_limit, seq_limit);
  credit_wake_.cancel();
}

void Flow::OnLaneRoom() {
  waiting_for_lanes_ = false;
  credit_wake_.cancel();
}

void Flow::OnReceived() { data_wake_.cancel(); }

bool Flow::HostWasReset() {
  // With Asio's io_uring backend, a reset that arrives while no read is
  // pending can reach us as a plain end of stream: something consumes the
  // socket's pending error first, and Linux then reports 0 bytes. The TCP
  // state still tells them apart. A FIN leaves the socket in CLOSE_WAIT (or
  // TIME_WAIT once we have sent ours); only a reset, or our own FIN fully
  // acknowledged after theirs, reaches CLOSE. So until we have half-closed
  // the host (rx_done_), CLOSE at an end of stream means a reset.
  if (rx_done_) return false;
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(host_.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  return info.tcpi_state == TCP_CLOSE;
}

void Flow::ResetHost() {
  boost::system::error_code ignored;
  if (!host_.is_open()) return;
  // SO_LINGER with a zero timeout makes close() send RST: the host sees a
  // reset, never a clean end of stream.
  host_.set_option(asio::socket_base::linger(true, 0), ignored);
  host_.close(ignored);
}

void Flow::Abort(CloseReason reason, std::string detail) {
  if (ended_) return;
  ended_ = true;
  ResetHost();
  credit_wake_.cancel();
  data_wake_.cancel();
  if (auto t = tunnel_.lock()) t->OnFlowEnded(*this, reason, std::move(detail));
}

void Flow::MaybeEnd() {
  if (ended_ || !tx_done_ || !rx_done_) return;
  ended_ = true;
  boost::system::error_code ignored;
  host_.close(ignored);
  if (auto t = tunnel_.lock()) t->OnFlowEnded(*this, CloseReason::kCompleted, "");
}

asio::awaitable<void> Flow::HostToTunnel() {
  auto self = shared_from_this();
  std::array<std::string, kFramesPerRead> frames;
  std::array<asio::mutable_buffer, kFramesPerRead> buffers;
  // How many frames the next read offers: one for a flow that sends little
  // (an idle flow holds one 16 KiB frame, not eight), doubling while reads
  // fill every frame offered, halving when they do not.
  size_t frames_per_read = 1;
  StripeScheduler& tx = *tx_;
  while (!ended_) {
    // The first frame's size; 0 when out of byte or sequence credit.
    const uint32_t frame_len = tx.SendableBytes();
    if (frame_len == 0) {
      // Out of credit: stop reading, so the host's TCP window closes.
      credit_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await credit_wake_.async_wait(kAsTuple);
      continue;
    }
    auto tunnel = tunnel_.lock();
    if (!tunnel) {
      Abort(CloseReason::kTunnelLost, "tunnel gone");
      co_return;
    }
    // Read no more frames than the lanes have room for, so that what is
    // read goes out at once; none at all while every lane is full, so the
    // host's TCP window closes until a lane drains.
    const uint32_t fit = StripeScheduler::FramesThatFit(frame_len, tunnel->lane_loads(),
                                                        static_cast<uint32_t>(frames_per_read));
    if (fit == 0) {
      if (!waiting_for_lanes_) {
        waiting_for_lanes_ = true;
        tunnel->WaitForLaneRoom(*this);
      }
      credit_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await credit_wake_.async_wait(kAsTuple);
      continue;
    }
    tunnel.reset();  // not held across the read
    const uint64_t seq_room = tx.seq_limit() - tx.next_seq();
    size_t count = 0;
    uint64_t left = tx.byte_limit() - tx.bytes_sent();
    while (count < fit && count < seq_room && left > 0) {
      const size_t payload = static_cast<size_t>(std::min<uint64_t>(left, wire::kMaxPayload));
      ResizeForOverwrite(frames[count], wire::kHeaderSize + payload);
      buffers[count] = asio::buffer(frames[count].data() + wire::kHeaderSize, payload);
      left -= payload;
      ++count;
    }
    auto [ec, n] = co_await host_.async_read_some(std::span(buffers.data(), count), kAsTuple);
    if (ended_) co_return;
    tunnel = tunnel_.lock();
    if (!tunnel) {
      Abort(CloseReason::kTunnelLost, "tunnel gone");
      co_return;
    }
    if (ec == asio::error::eof && HostWasReset()) ec = asio::error::connection_reset;
    if (ec == asio::error::eof) {
      tunnel->SendFin(*this, tx.Finish());
      tx_done_ = true;
      MaybeEnd();
      co_return;
    }
    if (ec) {
      tunnel->SendRst(*this, wire::ResetReason::kHostReset, ec.message());
      Abort(CloseReason::kHostReset, "host: " + ec.message());
      co_return;
    }
    size_t offered = 0;
    for (size_t i = 0; i < count; ++i) offered += frames[i].size() - wire::kHeaderSize;
    if (n == offered && count == frames_per_read) {
      frames_per_read = std::min(frames_per_read * 2, kFramesPerRead);
    } else if (n <= offered / 2) {
      frames_per_read = std::max<size_t>(frames_per_read / 2, 1);
    }
    const auto now = StripeScheduler::Clock::now();
    for (size_t i = 0; i < count && n > 0; ++i) {
      const size_t take = std::min(n, frames[i].size() - wire::kHeaderSize);
      // Bytes read are always sent: the credit was checked before the read
      // (it only grows), and kOverflow places the frame even if other
      // flows' frames took the room FramesThatFit counted.
      const StripeScheduler::Pick pick = tx.PickLane(static_cast<uint32_t>(take), tunnel->lane_loads(), now,
                                                     StripeScheduler::WhenFull::kOverflow);
      if (pick.status != StripeScheduler::PickStatus::kOk) {  // impossible, see above
        tunnel->SendRst(*this, wire::ResetReason::kInternal, "send scheduler");
        Abort(CloseReason::kLimit, "send scheduler: " + std::string(PickStatusName(pick.status)));
        co_return;
      }
      frames[i].resize(wire::kHeaderSize + take);
      (void)EncodeDataHeader(id_, pick.seq, take, std::span<char, wire::kHeaderSize>(frames[i].data(), wire::kHeaderSize));
      n -= take;
      tunnel->SendData(pick.lane, std::move(frames[i]));
      frames[i] = std::string();
    }
  }
}

void Flow::GrantCredit() {
  auto tunnel = tunnel_.lock();
  if (!tunnel) return;
  if (rx_.CreditDue()) {
    window_.OnCreditDue(std::chrono::steady_clock::now(), tunnel->RoundTrip());
    rx_.SetWindow(window_.bytes(), window_.frames());
  }
  window_.Settle(rx_.credit_ahead());
  uint64_t byte_limit = 0, seq_limit = 0;
  if (rx_.MaybeGrantCredit(&byte_limit, &seq_limit)) tunnel->SendCredit(*this, byte_limit, seq_limit);
}

asio::awaitable<void> Flow::TunnelToHost() {
  auto self = shared_from_this();
  std::vector<std::string> chunks;
  std::vector<asio::const_buffer> buffers;
  while (!ended_) {
    if (rx_.readable_bytes() == 0) {
      if (rx_.IsFinished()) {
        boost::system::error_code ignored;
        host_.shutdown(tcp::socket::shutdown_send, ignored);
        rx_done_ = true;
        MaybeEnd();
        co_return;
      }
      // A window that grew waits only kWindowIdleReset for more: a timer
      // that expires (OnReceived cancels it) means nothing came, and the
      // window goes back to its initial size.
      const bool grown = window_.grown();
      if (grown) {
        data_wake_.expires_after(kWindowIdleReset);
      } else {
        data_wake_.expires_at(asio::steady_timer::time_point::max());
      }
      auto [ec] = co_await data_wake_.async_wait(kAsTuple);
      if (!ec && grown && !ended_ && rx_.readable_bytes() == 0) {
        window_.OnIdle(rx_.credit_ahead());
        rx_.SetWindow(window_.bytes(), window_.frames());
      }
      continue;
    }
    // The received frames themselves go to the host in one gathered write:
    // no copy. Taking them consumes them, so credit is granted now and the
    // peer sends on while this write is in progress.
    chunks.clear();
    rx_.TakeReady(&chunks, kWriteChunk);
    GrantCredit();
    buffers.clear();
    for (const std::string& chunk : chunks) buffers.push_back(asio::buffer(chunk));
    auto [ec, written] = co_await asio::async_write(host_, buffers, kAsTuple);
    if (ended_) co_return;
    if (ec) {
      if (auto t = tunnel_.lock()) t->SendRst(*this, wire::ResetReason::kHostReset, ec.message());
      Abort(CloseReason::kHostReset, "host: " + ec.message());
      co_return;
    }
  }
}

}  // namespace braid::proxy
