#include "controller/api/control_tls.h"

#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pki/boringssl_error.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"

namespace braid::controller {
namespace {

namespace ssl = boost::asio::ssl;

// NewTls13Context makes a context that speaks TLS 1.3 and nothing else.
absl::StatusOr<std::shared_ptr<ssl::context>> NewTls13Context(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  SSL_CTX* native = ctx->native_handle();
  if (!SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION)) {
    return pki::BoringSslError(absl::StatusCode::kInternal, "cannot restrict the control TLS to 1.3");
  }
  return ctx;
}

// UseIdentity loads a certificate chain and its key from PEM files,
// checking first that they can be read, so that errors name the file.
absl::Status UseIdentity(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  absl::StatusOr<std::string> cert_pem = pki::ReadFile(cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = pki::ReadFile(key_file);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> chain = pki::CertificatesFromPem(*cert_pem);
  if (!chain.ok() || chain->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_file, ": no certificate"));
  }
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = pki::PrivateKeyFromPem(*key_pem);
  if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat(key_file, ": ", key.status().message()));
  if (!SSL_CTX_use_certificate(ctx, (*chain)[0].get())) {
    return pki::BoringSslError(absl::StatusCode::kInvalidArgument, cert_file);
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (!SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get())) {
      return pki::BoringSslError(absl::StatusCode::kInvalidArgument, cert_file);
    }
  }
  if (!SSL_CTX_use_PrivateKey(ctx, key->get()) || !SSL_CTX_check_private_key(ctx)) {
    return pki::BoringSslError(absl::StatusCode::kInvalidArgument,
                               absl::StrCat(key_file, " does not belong to ", cert_file));
  }
  return absl::OkStatus();
}

// TrustOnly makes `ca_pem`'s certificates the context's only trust anchors.
absl::Status TrustOnly(SSL_CTX* ctx, std::string_view ca_pem, const std::string& what) {
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> cas = pki::CertificatesFromPem(ca_pem);
  if (!cas.ok() || cas->empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no CA certificate"));
  bssl::UniquePtr<X509_STORE> store(X509_STORE_new());
  for (const auto& ca : *cas) {
    if (X509_check_ca(ca.get()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": holds a certificate that is not a CA"));
    }
    if (!X509_STORE_add_cert(store.get(), ca.get())) {
      return pki::BoringSslError(absl::StatusCode::kInvalidArgument, what);
    }
  }
  SSL_CTX_set_cert_store(ctx, store.release());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> MakeServerTls(const std::string& cert_file, const std::string& key_file,
                                                            const std::string& ca_file) {
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx = NewTls13Context(ssl::context::tls_server);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* native = (*ctx)->native_handle();
  if (absl::Status s = UseIdentity(native, cert_file, key_file); !s.ok()) return s;
  absl::StatusOr<std::string> ca_pem = pki::ReadFile(ca_file);
  if (!ca_pem.ok()) return ca_pem.status();
  if (absl::Status s = TrustOnly(native, *ca_pem, ca_file); !s.ok()) return s;
  // Ask for a client certificate and verify one if sent, but serve a client
  // without one: enrollment comes before the client has a certificate. The
  // API server checks the identity each endpoint needs.
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  // No tickets: every control connection is verified in full, and a
  // revocation takes effect on the next connection.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  return ctx;
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeClientTls(const ClientTlsOptions& options) {
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx = NewTls13Context(ssl::context::tls_client);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* native = (*ctx)->native_handle();
  if (!options.cert_file.empty()) {
    if (absl::Status s = UseIdentity(native, options.cert_file, options.key_file); !s.ok()) return s;
  }
  if (!options.verify_server) {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  if (absl::Status s = TrustOnly(native, options.ca_pem, "the controller's CA"); !s.ok()) return s;
  if (!X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(native), options.server_name.data(),
                                   options.server_name.size())) {
    return pki::BoringSslError(absl::StatusCode::kInvalidArgument, "controller name");
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

std::string CertificateSerial(const X509* cert) {
  bssl::UniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return "";
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

absl::StatusOr<PeerIdentity> GetPeerIdentity(const SSL* ssl) {
  bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl));
  if (cert == nullptr) return absl::FailedPreconditionError("no client certificate");
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return absl::PermissionDeniedError(
        absl::StrCat("client certificate not verified: ",
                     X509_verify_cert_error_string(SSL_get_verify_result(ssl))));
  }
  absl::StatusOr<std::string> name = pki::CertificateGatewayName(cert.get());
  if (!name.ok()) return name.status();
  return PeerIdentity{*std::move(name), CertificateSerial(cert.get())};
}

}  // namespace braid::controller
