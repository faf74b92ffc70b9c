#include "integration/support/fake_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <mutex>

#include "proxy/wire/frame_codec.h"

namespace braid::integration {
namespace {

constexpr uint8_t kAlpnWire[] = {7, 'b', 'r', 'a', 'i', 'd', '/', '1'};
static_assert(sizeof(kAlpnWire) == 1 + sizeof(kBraidAlpn) - 1);
// SendFrame and SendRaw write with this deadline: a gateway that stops
// reading fails the test instead of hanging it.
constexpr std::chrono::milliseconds kWriteTimeout{10'000};

// BoringSSL writes to the socket with write(), not send(MSG_NOSIGNAL): a
// write to a connection the gateway already closed must fail with EPIPE,
// not kill the test with SIGPIPE.
void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

// TlsError describes the last failure: the BoringSSL error queue, else errno.
std::string TlsError(const char* what) {
  std::string out = what;
  if (uint32_t e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += std::string(": ") + buf;
  } else if (errno != 0) {
    out += std::string(": ") + std::strerror(errno);
  }
  ERR_clear_error();
  return out;
}

bssl::UniquePtr<SSL_CTX> NewClientCtx() {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx && (!SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) ||
              !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION))) {
    ctx.reset();
  }
  return ctx;
}

}  // namespace

::testing::AssertionResult FakePeer::Connect(uint16_t port, const PeerIdentity& identity,
                                             const std::string& server_name, Deadline deadline) {
  IgnoreSigpipe();
  ERR_clear_error();
  ctx_ = NewClientCtx();
  if (!ctx_ || SSL_CTX_use_certificate_chain_file(ctx_.get(), identity.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx_.get(), identity.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx_.get(), identity.ca.c_str(), nullptr) != 1) {
    return ::testing::AssertionFailure() << TlsError("loading the fake peer's identity");
  }
  SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  ssl_.reset(SSL_new(ctx_.get()));
  // Careful: SSL_set_alpn_protos returns 0 on success.
  if (!ssl_ || SSL_set_alpn_protos(ssl_.get(), kAlpnWire, sizeof(kAlpnWire)) != 0 ||
      !SSL_set1_host(ssl_.get(), server_name.c_str())) {
    return ::testing::AssertionFailure() << TlsError("configuring the fake peer's SSL");
  }
  int error = 0;
  socket_ = integration::Connect(port, deadline, &error);
  if (!socket_.valid()) {
    return ::testing::AssertionFailure() << "connecting to 127.0.0.1:" << port << ": " << std::strerror(error);
  }
  SSL_set_fd(ssl_.get(), socket_.fd());
  SSL_set_connect_state(ssl_.get());
  for (;;) {
    const int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) break;
    const int err = SSL_get_error(ssl_.get(), ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return ::testing::AssertionFailure() << "TLS handshake with " << server_name << ": timed out";
      }
      continue;
    }
    std::string why = TlsError("TLS handshake");
    if (long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK) {
      why += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
    }
    return ::testing::AssertionFailure() << why;
  }
  const uint8_t* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &alpn, &alpn_len);
  if (SSL_version(ssl_.get()) != TLS1_3_VERSION ||
      std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != kBraidAlpn) {
    return ::testing::AssertionFailure() << "the gateway did not negotiate TLS 1.3 with ALPN " << kBraidAlpn;
  }
  return ::testing::AssertionSuccess();
}

Binder FakePeer::ExportBinder(uint64_t tunnel_id) const {
  Binder binder{};
  uint8_t context[8];
  for (int i = 0; i < 8; ++i) context[i] = static_cast<uint8_t>(tunnel_id >> (56 - 8 * i));
  if (!ssl_ || !SSL_export_keying_material(ssl_.get(), binder.data(), binder.size(), kBinderLabel,
                                           sizeof(kBinderLabel) - 1, context, sizeof(context), 1)) {
    ADD_FAILURE() << TlsError("exporting the lane binder");
  }
  return binder;
}

bool FakePeer::SendLaneHello(uint64_t tunnel_id, uint16_t lane_index, uint16_t lane_count, const FakePeer* lane0) {
  const Binder binder = (lane0 != nullptr ? *lane0 : *this).ExportBinder(tunnel_id);
  return SendFrame(wire::LaneHello{tunnel_id, wire::kProtocolVersion, lane_index, lane_count, 0, binder});
}

bool FakePeer::SendFrame(const wire::Frame& frame) {
  std::string out;
  if (!proxy::EncodeFrame(frame, &out)) {
    ADD_FAILURE() << "the codec refuses to encode this " << wire::FrameTypeName(wire::TypeOf(frame))
                  << " (use SendRaw for invalid frames)";
    return false;
  }
  return SendRaw(out);
}

bool FakePeer::SendRaw(std::string_view bytes) { return WriteAll(bytes, After(kWriteTimeout)); }

bool FakePeer::Wait(short events, Deadline deadline) const {
  for (;;) {
    pollfd p{socket_.fd(), events, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int ready = poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 1'000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
    if (Clock::now() >= deadline) return false;
  }
}

bool FakePeer::WriteAll(std::string_view bytes, Deadline deadline) {
  if (!ssl_) return false;
  // BoringSSL writes the whole buffer (as several records if it must) before
  // SSL_write returns it; a retry after WANT_WRITE must pass the same
  // arguments.
  for (;;) {
    ERR_clear_error();
    const int ret = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
    if (ret > 0) return true;
    const int err = SSL_get_error(ssl_.get(), ret);
    if ((err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) ||
        !Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
      return false;
    }
  }
}

FakePeer::Read FakePeer::ReadFrame(Deadline deadline, bool skip_pings) {
  for (;;) {
    Read r;
    if (in_.size() >= wire::kHeaderSize) {
      const size_t length = (static_cast<uint8_t>(in_[2]) << 8) | static_cast<uint8_t>(in_[3]);
      if (in_.size() >= wire::kHeaderSize + length) {
        r.storage = std::make_unique<std::string>(in_.substr(0, wire::kHeaderSize + length));
        in_.erase(0, wire::kHeaderSize + length);
        // The fake peer dialed: it is the tunnel's dialer.
        const proxy::DecodeError e = proxy::ParseFrame(*r.storage, wire::Role::kDialer, &r.frame);
        if (e != proxy::DecodeError::kNone) {
          r.end = End::kError;
          r.detail = "the gateway sent a frame that does not decode: " + std::string(proxy::DecodeErrorName(e));
          return r;
        }
        if (skip_pings && (std::holds_alternative<wire::Ping>(r.frame) || std::holds_alternative<wire::Ack>(r.frame))) {
          continue;
        }
        r.end = End::kFrame;
        return r;
      }
    }
    if (!ssl_) {
      r.end = End::kError;
      r.detail = "not connected";
      return r;
    }
    char buf[wire::kMaxFrameSize];
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (ret > 0) {
      in_.append(buf, static_cast<size_t>(ret));
      continue;
    }
    switch (SSL_get_error(ssl_.get(), ret)) {
      case SSL_ERROR_WANT_READ:
        if (Wait(POLLIN, deadline)) continue;
        r.end = End::kTimeout;
        return r;
      case SSL_ERROR_ZERO_RETURN:
        r.end = End::kClosed;
        return r;
      case SSL_ERROR_SYSCALL:
        // TCP FIN without close_notify is how braid closes a lane.
        r.end = errno == ECONNRESET ? End::kReset : End::kClosed;
        r.detail = errno == 0 ? "EOF" : std::strerror(errno);
        return r;
      default:
        r.end = End::kError;
        r.detail = TlsError("reading");
        return r;
    }
  }
}

void FakePeer::Close() {
  ssl_.reset();
  socket_.Close();
}

void PrintTo(FakePeer::End end, std::ostream* os) {
  switch (end) {
    case FakePeer::End::kFrame: *os << "frame"; return;
    case FakePeer::End::kClosed: *os << "closed"; return;
    case FakePeer::End::kReset: *os << "reset"; return;
    case FakePeer::End::kTimeout: *os << "timeout"; return;
    case FakePeer::End::kError: *os << "error"; return;
  }
}

bool SendBytes(const Socket& s, std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    const ssize_t n = send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    pollfd p{s.fd(), POLLOUT, 0};
    if (poll(&p, 1, 100) == 0 && Clock::now() >= deadline) return false;
  }
  return true;
}

std::string LocalEndpoint(const Socket& s) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(s.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char text[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &addr.sin_addr, text, sizeof(text));
  return std::string(text) + ":" + std::to_string(ntohs(addr.sin_port));
}

std::string RandomBytes(uint64_t seed, size_t n) {
  std::string out(n, '\0');
  PatternStream(seed).Fill(out.data(), n);
  return out;
}

std::string ClientHelloPrefix(size_t n) {
  // A client SSL over memory BIOs: its first handshake step writes the
  // ClientHello and then waits for an answer that never comes.
  bssl::UniquePtr<SSL_CTX> ctx = NewClientCtx();
  bssl::UniquePtr<SSL> ssl(ctx ? SSL_new(ctx.get()) : nullptr);
  if (!ssl) return {};
  SSL_set_alpn_protos(ssl.get(), kAlpnWire, sizeof(kAlpnWire));
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), BIO_new(BIO_s_mem()), out);  // the SSL owns both
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(out, &data, &len);
  ERR_clear_error();
  return std::string(reinterpret_cast<const char*>(data), std::min(n, len));
}

}  // namespace braid::integration
