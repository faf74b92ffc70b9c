#include "proxy/tls/tls_context.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pki/boringssl_error.h"
#include "pki/certificate_authority.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"
#include "proxy/tls/tls_callbacks.h"

namespace braid::proxy {
namespace {

// The session ID context partitions sessions: a ticket is only resumed by a
// context of the same protocol.
constexpr std::string_view kSessionIdContext = "braid/1";
// Key exchange groups, best first; both are fast and universally supported.
constexpr char kGroups[] = "X25519:P-256";
constexpr size_t kTicketsPerHandshake = 2;

absl::Status InFile(const std::string& path, const absl::Status& status) {
  if (absl::IsNotFound(status)) return status;  // Already names the path.
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> LoadCertificates(const std::string& path) {
  absl::StatusOr<std::string> pem = pki::ReadFile(path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = pki::CertificatesFromPem(*pem);
  if (!certs.ok()) return InFile(path, certs.status());
  return certs;
}

}  // namespace

TlsContext::TlsContext(TlsContextOptions options) : options_(std::move(options)) {}
TlsContext::~TlsContext() = default;

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(TlsContextOptions options) {
  std::shared_ptr<TlsContext> context(new TlsContext(std::move(options)));
  if (absl::Status s = context->Init(); !s.ok()) return s;
  return std::shared_ptr<const TlsContext>(std::move(context));
}

absl::Status TlsContext::Init() {
  for (const auto& [what, path] :
       {std::pair{"cert_file", &options_.cert_file}, std::pair{"key_file", &options_.key_file},
        std::pair{"ca_file", &options_.ca_file}}) {
    if (path->empty()) return absl::InvalidArgumentError(absl::StrCat("TLS ", what, " is empty"));
  }

  // The trust store holds the configured CA certificates and nothing else:
  // the system store is never loaded.
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> cas = LoadCertificates(options_.ca_file);
  if (!cas.ok()) return cas.status();
  trust_store_.reset(X509_STORE_new());
  if (trust_store_ == nullptr) return pki::BoringSslError("cannot allocate the trust store");
  for (const bssl::UniquePtr<X509>& ca : *cas) {
    if (X509_check_ca(ca.get()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.ca_file, ": holds a certificate that is not a CA certificate"));
    }
    if (!X509_STORE_add_cert(trust_store_.get(), ca.get())) {
      return pki::BoringSslError(absl::StrCat(options_.ca_file, ": cannot add to the trust store"));
    }
  }

  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> chain = LoadCertificates(options_.cert_file);
  if (!chain.ok()) return chain.status();
  X509* leaf = chain->front().get();
  absl::StatusOr<std::string> key_pem = pki::ReadFile(options_.key_file);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = pki::PrivateKeyFromPem(*key_pem);
  if (!key.ok()) return InFile(options_.key_file, key.status());
  absl::StatusOr<std::string> name = pki::CertificateGatewayName(leaf);
  if (!name.ok()) return InFile(options_.cert_file, name.status());
  local_name_ = *name;
  if (!X509_check_private_key(leaf, key->get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "key file ", options_.key_file, " does not match certificate ", options_.cert_file));
  }
  // Our own certificate must verify against our own CA file: otherwise every
  // peer would refuse us, with a less helpful message.
  {
    bssl::UniquePtr<STACK_OF(X509)> intermediates(sk_X509_new_null());
    for (size_t i = 1; i < chain->size() && intermediates; ++i) {
      if (!bssl::PushToStack(intermediates.get(), bssl::UpRef((*chain)[i]))) {
        return pki::BoringSslError("cannot allocate the certificate chain");
      }
    }
    bssl::UniquePtr<X509_STORE_CTX> verify(X509_STORE_CTX_new());
    if (intermediates == nullptr || verify == nullptr ||
        !X509_STORE_CTX_init(verify.get(), trust_store_.get(), leaf, intermediates.get())) {
      return pki::BoringSslError("cannot set up certificate verification");
    }
    if (X509_verify_cert(verify.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(verify.get());
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", options_.cert_file, " does not verify against CA file ",
                       options_.ca_file, ": ", X509_verify_cert_error_string(err)));
    }
  }

  ctx_.reset(SSL_CTX_new(TLS_method()));
  if (ctx_ == nullptr) return pki::BoringSslError("cannot allocate SSL_CTX");
  SSL_CTX* ctx = ctx_.get();
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) &&
            SSL_CTX_set1_curves_list(ctx, kGroups) && SSL_CTX_use_certificate(ctx, leaf) &&
            SSL_CTX_use_PrivateKey(ctx, key->get()) &&
            SSL_CTX_set_session_id_context(
                ctx, reinterpret_cast<const uint8_t*>(kSessionIdContext.data()),
                kSessionIdContext.size()) &&
            SSL_CTX_set_num_tickets(ctx, kTicketsPerHandshake);
  for (size_t i = 1; ok && i < chain->size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get());
  }
  if (!ok) return pki::BoringSslError("cannot configure SSL_CTX");

  // Verification: SSL_VERIFY_PEER makes a server ask for a client
  // certificate; NewServerSsl makes it mandatory. Clients re-verify the
  // server's stored certificate when they resume.
  SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, VerifyPeer);
  SSL_CTX_set_reverify_on_resume(ctx, 1);
  SSL_CTX_set_select_certificate_cb(ctx, RequireBraidAlpn);
  SSL_CTX_set_alpn_select_cb(ctx, SelectBraidAlpn, nullptr);
  SSL_CTX_set_early_data_enabled(ctx, 0);
  SSL_CTX_set_info_callback(ctx, RecordAlert);
  // Tickets on. Clients hand new sessions to our cache (the internal cache
  // is off); servers need no cache, TLS 1.3 tickets are self-contained.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, CacheNewSession);
  SSL_CTX_set_session_psk_dhe_timeout(ctx, options_.session_lifetime_seconds);

  session_cache_ = options_.session_cache != nullptr ? options_.session_cache
                                                     : std::make_shared<TlsSessionCache>();
  return absl::OkStatus();
}

absl::StatusOr<bssl::UniquePtr<SSL>> TlsContext::NewSsl(bool server,
                                                        std::string_view peer_name) const {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
  if (ssl == nullptr) return pki::BoringSslError("cannot allocate SSL");
  auto state = std::make_unique<LaneTlsState>();
  state->context = shared_from_this();
  state->expected_peer = std::string(peer_name);
  if (!AttachLaneTlsState(ssl.get(), std::move(state))) {
    return pki::BoringSslError("cannot attach lane state");
  }
  if (server) {
    SSL_set_accept_state(ssl.get());
    SSL_set_custom_verify(ssl.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyPeer);
    return ssl;
  }
  SSL_set_connect_state(ssl.get());
  uint8_t alpn[1 + kAlpnProtocol.size()];
  alpn[0] = static_cast<uint8_t>(kAlpnProtocol.size());
  memcpy(alpn + 1, kAlpnProtocol.data(), kAlpnProtocol.size());
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  X509_VERIFY_PARAM_set_hostflags(
      param, X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  // Careful: SSL_set_alpn_protos returns 0 on success.
  if (SSL_set_alpn_protos(ssl.get(), alpn, sizeof(alpn)) != 0 ||
      !X509_VERIFY_PARAM_set1_host(param, peer_name.data(), peer_name.size())) {
    return pki::BoringSslError("cannot configure client SSL");
  }
  if (bssl::UniquePtr<SSL_SESSION> session = session_cache_->Take(peer_name)) {
    if (!SSL_set_session(ssl.get(), session.get())) ERR_clear_error();  // Full handshake then.
  }
  return ssl;
}

absl::StatusOr<bssl::UniquePtr<SSL>> TlsContext::NewClientSsl(std::string_view peer_name) const {
  if (absl::Status s = pki::ValidateGatewayName(peer_name); !s.ok()) return s;
  return NewSsl(/*server=*/false, peer_name);
}

absl::StatusOr<bssl::UniquePtr<SSL>> TlsContext::NewServerSsl() const {
  return NewSsl(/*server=*/true, "");
}

absl::StatusOr<std::string> PeerName(const SSL* ssl) {
  bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl));
  if (cert == nullptr) return absl::FailedPreconditionError("no peer certificate");
  return pki::CertificateGatewayName(cert.get());
}

bool HandshakeResumed(const SSL* ssl) { return SSL_session_reused(ssl) != 0; }

absl::Status CheckEstablished(SSL* ssl) {
  LaneTlsState* state = GetLaneTlsState(ssl);
  if (state == nullptr) return absl::FailedPreconditionError("SSL not made by a TlsContext");
  if (SSL_in_init(ssl)) return absl::FailedPreconditionError("TLS handshake not finished");
  // A refusal is also sent to the peer as a fatal alert, best effort (the
  // caller closes the connection anyway), so that its log says why.
  auto refuse = [ssl](uint8_t alert, std::string reason) {
    RecordFailure(ssl, reason);
    if (SSL_send_fatal_alert(ssl, alert) <= 0) ERR_clear_error();
    return absl::PermissionDeniedError(reason);
  };
  if (SSL_version(ssl) != TLS1_3_VERSION) {
    return refuse(SSL_AD_PROTOCOL_VERSION,
                  absl::StrCat("negotiated ", SSL_get_version(ssl), ", not TLS 1.3"));
  }
  if (!AlpnIsBraid(ssl)) {
    return refuse(SSL_AD_NO_APPLICATION_PROTOCOL, "no ALPN braid/1 (the peer did not agree on it)");
  }
  absl::StatusOr<std::string> name = PeerName(ssl);
  if (!name.ok()) {
    return refuse(SSL_AD_BAD_CERTIFICATE, absl::StrCat("peer ", name.status().message()));
  }
  if (!SSL_is_server(ssl)) {
    // The certificate check is case-insensitive (RFC 6125); so is this one.
    if (!absl::EqualsIgnoreCase(*name, state->expected_peer)) {
      return refuse(
          SSL_AD_BAD_CERTIFICATE,
          absl::StrCat("peer name ", *name, " does not match expected ", state->expected_peer));
    }
  } else if (state->context->options().accept_peer) {
    absl::Status accepted = state->context->options().accept_peer(*name);
    if (!accepted.ok()) {
      return refuse(SSL_AD_ACCESS_DENIED,
                    absl::StrCat("peer ", *name, " refused: ", accepted.message()));
    }
  }
  bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl));
  if (state->context->options().check_certificate) {
    absl::Status accepted = state->context->options().check_certificate(cert.get());
    if (!accepted.ok()) {
      return refuse(SSL_AD_CERTIFICATE_REVOKED, absl::StrCat("peer ", *name, " refused: ", accepted.message()));
    }
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0) {
    return refuse(SSL_AD_CERTIFICATE_EXPIRED,
                  absl::StrCat("peer certificate expired on ", pki::NotAfterText(cert.get())));
  }
  return absl::OkStatus();
}

std::string RecordedTlsFailure(const SSL* ssl) {
  const LaneTlsState* state = GetLaneTlsState(ssl);
  if (state == nullptr) return "";
  return !state->failure.empty() ? state->failure : state->peer_alert;
}

std::string TlsFailureReason(SSL* ssl, int ret) {
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl, ret);
  std::string reason = RecordedTlsFailure(ssl);
  if (!reason.empty()) {
    // Already explained.
  } else if (const uint32_t packed = ERR_peek_error(); packed != 0) {
    reason = absl::StrCat("TLS error: ", pki::TakeBoringSslErrors());
  } else if (error == SSL_ERROR_ZERO_RETURN) {
    reason = "peer closed the connection (close_notify)";
  } else if (error == SSL_ERROR_SYSCALL) {
    reason = saved_errno != 0 ? absl::StrCat("connection error: ", strerror(saved_errno))
                              : "connection closed by the peer";
  } else if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    reason = "not failed: the operation would block";
  } else {
    reason = absl::StrCat("TLS operation failed (SSL_get_error ", error, ")");
  }
  ERR_clear_error();
  return reason;
}

absl::Status SendKeyUpdate(SSL* ssl) {
  if (SSL_in_init(ssl)) return absl::FailedPreconditionError("TLS handshake not finished");
  if (!SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED)) {
    return pki::BoringSslError("SSL_key_update failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<LaneBinder> ExportLaneBinder(SSL* ssl, uint64_t tunnel_id) {
  if (SSL_in_init(ssl)) return absl::FailedPreconditionError("TLS handshake not finished");
  uint8_t context[8];
  for (int i = 0; i < 8; ++i) context[i] = static_cast<uint8_t>(tunnel_id >> (56 - 8 * i));
  LaneBinder binder;
  if (!SSL_export_keying_material(ssl, binder.data(), binder.size(), kLaneBinderLabel.data(),
                                  kLaneBinderLabel.size(), context, sizeof(context),
                                  /*use_context=*/1)) {
    return pki::BoringSslError("SSL_export_keying_material failed");
  }
  return binder;
}

}  // namespace braid::proxy
