#include "proxy/tunnel/lane.h"

#include <openssl/ssl.h>

#include <cstring>

#include "proxy/wire/frame_codec.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {

Lane::Lane(std::unique_ptr<TlsStream> stream, uint16_t index, Options options)
    : stream_(std::move(stream)),
      index_(index),
      options_(options),
      wake_(stream_->get_executor(), asio::steady_timer::time_point::max()),
      keepalive_(stream_->get_executor()),
      last_read_(std::chrono::steady_clock::now()),
      last_write_(last_read_) {}

template <typename F>
void Lane::ToOwner(F&& f) {
  asio::post(owner_executor_, [owner = owner_, f = std::forward<F>(f)]() mutable {
    if (auto o = owner.lock()) f(*o);
  });
}

void Lane::Start(std::weak_ptr<LaneOwner> owner, asio::any_io_executor owner_executor) {
  owner_ = std::move(owner);
  owner_executor_ = std::move(owner_executor);
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->ReadLoop(); }, asio::detached);
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->WriteLoop(); }, asio::detached);
  asio::co_spawn(executor(), [self = shared_from_this()] { return self->KeepaliveLoop(); }, asio::detached);
}

asio::awaitable<void> Lane::KeepaliveLoop() {
  auto self = shared_from_this();
  // Check a few times per interval so that neither bound is overshot by much.
  const auto tick = std::max<std::chrono::milliseconds>(options_.keepalive_interval / 4, std::chrono::milliseconds(10));
  uint64_t cookie = 0;
  while (!closed_) {
    keepalive_.expires_after(tick);
    co_await keepalive_.async_wait(kAsTuple);
    if (closed_) co_return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_read_ > options_.keepalive_timeout) {
      Fail("keepalive timeout: nothing from the peer for " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_read_).count()) + " ms");
      co_return;
    }
    if (now - last_write_ >= options_.keepalive_interval && queue_.empty()) {
      std::string ping;
      if (Encode(wire::Ping{++cookie}, &ping)) {
        queue_.push_back(std::move(ping));
        wake_.cancel();
      }
    }
  }
}

void Lane::Send(std::vector<std::string> frames) {
  if (closed_) return;
  for (std::string& f : frames) queue_.push_back(std::move(f));
  wake_.cancel();
}

void Lane::Close() {
  if (closed_) return;
  closed_ = true;
  wake_.cancel();
  keepalive_.cancel();
  boost::system::error_code ignored;
  stream_->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_->lowest_layer().close(ignored);
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
  std::vector<char> buf(kReadBufferSize);
  size_t filled = 0;
  while (!closed_) {
    auto [ec, n] = co_await stream_->async_read_some(asio::buffer(buf.data() + filled, buf.size() - filled), kAsTuple);
    if (ec) {
      Fail(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "closed by peer" : ec.message());
      co_return;
    }
    filled += n;
    last_read_ = std::chrono::steady_clock::now();
    // Cut the buffer after the last whole frame; validate every header here,
    // so that the tunnel only ever sees well-formed framing.
    size_t whole = 0;
    while (filled - whole >= wire::kHeaderSize) {
      wire::FrameHeader header;
      DecodeError error = ParseHeader(std::span<const char, wire::kHeaderSize>(buf.data() + whole, wire::kHeaderSize),
                                      std::nullopt, &header);
      if (error != DecodeError::kNone) {
        Fail(std::string("protocol error: ") + std::string(DecodeErrorName(error)));
        co_return;
      }
      if (filled - whole < wire::kHeaderSize + header.length) break;
      whole += wire::kHeaderSize + header.length;
    }
    if (whole > 0) {
      std::string frames(buf.data(), whole);
      std::memmove(buf.data(), buf.data() + whole, filled - whole);
      filled -= whole;
      uint16_t index = index_;
      ToOwner([index, frames = std::move(frames)](LaneOwner& o) mutable { o.OnLaneFrames(index, std::move(frames)); });
    }
  }
}

asio::awaitable<void> Lane::WriteLoop() {
  auto self = shared_from_this();
  constexpr size_t kMaxBatch = 64;
  std::vector<std::string> batch;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (queue_.empty()) {
      if (finishing_) {
        Close();
        co_return;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kAsTuple);
      continue;
    }
    batch.clear();
    buffers.clear();
    size_t bytes = 0;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      buffers.emplace_back(asio::buffer(batch.back()));
      bytes += batch.back().size();
    }
    // Each buffer may start a record, and a record holds at most 16 KiB:
    // this over-counts, so the KeyUpdate always comes early, never late.
    records_since_key_update_ += bytes / 16384 + batch.size();
    if (records_since_key_update_ >= options_.key_update_records) {
      // Queued in BoringSSL, sent ahead of the next record we write.
      if (SSL_key_update(stream_->native_handle(), SSL_KEY_UPDATE_NOT_REQUESTED) == 1) ++key_updates_;
      records_since_key_update_ = 0;
    }
    auto [ec, n] = co_await asio::async_write(*stream_, buffers, kAsTuple);
    if (ec) {
      Fail(ec.message());
      co_return;
    }
    last_write_ = std::chrono::steady_clock::now();
    const uint16_t index = index_;
    const size_t written = n;  // a structured binding cannot be captured before C++20 in clang 14
    ToOwner([index, written](LaneOwner& o) { o.OnLaneWritten(index, written); });
  }
}

}  // namespace braid::proxy
