// TlsContext: the TLS 1.3 configuration of a gateway's lanes, and the helpers
// a lane needs on its SSL (peer name, resumption, KeyUpdate, exporter).
//
// Every lane between two gateways is a mutually authenticated TLS 1.3
// connection made from the gateway's one TlsContext (a gateway both opens
// and accepts lanes). What it enforces, in the handshake itself:
//   - TLS 1.3 only (minimum and maximum); no 0-RTT.
//   - ALPN "braid/1" both ways: the server refuses a ClientHello that does not
//     offer it; the client refuses a server that does not select it.
//   - A certificate from the peer, both ways, verified against the configured
//     CA file only (never the system store), for the TLS purpose of its role.
//   - Names: a client says which gateway it expects (NewClientSsl); the
//     server's certificate must carry that name as its DNS subjectAltName
//     (X509_VERIFY_PARAM_set1_host). A server learns the client's name from
//     its certificate (PeerName) and, if options.accept_peer is set, refuses
//     a name it does not accept.
//   - Session tickets: clients keep the tickets they receive in a
//     TlsSessionCache keyed by peer name, and offer one on the next
//     connection to that peer (HandshakeResumed tells whether it worked).
//     Clients re-verify the stored server certificate on resumption.
//
// Every refusal records a precise reason on the SSL ("peer certificate not
// signed by the configured CA", "peer name gw-x does not match expected
// gw-cloud", "no ALPN braid/1 (the client offered none)"), which
// TlsFailureReason returns for the log.
//
// Expected use (the lane's I/O drives the SSL over its own socket or BIOs):
//   absl::StatusOr<std::shared_ptr<const TlsContext>> tls = TlsContext::Create(
//       {.cert_file = "pki/gw-onprem.crt", .key_file = "pki/gw-onprem.key",
//        .ca_file = "pki/ca.crt"});
//   bssl::UniquePtr<SSL> ssl = (*tls)->NewClientSsl("gw-cloud").value();
//   SSL_set_fd(ssl.get(), fd);
//   int ret = SSL_do_handshake(ssl.get());
//   if (ret != 1) return Refused(TlsFailureReason(ssl.get(), ret));
//   if (absl::Status s = CheckEstablished(ssl.get()); !s.ok()) return Refused(s);
//
// Two TLS 1.3 facts the lane code must allow for:
//   - A client completes its handshake before the server has checked the
//     client's certificate. A server's refusal reaches the client as an alert
//     on its first SSL_read, so a lane is up only once the client has read
//     something from the server; TlsFailureReason on that read says why.
//   - Tickets arrive after the handshake: they reach the cache when the
//     client's SSL_read processes them, so the first lane must have read from
//     the server before later lanes can resume.
//
// Thread-safety: a TlsContext is immutable after Create (its session cache
// synchronizes itself); NewClientSsl and NewServerSsl may be called from any
// thread. Each SSL is used by one thread at a time. Each SSL holds a
// reference to its TlsContext, so a context replaced on reload lives until
// its last lane is gone.
#ifndef BRAID_PROXY_TLS_TLS_CONTEXT_H_
#define BRAID_PROXY_TLS_TLS_CONTEXT_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proxy/tls/tls_session_cache.h"

namespace braid::proxy {

inline constexpr std::string_view kAlpnProtocol = "braid/1";
inline constexpr std::string_view kLaneBinderLabel = "EXPORTER-braid-lane-binder";
inline constexpr size_t kLaneBinderSize = 32;
using LaneBinder = std::array<uint8_t, kLaneBinderSize>;

// kDefaultKeyUpdateRecords: a lane sends a KeyUpdate before its key has
// sealed this many records, well below AES-GCM's limit of about 2^24.5.
inline constexpr uint64_t kDefaultKeyUpdateRecords = uint64_t{1} << 23;

// kDefaultSessionLifetimeSeconds: how long a ticket may resume. A day covers
// any idle teardown and rebuild, and bounds how long a session outlives a
// change of certificate.
inline constexpr uint32_t kDefaultSessionLifetimeSeconds = 24 * 60 * 60;

struct TlsContextOptions {
  // PEM files: this gateway's certificate (the leaf first, then any
  // intermediates), its private key, and the CA certificates to trust (one,
  // or several during a CA rotation).
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  // accept_peer, if set, decides on the accepting side whether a verified
  // client's gateway name is acceptable: OK accepts; an error refuses the
  // handshake with the error's message as the reason. Called from any lane's
  // thread, so it must be thread-safe. CheckEstablished asks it again after
  // a resumed handshake, where no certificate is verified.
  std::function<absl::Status(std::string_view peer_name)> accept_peer;
  // check_certificate, if set, may refuse a verified peer certificate on
  // either side (a revoked one: the controller's revocation list). OK
  // accepts; an error refuses with its message as the reason. Called from
  // any lane's thread; CheckEstablished calls it again after a resumption.
  std::function<absl::Status(const X509* peer_cert)> check_certificate;
  // Client-side ticket cache; null makes a new one. Pass the old context's
  // cache to a rebuilt context to keep resuming across a reload.
  std::shared_ptr<TlsSessionCache> session_cache;
  uint32_t session_lifetime_seconds = kDefaultSessionLifetimeSeconds;
};

class TlsContext : public std::enable_shared_from_this<TlsContext> {
 public:
  // Create loads the files and builds the SSL_CTX. Returns NotFound for a
  // missing file and InvalidArgument, naming the file, for one that does not
  // parse, a CA file holding a non-CA certificate, a certificate without a
  // single valid DNS name, a key that does not match the certificate, or a
  // certificate that the CA file does not verify.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(TlsContextOptions options);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  // NewClientSsl returns an SSL in connect state for a lane to gateway
  // `peer_name`: ALPN offered, the server's name checked, and a cached
  // session offered if there is one. Returns InvalidArgument for an invalid
  // name, Internal if BoringSSL fails.
  absl::StatusOr<bssl::UniquePtr<SSL>> NewClientSsl(std::string_view peer_name) const;

  // NewServerSsl returns an SSL in accept state that requires a client
  // certificate. Returns Internal if BoringSSL fails.
  absl::StatusOr<bssl::UniquePtr<SSL>> NewServerSsl() const;

  // local_name is this gateway's name, from its own certificate.
  const std::string& local_name() const { return local_name_; }
  SSL_CTX* ssl_ctx() const { return ctx_.get(); }
  X509_STORE* trust_store() const { return trust_store_.get(); }
  TlsSessionCache& session_cache() const { return *session_cache_; }
  const TlsContextOptions& options() const { return options_; }

 private:
  explicit TlsContext(TlsContextOptions options);
  absl::Status Init();
  absl::StatusOr<bssl::UniquePtr<SSL>> NewSsl(bool server, std::string_view peer_name) const;

  TlsContextOptions options_;
  std::string local_name_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<X509_STORE> trust_store_;
  std::shared_ptr<TlsSessionCache> session_cache_;
};

// PeerName returns the gateway name in the peer's certificate (its single
// DNS subjectAltName), also after a resumed handshake. Returns
// FailedPrecondition if there is no peer certificate, InvalidArgument if the
// certificate does not carry exactly one valid DNS name.
absl::StatusOr<std::string> PeerName(const SSL* ssl);

// HandshakeResumed returns whether the handshake resumed a session.
bool HandshakeResumed(const SSL* ssl);

// CheckEstablished re-checks, once SSL_do_handshake has returned 1, what a
// lane relies on: TLS 1.3, ALPN braid/1, a peer name (the expected one for a
// client; accepted by accept_peer for a server), a peer certificate that has
// not expired (a resumed session re-verifies nothing on the server). Returns
// OK, FailedPrecondition if the SSL is not a TlsContext's or is still in its
// handshake, or PermissionDenied with the reason, which TlsFailureReason
// also returns afterwards. On a refusal it also sends the peer a fatal alert
// (best effort, like any write; the caller then closes the connection).
absl::Status CheckEstablished(SSL* ssl);

// TlsFailureReason returns why an operation on `ssl` (SSL_do_handshake,
// SSL_read, SSL_write) that returned `ret` <= 0 failed, as one loggable line,
// never empty: RecordedTlsFailure if there is one, else the BoringSSL error,
// else the socket error or "connection closed by the peer". Call it on the
// thread that made the call, right after it: it reads and clears that
// thread's BoringSSL error queue, and errno.
std::string TlsFailureReason(SSL* ssl, int ret);

// RecordedTlsFailure returns the reason recorded on `ssl` when the
// connection was refused: by this side (a certificate, name, ALPN or
// protocol refusal, or an alert BoringSSL sent on its own), else by the peer
// (the alert it sent). Returns an empty string if nothing was recorded.
// Unlike TlsFailureReason it needs no error queue, so it suits I/O layers
// that consume the queue themselves (asio's SSL stream): fall back to their
// error code when it is empty.
std::string RecordedTlsFailure(const SSL* ssl);

// SendKeyUpdate queues a TLS 1.3 KeyUpdate that also asks the peer to update
// its sending key (SSL_KEY_UPDATE_REQUESTED). It goes out with the next
// SSL_write; SSL_write(ssl, "", 0) flushes it when no data is pending.
// Returns FailedPrecondition before the handshake is complete, Internal if
// BoringSSL refuses.
absl::Status SendKeyUpdate(SSL* ssl);

// ExportLaneBinder returns the 32-byte TLS exporter value (RFC 8446 7.5)
// with label "EXPORTER-braid-lane-binder" and context `tunnel_id` as 8
// big-endian bytes. Both ends of one connection get the same value; any other
// connection, resumed or not, gets a different one. Returns
// FailedPrecondition before the handshake is complete.
absl::StatusOr<LaneBinder> ExportLaneBinder(SSL* ssl, uint64_t tunnel_id);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TLS_TLS_CONTEXT_H_
