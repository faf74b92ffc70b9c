#include "proxy/tunnel/lane.h"

#include <algorithm>

#include "proxy/wire/frame_codec.h"
#include "proxy/wire/frame_reader.h"
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
  connection_->set_key_update_records(options_.key_update_records, !options_.rotate_at_key_limit);
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
    // Whatever was received since the last ACK is acknowledged at least
    // once per tick, so a sender's ledger empties even on a quiet lane.
    if (ledger_.AckDue(1)) QueueAck();
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
  // A closed lane keeps them for TakeRemains: the owner resends them.
  for (std::string& f : frames) queue_.Push(std::move(f));
  if (!closed_) wake_.cancel();
}

void Lane::QueueAck() {
  std::string ack;
  if (Encode(wire::Ack{ledger_.TakeAck()}, &ack)) {
    queue_.Push(std::move(ack));
    wake_.cancel();
  }
}

bool Lane::HandleAck(uint64_t received) {
  const LaneLedger::AckStatus status = ledger_.OnAck(received);
  if (status != LaneLedger::AckStatus::kOk) {
    const uint16_t index = index_;
    ToOwner([index, detail = "ACK of " + std::to_string(received) + " frames, " +
                             std::to_string(ledger_.written()) + " written: " +
                             std::string(AckStatusName(status))](LaneOwner& o) mutable {
      o.OnLaneProtocolError(index, std::move(detail));
    });
    return false;
  }
  unacked_bytes_.store(ledger_.kept_bytes(), std::memory_order_relaxed);
  if (retiring_) wake_.cancel();  // the write loop checks whether all is acknowledged
  return true;
}

void Lane::RetireWhenDrained() {
  retiring_ = true;
  wake_.cancel();
}

LaneRemains Lane::TakeRemains() {
  LaneRemains remains;
  while (!queue_.empty()) {
    std::string frame = queue_.Pop();
    // The lane's own frames (PING, PONG, ACK) meant something only on it.
    if (IsCountedFrame(frame)) remains.unwritten.push_back(std::move(frame));
  }
  remains.ledger = std::move(ledger_);
  ledger_ = LaneLedger();
  unacked_bytes_.store(0, std::memory_order_relaxed);
  return remains;
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
  const uint16_t generation = options_.generation;
  ToOwner([index, generation, reason = std::move(reason)](LaneOwner& o) mutable {
    o.OnLaneClosed(index, generation, std::move(reason));
  });
}

asio::awaitable<void> Lane::ReadLoop() {
  auto self = shared_from_this();
  std::vector<InboundFrame> batch;
  // Decrypts straight into each frame's own payload string, and checks
  // every header before trusting its length (proxy/wire/frame_reader.h).
  FrameReader reader(options_.role);
  auto deliver = [&] {
    const uint16_t index = index_;
    ToOwner([index, frames = std::move(batch)](LaneOwner& o) mutable { o.OnLaneFrames(index, std::move(frames)); });
    batch = {};
    if (ledger_.AckDue()) QueueAck();
  };
  while (!closed_) {
    size_t n = 0;
    switch (connection_->TryRead(reader.WriteSpace(), &n)) {
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
      // The frames before the end were received (and counted): hand them
      // over first.
      case TlsConnection::ReadStatus::kClosed:
        if (!batch.empty()) deliver();
        Fail(std::string(kClosedByPeer));
        co_return;
      case TlsConnection::ReadStatus::kError:
        if (!batch.empty()) deliver();
        Fail(connection_->ErrorText({}));
        co_return;
    }
    const FrameReader::Result result = reader.Commit(n);
    if (result == FrameReader::Result::kNeedMore) continue;
    if (result == FrameReader::Result::kError) {
      if (!batch.empty()) deliver();  // the frames before it were sound
      const uint16_t index = index_;
      ToOwner([index, detail = reader.error_detail()](LaneOwner& o) mutable {
        o.OnLaneProtocolError(index, std::move(detail));
      });
      co_return;
    }
    InboundFrame frame;
    reader.TakeFrame(&frame.header, &frame.payload);
    if (frame.header.type == wire::FrameType::kAck) {
      // The lane's own: it frees this lane's ledger.
      if (!HandleAck(frame.header.value)) {
        if (!batch.empty()) deliver();
        co_return;
      }
      continue;
    }
    if (wire::IsCounted(frame.header.type)) ledger_.OnReceived();
    batch.push_back(std::move(frame));
    if (batch.size() >= kMaxFramesPerBatch) deliver();
  }
}

bool Lane::SealQueued(size_t* frame_bytes) {
  size_t taken = 0;
  while (!queue_.empty() && taken < kMaxFlushBytes) {
    std::string frame = queue_.Pop();
    taken += frame.size();
    bool sealed = true;
    if (stage_.size() + frame.size() > wire::kMaxFrameSize) {
      sealed = connection_->Seal(stage_);
      stage_.clear();
    }
    if (sealed && frame.size() >= kSealAlone && stage_.empty()) {
      sealed = connection_->Seal(frame);
    } else if (sealed) {
      stage_.append(frame);
    }
    // Kept, uncopied, until the peer acknowledges it. Also when sealing
    // failed (the key usage limit, a TLS error): the lane fails, and the
    // frame, taken off the queue, must be among what it leaves to resend.
    ledger_.OnWritten(std::move(frame));
    if (!sealed) return false;
  }
  unacked_bytes_.store(ledger_.kept_bytes(), std::memory_order_relaxed);
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
      if (retiring_ && ledger_.kept_frames() == 0) {
        Fail("retired");
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
    if (options_.rotate_at_key_limit && !key_limit_told_ &&
        connection_->records_sealed() >= options_.key_update_records / 2) {
      key_limit_told_ = true;
      const uint16_t index = index_, generation = options_.generation;
      ToOwner([index, generation](LaneOwner& o) { o.OnLaneKeyLimit(index, generation); });
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
      const uint16_t index = index_, generation = options_.generation;
      ToOwner([index, generation, frame_bytes](LaneOwner& o) { o.OnLaneWritten(index, generation, frame_bytes); });
    }
  }
}

}  // namespace braid::proxy
