// CertificateAuthority: braid's private CA, and the certificates it issues to
// gateways.
//
// braid runs its own small PKI: one self-signed CA certificate that every
// gateway trusts and nothing else, and one certificate per gateway that names
// it. `braidctl pki` uses this to make the CA and to issue certificates from
// files; the controller (later) keeps a CertificateAuthority loaded and signs
// enrollment CSRs with SignCsr, so every certificate, however it was made,
// has the same profile:
//
//   CA:      CN=<common name>, basicConstraints CA:TRUE (critical),
//            keyUsage keyCertSign+cRLSign (critical), SKI, AKI.
//   gateway: CN=NAME, subjectAltName DNS:NAME (the identity TLS checks),
//            basicConstraints CA:FALSE (critical), keyUsage digitalSignature
//            (critical), extendedKeyUsage serverAuth+clientAuth (a gateway
//            both accepts and opens tunnels), SKI, AKI.
//   both:    X.509 v3, random positive 128-bit serial, ECDSA P-256 keys,
//            ECDSA-with-SHA256 signatures, notBefore backdated one hour.
//
// Keys are ECDSA P-256 because it is the one choice that is fast and
// universally supported: a P-256 signature is cheap enough to keep full
// handshakes (a new tunnel after idle teardown) fast, the keys and
// certificates are small, and every TLS 1.3 stack supports it as a mandatory
// algorithm (RFC 8446 9.1), unlike Ed25519 certificates. RSA would cost far
// more per handshake for no gain.
//
// Thread-safety: a CertificateAuthority is immutable after creation; its const
// methods may be called from several threads at once.
#ifndef BRAID_PKI_CERTIFICATE_AUTHORITY_H_
#define BRAID_PKI_CERTIFICATE_AUTHORITY_H_

#include <openssl/base.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pki {

inline constexpr std::string_view kDefaultCaCommonName = "braid CA";
inline constexpr int kDefaultCaValidityDays = 3650;
inline constexpr int kDefaultCertificateValidityDays = 365;
// kMaxValidityDays bounds any validity: 100 years is far beyond any sane use
// and keeps the arithmetic clear of time_t overflow.
inline constexpr int kMaxValidityDays = 36500;

struct CaOptions {
  std::string common_name{kDefaultCaCommonName};
  int validity_days = kDefaultCaValidityDays;
};

struct IssueOptions {
  int validity_days = kDefaultCertificateValidityDays;
};

// IssuedIdentity is a gateway's new key and its certificate.
struct IssuedIdentity {
  bssl::UniquePtr<EVP_PKEY> key;
  bssl::UniquePtr<X509> certificate;
};

// GenerateKey returns a new ECDSA P-256 private key, or an internal error.
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateKey();

// MakeCsrPem returns a PEM certificate signing request for gateway `name`
// (its CN) signed with `key`: what `braidctl enroll` sends the controller,
// which takes only the key from it. Returns InvalidArgument for a bad name,
// Internal if BoringSSL fails.
absl::StatusOr<std::string> MakeCsrPem(EVP_PKEY* key, std::string_view name);

// VerifyCertificate returns OK if `cert` chains to `ca_cert` and is valid now,
// checked with X509_verify_cert against a store holding only `ca_cert`.
// Otherwise InvalidArgument with the verifier's reason.
absl::Status VerifyCertificate(X509* cert, X509* ca_cert);

// Fingerprint returns the SHA-256 of `cert`'s DER encoding as lowercase hex.
std::string Fingerprint(const X509* cert);

// NotAfterText returns `cert`'s expiry as text ("Nov 23 08:29:00 2035 GMT").
std::string NotAfterText(const X509* cert);

class CertificateAuthority {
 public:
  // Create makes a new CA: a P-256 key and a self-signed certificate.
  // Returns InvalidArgument for an empty common name or a validity outside
  // [1, kMaxValidityDays], Internal if BoringSSL fails.
  static absl::StatusOr<CertificateAuthority> Create(const CaOptions& options = {});

  // FromPem loads a CA from its certificate and private key. Returns
  // InvalidArgument if either does not parse, the certificate is not a CA
  // certificate, or the key does not belong to it.
  static absl::StatusOr<CertificateAuthority> FromPem(std::string_view cert_pem,
                                                      std::string_view key_pem);

  // LoadFiles reads the certificate and key files and calls FromPem. Errors
  // name the file; a missing file is NotFound.
  static absl::StatusOr<CertificateAuthority> LoadFiles(const std::string& cert_path,
                                                        const std::string& key_path);

  CertificateAuthority(CertificateAuthority&&) = default;
  CertificateAuthority& operator=(CertificateAuthority&&) = default;

  // Issue makes a certificate for gateway `name` with a new P-256 key.
  // Returns InvalidArgument for a name ValidateGatewayName rejects or a bad
  // validity, FailedPrecondition if the CA has expired or would expire before
  // the new certificate.
  absl::StatusOr<IssuedIdentity> Issue(std::string_view name,
                                       const IssueOptions& options = {}) const;

  // SignCsr issues a certificate for gateway `name` to the key in a PEM
  // certificate signing request. The CSR's signature must verify (it proves
  // the requester holds the key) and the key must be ECDSA P-256; everything
  // else the CSR asks for (subject, extensions) is ignored: `name` comes from
  // the caller (the enrollment token), never from the request. Returns
  // InvalidArgument for a CSR that does not parse, a bad signature, another
  // key type, or a bad name; otherwise as Issue.
  absl::StatusOr<bssl::UniquePtr<X509>> SignCsr(std::string_view csr_pem, std::string_view name,
                                                const IssueOptions& options = {}) const;

  // SignPublicKey issues a certificate for gateway `name` to `public_key`,
  // which must be ECDSA P-256. Errors as Issue.
  absl::StatusOr<bssl::UniquePtr<X509>> SignPublicKey(EVP_PKEY* public_key, std::string_view name,
                                                      const IssueOptions& options = {}) const;

  // certificate and key return the CA's own; the CA keeps ownership.
  X509* certificate() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }

 private:
  CertificateAuthority(bssl::UniquePtr<X509> cert, bssl::UniquePtr<EVP_PKEY> key)
      : cert_(std::move(cert)), key_(std::move(key)) {}

  bssl::UniquePtr<X509> cert_;
  bssl::UniquePtr<EVP_PKEY> key_;
};

}  // namespace braid::pki

#endif  // BRAID_PKI_CERTIFICATE_AUTHORITY_H_
