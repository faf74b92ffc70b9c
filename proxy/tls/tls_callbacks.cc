#include "proxy/tls/tls_callbacks.h"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pki/gateway_name.h"
#include "proxy/tls/tls_context.h"

namespace braid::proxy {
namespace {

void FreeLaneTlsState(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*index*/,
                      long /*argl*/, void* /*argp*/) {
  delete static_cast<LaneTlsState*>(ptr);
}

int LaneTlsStateIndex() {
  // Function-local static: initialized once, thread-safely.
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeLaneTlsState);
  return index;
}

ssl_verify_result_t Refuse(SSL* ssl, uint8_t* out_alert, uint8_t alert, std::string reason) {
  RecordFailure(ssl, std::move(reason));
  *out_alert = alert;
  return ssl_verify_invalid;
}

// NameOrPlaceholder returns the certificate's gateway name for a message.
std::string NameOrPlaceholder(const X509* cert) {
  absl::StatusOr<std::string> name = pki::CertificateGatewayName(cert);
  return name.ok() ? *name : "(no valid DNS name)";
}

// VerifyErrorAlertAndReason turns an X509_verify_cert error into the alert
// to send and the reason to log.
std::pair<uint8_t, std::string> VerifyErrorAlertAndReason(int err, int depth, const X509* leaf,
                                                          const LaneTlsState& state, bool server) {
  const std::string detail = absl::StrCat(" (", X509_verify_cert_error_string(err), ")");
  switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return {SSL_AD_UNKNOWN_CA, "peer certificate not signed by the configured CA" + detail};
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return {SSL_AD_BAD_CERTIFICATE,
              absl::StrCat("peer name ", NameOrPlaceholder(leaf), " does not match expected ",
                           state.expected_peer)};
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return {SSL_AD_CERTIFICATE_EXPIRED, depth == 0
                                              ? "peer certificate expired"
                                              : "a CA certificate in the peer's chain expired"};
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return {SSL_AD_BAD_CERTIFICATE, "peer certificate not yet valid (are the clocks right?)"};
    case X509_V_ERR_INVALID_PURPOSE:
      return {SSL_AD_UNSUPPORTED_CERTIFICATE,
              absl::StrCat("peer certificate not valid for TLS ", server ? "client" : "server",
                           " authentication (extendedKeyUsage)")};
    default:
      return {SSL_AD_BAD_CERTIFICATE, "peer certificate rejected" + detail};
  }
}

// ReceivedAlertReason says what a fatal alert from the peer means for braid.
std::string ReceivedAlertReason(int alert) {
  const char* meaning;
  switch (alert) {
    case SSL_AD_UNKNOWN_CA:
      meaning = "peer refused our certificate: not signed by the CA it trusts";
      break;
    case SSL_AD_BAD_CERTIFICATE:
      meaning = "peer refused our certificate (wrong name?)";
      break;
    case SSL_AD_CERTIFICATE_EXPIRED:
      meaning = "peer refused our certificate: expired";
      break;
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
      meaning = "peer refused our certificate: wrong key usage";
      break;
    case SSL_AD_CERTIFICATE_REQUIRED:
      meaning = "peer requires a certificate";
      break;
    case SSL_AD_ACCESS_DENIED:
      meaning = "peer refused our gateway name";
      break;
    case SSL_AD_NO_APPLICATION_PROTOCOL:
      meaning = "peer refused the handshake: no ALPN braid/1";
      break;
    case SSL_AD_PROTOCOL_VERSION:
      meaning = "peer refused the handshake: TLS version (braid needs TLS 1.3)";
      break;
    case SSL_AD_HANDSHAKE_FAILURE:
      meaning = "peer refused the handshake (no ALPN braid/1, or no common parameters)";
      break;
    default:
      meaning = "peer aborted the connection";
      break;
  }
  return absl::StrCat(meaning, " (alert: ", SSL_alert_desc_string_long(alert), ")");
}

// SentAlertReason says why this side sent a fatal alert that none of our
// callbacks chose: a refusal BoringSSL made by itself.
std::string SentAlertReason(int alert) {
  const char* meaning;
  switch (alert) {
    case SSL_AD_CERTIFICATE_REQUIRED:
      meaning = "peer sent no certificate";
      break;
    case SSL_AD_PROTOCOL_VERSION:
      meaning = "peer does not speak TLS 1.3";
      break;
    case SSL_AD_NO_APPLICATION_PROTOCOL:
      meaning = "no ALPN braid/1";
      break;
    case SSL_AD_DECRYPT_ERROR:
      meaning = "peer's handshake signature does not verify";
      break;
    case SSL_AD_HANDSHAKE_FAILURE:
      meaning = "no TLS parameters in common with the peer";
      break;
    default:
      meaning = "TLS connection aborted by this side";
      break;
  }
  return absl::StrCat(meaning, " (alert sent: ", SSL_alert_desc_string_long(alert), ")");
}

}  // namespace

bool AttachLaneTlsState(SSL* ssl, std::unique_ptr<LaneTlsState> state) {
  if (!SSL_set_ex_data(ssl, LaneTlsStateIndex(), state.get())) return false;
  state.release();  // Freed by FreeLaneTlsState with the SSL.
  return true;
}

LaneTlsState* GetLaneTlsState(const SSL* ssl) {
  return static_cast<LaneTlsState*>(SSL_get_ex_data(ssl, LaneTlsStateIndex()));
}

void RecordFailure(const SSL* ssl, std::string reason) {
  LaneTlsState* state = GetLaneTlsState(ssl);
  if (state != nullptr && state->failure.empty()) state->failure = std::move(reason);
}

bool AlpnIsBraid(const SSL* ssl) {
  const uint8_t* alpn = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &len);
  return std::string_view(reinterpret_cast<const char*>(alpn), len) == kAlpnProtocol;
}

ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  LaneTlsState* state = GetLaneTlsState(ssl);
  if (state == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  const bool server = SSL_is_server(ssl);
  const STACK_OF(CRYPTO_BUFFER)* certs = SSL_get0_peer_certificates(ssl);
  if (certs == nullptr || sk_CRYPTO_BUFFER_num(certs) == 0) {
    return Refuse(ssl, out_alert, SSL_AD_CERTIFICATE_REQUIRED, "peer sent no certificate");
  }
  bssl::UniquePtr<X509> leaf(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certs, 0)));
  bssl::UniquePtr<STACK_OF(X509)> chain(sk_X509_new_null());
  bool parsed = leaf != nullptr && chain != nullptr;
  for (size_t i = 1; parsed && i < sk_CRYPTO_BUFFER_num(certs); ++i) {
    bssl::UniquePtr<X509> cert(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certs, i)));
    parsed = cert != nullptr && bssl::PushToStack(chain.get(), std::move(cert));
  }
  if (!parsed) {
    ERR_clear_error();
    return Refuse(ssl, out_alert, SSL_AD_BAD_CERTIFICATE, "peer certificate does not parse");
  }

  // As BoringSSL's own verifier does, but against the configured CA only and
  // keeping the error for the log: the purpose follows the role, and the
  // SSL's parameters carry the expected host name.
  bssl::UniquePtr<X509_STORE_CTX> verify(X509_STORE_CTX_new());
  if (verify == nullptr ||
      !X509_STORE_CTX_init(verify.get(), state->context->trust_store(), leaf.get(), chain.get()) ||
      !X509_STORE_CTX_set_default(verify.get(), server ? "ssl_client" : "ssl_server") ||
      !X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(verify.get()), SSL_get0_param(ssl))) {
    ERR_clear_error();
    return Refuse(ssl, out_alert, SSL_AD_INTERNAL_ERROR, "cannot set up certificate verification");
  }
  if (X509_verify_cert(verify.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(verify.get());
    const int depth = X509_STORE_CTX_get_error_depth(verify.get());
    ERR_clear_error();
    auto [alert, reason] = VerifyErrorAlertAndReason(err, depth, leaf.get(), *state, server);
    return Refuse(ssl, out_alert, alert, std::move(reason));
  }
  if (X509_check_ca(leaf.get()) != 0) {
    return Refuse(ssl, out_alert, SSL_AD_BAD_CERTIFICATE,
                  "peer presented a CA certificate, not a gateway certificate");
  }
  absl::StatusOr<std::string> name = pki::CertificateGatewayName(leaf.get());
  if (!name.ok()) {
    return Refuse(ssl, out_alert, SSL_AD_BAD_CERTIFICATE,
                  absl::StrCat("peer ", name.status().message()));
  }
  if (!server) {
    // EncryptedExtensions, which carries the server's ALPN choice, comes
    // before its Certificate: the choice is known here.
    if (!AlpnIsBraid(ssl)) {
      return Refuse(ssl, out_alert, SSL_AD_NO_APPLICATION_PROTOCOL,
                    "no ALPN braid/1 (the server selected none)");
    }
  } else if (state->context->options().accept_peer) {
    absl::Status accepted = state->context->options().accept_peer(*name);
    if (!accepted.ok()) {
      return Refuse(ssl, out_alert, SSL_AD_ACCESS_DENIED,
                    absl::StrCat("peer ", *name, " refused: ", accepted.message()));
    }
  }
  if (state->context->options().check_certificate) {
    absl::Status accepted = state->context->options().check_certificate(leaf.get());
    if (!accepted.ok()) {
      return Refuse(ssl, out_alert, SSL_AD_CERTIFICATE_REVOKED,
                    absl::StrCat("peer ", *name, " refused: ", accepted.message()));
    }
  }
  return ssl_verify_ok;
}

ssl_select_cert_result_t RequireBraidAlpn(const SSL_CLIENT_HELLO* client_hello) {
  // The ALPN callback is not called when the client sends no ALPN extension
  // at all, so the requirement is checked here, on the raw ClientHello.
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!SSL_early_callback_ctx_extension_get(
          client_hello, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &len)) {
    RecordFailure(client_hello->ssl, "no ALPN braid/1 (the client offered none)");
    return ssl_select_cert_error;
  }
  CBS extension;
  CBS list;
  CBS_init(&extension, data, len);
  std::vector<std::string> offered;
  if (CBS_get_u16_length_prefixed(&extension, &list) && CBS_len(&extension) == 0) {
    CBS protocol;
    while (CBS_len(&list) > 0 && CBS_get_u8_length_prefixed(&list, &protocol)) {
      std::string name(reinterpret_cast<const char*>(CBS_data(&protocol)), CBS_len(&protocol));
      if (name == kAlpnProtocol) return ssl_select_cert_success;
      if (offered.size() < 8) offered.push_back(std::move(name));
    }
  }
  RecordFailure(
      client_hello->ssl,
      absl::StrCat("no ALPN braid/1 (the client offered: ",
                   offered.empty() ? "a malformed list" : absl::StrJoin(offered, ", "), ")"));
  return ssl_select_cert_error;
}

int SelectBraidAlpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                    unsigned in_len, void* /*arg*/) {
  CBS list;
  CBS protocol;
  CBS_init(&list, in, in_len);
  while (CBS_len(&list) > 0 && CBS_get_u8_length_prefixed(&list, &protocol)) {
    if (std::string_view(reinterpret_cast<const char*>(CBS_data(&protocol)), CBS_len(&protocol)) ==
        kAlpnProtocol) {
      *out = CBS_data(&protocol);
      *out_len = static_cast<uint8_t>(CBS_len(&protocol));
      return SSL_TLSEXT_ERR_OK;
    }
  }
  // Not reached in practice: RequireBraidAlpn has already checked the list.
  RecordFailure(ssl, "no ALPN braid/1");
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void RecordAlert(const SSL* ssl, int type, int value) {
  const int alert = value & 0xff;
  if (alert == SSL_AD_CLOSE_NOTIFY) return;
  LaneTlsState* state = GetLaneTlsState(ssl);
  if (state == nullptr) return;
  if (type == SSL_CB_READ_ALERT) {
    if (state->peer_alert.empty()) state->peer_alert = ReceivedAlertReason(alert);
  } else if (type == SSL_CB_WRITE_ALERT) {
    // Our callbacks record their reason before BoringSSL sends the alert, so
    // this only fills in refusals BoringSSL makes on its own.
    RecordFailure(ssl, SentAlertReason(alert));
  }
}

int CacheNewSession(SSL* ssl, SSL_SESSION* session) {
  LaneTlsState* state = GetLaneTlsState(ssl);
  if (state == nullptr || SSL_is_server(ssl) || state->expected_peer.empty()) return 0;
  // Returning 1 takes over the reference BoringSSL passed in.
  state->context->session_cache().Put(state->expected_peer, bssl::UniquePtr<SSL_SESSION>(session));
  return 1;
}

}  // namespace braid::proxy
