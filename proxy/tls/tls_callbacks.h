// The BoringSSL callbacks behind TlsContext, and the per-SSL state they share.
// Internal to braid_tls: tls_context.h is the interface.
//
// Each SSL made by a TlsContext carries a LaneTlsState in its ex_data slot:
// the context (kept alive by it), the peer name a client expects, and the
// first reason this side refused the connection and the first alert the
// peer sent. Recording them as they happen, rather than reading BoringSSL's
// error queue afterwards, keeps the reasons for callers whose I/O layer
// (asio's SSL engine) consumes that queue itself.
#ifndef BRAID_PROXY_TLS_TLS_CALLBACKS_H_
#define BRAID_PROXY_TLS_TLS_CALLBACKS_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace braid::proxy {

class TlsContext;

struct LaneTlsState {
  std::shared_ptr<const TlsContext> context;
  std::string expected_peer;  // Client only: the gateway it must reach.
  std::string failure;        // The first refusal this side recorded.
  std::string peer_alert;     // The first fatal alert the peer sent.
};

// AttachLaneTlsState gives `state` to `ssl`, which frees it. Returns false
// if BoringSSL fails (the state is freed).
bool AttachLaneTlsState(SSL* ssl, std::unique_ptr<LaneTlsState> state);

// GetLaneTlsState returns the state of `ssl`, or null for an SSL that no
// TlsContext made.
LaneTlsState* GetLaneTlsState(const SSL* ssl);

// RecordFailure stores `reason` as the SSL's failure unless one is already
// recorded: the first refusal is the cause, later ones are consequences.
void RecordFailure(const SSL* ssl, std::string reason);

// AlpnIsBraid returns whether the connection negotiated ALPN braid/1.
bool AlpnIsBraid(const SSL* ssl);

// The callbacks, installed by TlsContext on its SSL_CTX (VerifyPeer also per
// server SSL, to require a client certificate).
ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert);
ssl_select_cert_result_t RequireBraidAlpn(const SSL_CLIENT_HELLO* client_hello);
int SelectBraidAlpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                    unsigned in_len, void* arg);
// RecordAlert (the info callback) records the first fatal alert the peer
// sent, and, as the failure, a fatal alert this side sent on its own.
void RecordAlert(const SSL* ssl, int type, int value);
int CacheNewSession(SSL* ssl, SSL_SESSION* session);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TLS_TLS_CALLBACKS_H_
