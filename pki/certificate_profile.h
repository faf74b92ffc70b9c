// The X.509 profile of braid certificates: building a certificate with the
// fields and extensions described in certificate_authority.h. Internal to
// braid_pki; callers use CertificateAuthority.
#ifndef BRAID_PKI_CERTIFICATE_PROFILE_H_
#define BRAID_PKI_CERTIFICATE_PROFILE_H_

#include <openssl/base.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pki {

// kBackdateSeconds: notBefore is set this far in the past so that a peer
// whose clock is a little behind accepts a certificate issued a moment ago.
inline constexpr int kBackdateSeconds = 3600;

// CheckValidityDays returns InvalidArgument unless 1 <= days <=
// kMaxValidityDays.
absl::Status CheckValidityDays(int days);

// IsP256 returns whether `key` is an ECDSA key on P-256.
bool IsP256(const EVP_PKEY* key);

// NewCertificate returns an unsigned v3 certificate for `subject_key` with a
// random positive 128-bit serial, subject CN=`common_name`, notBefore now
// minus kBackdateSeconds and notAfter `validity_days` from now, and a subject
// key identifier. Issuer and other extensions are left to the caller.
absl::StatusOr<bssl::UniquePtr<X509>> NewCertificate(EVP_PKEY* subject_key,
                                                     std::string_view common_name,
                                                     int validity_days);

// AddCaExtensions adds basicConstraints CA:TRUE and keyUsage
// keyCertSign+cRLSign, both critical.
absl::Status AddCaExtensions(X509* cert);

// AddGatewayExtensions adds subjectAltName DNS:`name`, basicConstraints
// CA:FALSE and keyUsage digitalSignature (both critical), and
// extendedKeyUsage serverAuth+clientAuth.
absl::Status AddGatewayExtensions(X509* cert, std::string_view name);

// SignWithIssuer sets `cert`'s issuer name and authority key identifier from
// `issuer_cert` and signs it with `issuer_key` (ECDSA with SHA-256).
absl::Status SignWithIssuer(X509* cert, X509* issuer_cert, EVP_PKEY* issuer_key);

}  // namespace braid::pki

#endif  // BRAID_PKI_CERTIFICATE_PROFILE_H_
