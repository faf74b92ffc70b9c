#include "proxy/tunnel/tls_connection.h"

#include <openssl/err.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "proxy/tls/tls_context.h"

namespace braid::proxy {
namespace {

// TLS 1.3 records carry at most this much plaintext; SSL_write cuts a
// longer write into records of exactly this size.
constexpr size_t kMaxRecordPlaintext = 16384;

boost::system::error_code TlsError() {
  return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
}

}  // namespace

const BIO_METHOD* TlsConnection::BioMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "braid TLS connection");
    BIO_meth_set_read(m, &TlsConnection::BioRead);
    BIO_meth_set_write(m, &TlsConnection::BioWrite);
    BIO_meth_set_ctrl(m, &TlsConnection::BioCtrl);
    return m;
  }();
  return method;
}

int TlsConnection::BioRead(BIO* bio, char* out, int len) {
  auto* self = static_cast<TlsConnection*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const size_t available = self->in_end_ - self->in_begin_;
  if (available == 0) {
    // Not an end of stream: Fill() reads more and the caller retries.
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(available, static_cast<size_t>(len));
  std::memcpy(out, self->in_.data() + self->in_begin_, n);
  self->in_begin_ += n;
  return static_cast<int>(n);
}

int TlsConnection::BioWrite(BIO* bio, const char* in, int len) {
  auto* self = static_cast<TlsConnection*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self->out_.append(in, static_cast<size_t>(len));
  return len;
}

long TlsConnection::BioCtrl(BIO* /*bio*/, int cmd, long /*larg*/, void* /*parg*/) {
  // BoringSSL flushes after each flight; our flush is Flush(), later.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

TlsConnection::TlsConnection(tcp::socket socket, bssl::UniquePtr<SSL> ssl)
    : socket_(std::move(socket)), ssl_(std::move(ssl)), in_(kHandshakeInputBufferSize) {
  BIO* bio = BIO_new(BioMethod());
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL
}

TlsConnection::~TlsConnection() = default;

void TlsConnection::RecordError(int ret) { error_ = TlsFailureReason(ssl_.get(), ret); }

std::string TlsConnection::ErrorText(const boost::system::error_code& ec) const {
  std::string recorded = RecordedTlsFailure(ssl_.get());
  if (!recorded.empty()) return recorded;
  if (!error_.empty()) return error_;
  return ec.message();
}

asio::awaitable<std::tuple<boost::system::error_code>> TlsConnection::Handshake() {
  for (;;) {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_.get());
    const int error = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), ret);
    if (error != SSL_ERROR_NONE && error != SSL_ERROR_WANT_READ) RecordError(ret);
    // Our flight, or the alert that explains a refusal, goes out first.
    if (!out_.empty()) {
      boost::system::error_code ec = co_await Flush();
      if (ec && error == SSL_ERROR_NONE) co_return std::make_tuple(ec);
    }
    if (error == SSL_ERROR_NONE) co_return std::make_tuple(boost::system::error_code());
    if (error != SSL_ERROR_WANT_READ) co_return std::make_tuple(TlsError());
    if (boost::system::error_code ec = co_await Fill()) co_return std::make_tuple(ec);
  }
}

TlsConnection::ReadStatus TlsConnection::TryRead(std::span<char> out, size_t* n) {
  ERR_clear_error();
  const int ret = SSL_read(ssl_.get(), out.data(), static_cast<int>(std::min<size_t>(out.size(), INT_MAX)));
  if (ret > 0) {
    *n = static_cast<size_t>(ret);
    return ReadStatus::kData;
  }
  *n = 0;
  switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
      return ReadStatus::kNeedInput;
    case SSL_ERROR_ZERO_RETURN:
      return ReadStatus::kClosed;
    default:
      RecordError(ret);
      return ReadStatus::kError;
  }
}

asio::awaitable<boost::system::error_code> TlsConnection::Fill() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == in_.size()) {
    // BoringSSL asked for more while holding a partial record at the end.
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_), kAsTuple);
  in_end_ += n;
  co_return ec;
}

asio::awaitable<boost::system::error_code> TlsConnection::ReadExactly(std::span<char> out) {
  size_t filled = 0;
  while (filled < out.size()) {
    size_t n = 0;
    switch (TryRead(out.subspan(filled), &n)) {
      case ReadStatus::kData:
        filled += n;
        break;
      case ReadStatus::kNeedInput:
        if (boost::system::error_code ec = co_await Fill()) co_return ec;
        break;
      case ReadStatus::kClosed:
        co_return asio::error::eof;
      case ReadStatus::kError:
        co_return TlsError();
    }
  }
  co_return boost::system::error_code();
}

bool TlsConnection::Seal(std::string_view bytes) {
  while (!bytes.empty()) {
    if (records_since_key_update_ >= key_update_records_) {
      if (!key_updates_allowed_) {
        error_ = "key usage limit reached (" + std::to_string(key_update_records_) +
                 " records, tunnel.key_update_records) and KeyUpdate is off (tunnel.key_limit)";
        return false;
      }
      // Queued in BoringSSL, sent ahead of the next record.
      if (SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
        RecordError(0);
        return false;
      }
      ++key_updates_;
      records_since_key_update_ = 0;
    }
    // Never more records under one key than allowed: cut the write where
    // the key must change.
    const uint64_t records_left = key_update_records_ - records_since_key_update_;
    const uint64_t key_room = records_left > (uint64_t{1} << 32) ? UINT64_MAX : records_left * kMaxRecordPlaintext;
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>({bytes.size(), key_room, INT_MAX / 2}));
    ERR_clear_error();
    const int ret = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(chunk));
    if (ret != static_cast<int>(chunk)) {
      RecordError(ret);
      return false;
    }
    const uint64_t records = (chunk + kMaxRecordPlaintext - 1) / kMaxRecordPlaintext;
    records_since_key_update_ += records;
    records_sealed_ += records;
    bytes.remove_prefix(chunk);
  }
  return true;
}

asio::awaitable<boost::system::error_code> TlsConnection::Flush() {
  if (out_.empty()) co_return boost::system::error_code();
  // Sealing goes on into out_ (with flushing_'s old capacity) while the
  // socket takes these bytes.
  flushing_.clear();
  flushing_.swap(out_);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(flushing_), kAsTuple);
  co_return ec;
}

void TlsConnection::Close() {
  boost::system::error_code ignored;
  if (!socket_.is_open()) return;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void TlsConnection::Abort() {
  boost::system::error_code ignored;
  if (!socket_.is_open()) return;
  socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

}  // namespace braid::proxy
