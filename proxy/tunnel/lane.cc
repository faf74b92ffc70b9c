#include "proxy/tunnel/lane.h"

#include <algorithm>

#include "proxy/wire/frame_buffer.h"
#include "proxy/wire/frame_codec.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

// A frame at least this large is sealed on its own (a full DATA frame is
// one whole record); smaller ones are gathered so that they share records.
constexpr size_t kSealAlone = wire::kMaxFrameSize / 2;

}  // namespace

Lane::Lane(std::unique_ptr<TlsConnection> connection, uint16_t index, Options options)
    : connection_(std::move(connection)),
      index_(index),
      options_(options),
      wake_(connection_->get_executor(), asio::steady_timer::time_point::max()),
      keepalive_(connection_->get_executor()),
      last_read_(std::chrono::steady_clock::now()) {
  connection_->set_key_update_records(options_.key_update_records);
  connection_->UseLargeInput();
}

template <typename F>
void Lane::ToOwner(F&& f) {
  asio::post(owner_executor_, [owner = owner_, f = std::forward<F>(f)]() mutable {
    if (auto o = owner.lock()) f(*o);
  });
}

void Lane::Start(std::weak_ptr<LaneOwner> owner, asio::any_io_executor owner_executor) {
  owner_ = std::move(owner);
  owner_executor_ = std::move(owner_executor);
  SampleTcpInfo();  // the handshake has already measured the round trip
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->ReadLoop(); }, asio::detached);
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->WriteLoop(); }, asio::detached);
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->KeepaliveLoop(); }, asio::detached);
}

void Lane::SampleTcpInfo() {
  TcpStats s;
  if (!ReadTcpStats(connection_->socket().native_handle(), &s)) return;
  tcp_rtt_us_.store(s.rtt_us, std::memory_order_relaxed);
  tcp_min_rtt_us_.store(s.min_rtt_us, std::memory_order_relaxed);
  tcp_cwnd_.store(s.cwnd_segments, std::memory_order_relaxed);
  tcp_mss_.store(s.mss, std::memory_order_relaxed);
  tcp_retransmits_.store(s.retransmits, std::memory_order_relaxed);
  tcp_delivery_rate_.store(s.delivery_rate, std::memory_order_relaxed);
}

TcpStats Lane::tcp_stats() const {
  return TcpStats{
      .rtt_us = tcp_rtt_us_.load(std::memory_order_relaxed),
      .min_rtt_us = tcp_min_rtt_us_.load(std::memory_order_relaxed),
      .cwnd_segments = tcp_cwnd_.load(std::memory_order_relaxed),
      .mss = tcp_mss_.load(std::memory_order_relaxed),
      .retransmits = tcp_retransmits_.load(std::memory_order_relaxed),
      .delivery_rate = tcp_delivery_rate_.load(std::memory_order_relaxed),
  };
}

asio::awaitable<void> Lane::KeepaliveLoop() {
  auto self = shared_from_this();
  // Check a few times per interval so that neither bound is overshot by
  // much, and at least every kTcpSampleInterval for the TCP statistics.
  const auto tick = std::clamp<std::chrono::milliseconds>(options_.keepalive_interval / 4, std::chrono::milliseconds(10),
                                                          kTcpSampleInterval);
  auto last_ping = std::chrono::steady_clock::now();
  while (!closed_) {
    keepalive_.expires_after(tick);
    co_await keepalive_.async_wait(kAsTuple);
    if (closed_) co_return;
    SampleTcpInfo();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_read_ > options_.keepalive_timeout) {
      Fail("keepalive timeout: nothing from the peer for " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_read_).count()) + " ms");
      co_return;
    }
    // The same bound on the other direction: a write that the peer has not
    // let finish for keepalive_timeout means it reads nothing.
    if (write_started_ != std::chrono::steady_clock::time_point::max() &&
        now - write_started_ > options_.keepalive_timeout) {
      Fail("send stalled: a write has waited for the peer to read for " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - write_started_).count()) +
           " ms");
      co_return;
    }
    // A PING every interval, busy or not: it proves the peer alive to an
    // idle lane, and its answer measures the lane's round-trip time under
    // whatever load it carries (the opaque value is the send time, which
    // the tunnel reads back from the PONG).
    if (now - last_ping >= options_.keepalive_interval) {
      last_ping = now;
      std::string ping;
      const auto sent_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
      if (Encode(wire::Ping{static_cast<uint64_t>(sent_us)}, &ping)) {
        queue_.Push(std::move(ping));
        wake_.cancel();
      }
    }
  }
}

void Lane::Send(std::vector<std::string> frames) {
  if (closed_) return;
  for (std::string& f : frames) queue_.Push(std::move(f));
  wake_.cancel();
}

void Lane::Close() {
  if (closed_) return;
  closed_ = true;
  wake_.cancel();
  keepalive_.cancel();
  connection_->Close();
}

void Lane::Finish() {
  finishing_ = true;
  wake_.cancel();
}

void Lane::Fail(std::string reason) {
  if (closed_) return;
  spdlog::debug("lane {}: {}", index_, reason);
  Close();
  uint16_t index = index_;
  ToOwner([index, reason = std::move(reason)](LaneOwner& o) mutable { o.OnLaneClosed(index, std::move(reason)); });
}

asio::awaitable<void> Lane::ReadLoop() {
  auto self = shared_from_this();
  std::vector<InboundFrame> batch;
  // The frame being read: its header bytes first, then its payload.
  std::array<char, wire::kHeaderSize> header;
  size_t header_filled = 0;
  InboundFrame frame;
  size_t payload_filled = 0;
  bool in_payload = false;
  auto deliver = [&] {
    const uint16_t index = index_;
    ToOwner([index, frames = std::move(batch)](LaneOwner& o) mutable { o.OnLaneFrames(index, std::move(frames)); });
    batch = {};
  };
  while (!closed_) {
    std::span<char> into = in_payload ? std::span<char>(frame.payload).subspan(payload_filled)
                                      : std::span<char>(header).subspan(header_filled);
    size_t n = 0;
    switch (connection_->TryRead(into, &n)) {
      case TlsConnection::ReadStatus::kData:
        options_.bytes_received->Add(n);
        bytes_received_.fetch_add(n, std::memory_order_relaxed);
        break;
      case TlsConnection::ReadStatus::kNeedInput: {
        // Everything buffered is decrypted: hand it over before waiting.
        if (!batch.empty()) deliver();
        if (connection_->unflushed_bytes() > 0) wake_.cancel();  // an alert or a KeyUpdate answer
        boost::system::error_code ec = co_await connection_->Fill();
        if (closed_) co_return;
        if (ec) {
          Fail(ec == asio::error::eof ? std::string(kClosedByPeer) : ec.message());
          co_return;
        }
        last_read_ = std::chrono::steady_clock::now();
        continue;
      }
      case TlsConnection::ReadStatus::kClosed:
        Fail(std::string(kClosedByPeer));
        co_return;
      case TlsConnection::ReadStatus::kError:
        Fail(connection_->ErrorText({}));
        co_return;
    }
    if (!in_payload) {
      header_filled += n;
      if (header_filled < header.size()) continue;
      header_filled = 0;
      // Every header is checked here, so the tunnel only sees well-formed
      // framing, and no length from the peer is trusted before it is checked.
      DecodeError error = ParseHeader(header, options_.role, &frame.header);
      if (error != DecodeError::kNone) {
        if (!batch.empty()) deliver();  // the frames before it were sound
        const uint16_t index = index_;
        ToOwner([index, detail = std::string(DecodeErrorName(error))](LaneOwner& o) mutable {
          o.OnLaneProtocolError(index, std::move(detail));
        });
        co_return;
      }
      ResizeForOverwrite(frame.payload, frame.header.length);
      payload_filled = 0;
      in_payload = frame.header.length > 0;
    } else {
      payload_filled += n;
      in_payload = payload_filled < frame.payload.size();
    }
    if (!in_payload) {
      batch.push_back(std::move(frame));
      frame = InboundFrame();
      if (batch.size() >= kMaxFramesPerBatch) deliver();
    }
  }
}

bool Lane::SealQueued(size_t* frame_bytes) {
  size_t taken = 0;
  while (!queue_.empty() && taken < kMaxFlushBytes) {
    std::string frame = queue_.Pop();
    taken += frame.size();
    if (stage_.size() + frame.size() > wire::kMaxFrameSize) {
      if (!connection_->Seal(stage_)) return false;
      stage_.clear();
    }
    if (frame.size() >= kSealAlone && stage_.empty()) {
      if (!connection_->Seal(frame)) return false;
    } else {
      stage_.append(frame);
    }
  }
  if (!stage_.empty()) {
    if (!connection_->Seal(stage_)) return false;
    stage_.clear();
  }
  *frame_bytes = taken;
  return true;
}

asio::awaitable<void> Lane::WriteLoop() {
  auto self = shared_from_this();
  uint64_t key_updates = 0;
  while (!closed_) {
    if (queue_.empty() && connection_->unflushed_bytes() == 0) {
      if (finishing_) {
        Close();
        co_return;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kAsTuple);
      continue;
    }
    size_t frame_bytes = 0;
    if (!SealQueued(&frame_bytes)) {
      Fail(connection_->ErrorText({}));
      co_return;
    }
    if (connection_->key_updates() != key_updates) {
      options_.key_updates->Add(connection_->key_updates() - key_updates);
      key_updates = connection_->key_updates();
      spdlog::debug("lane {}: TLS KeyUpdate sent ({} so far, {} records sealed)", index_, key_updates,
                    connection_->records_sealed());
    }
    write_started_ = std::chrono::steady_clock::now();
    boost::system::error_code ec = co_await connection_->Flush();
    write_started_ = std::chrono::steady_clock::time_point::max();
    if (closed_) co_return;
    if (ec) {
      Fail(ec.message());
      co_return;
    }
    if (frame_bytes > 0) {
      options_.bytes_sent->Add(frame_bytes);
      bytes_sent_.fetch_add(frame_bytes, std::memory_order_relaxed);
      const uint16_t index = index_;
      ToOwner([index, frame_bytes](LaneOwner& o) { o.OnLaneWritten(index, frame_bytes); });
    }
  }
}

}  // namespace braid::proxy
