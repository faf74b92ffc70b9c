// Gateway names: the one identity that braid's PKI and its TLS layer agree on.
//
// A gateway is known by a DNS-like name ("gw-onprem", "gw1.eu.example"). The
// name is the certificate's subject CN and its single DNS subjectAltName; it
// is what a connecting gateway expects (X509_VERIFY_PARAM_set1_host) and what
// an accepting gateway learns about its peer. It also names files
// (DIR/NAME.crt), so the character set is kept narrow enough that a name can
// never be a path: no '/', no wildcard, no leading dot.
#ifndef BRAID_PKI_GATEWAY_NAME_H_
#define BRAID_PKI_GATEWAY_NAME_H_

#include <openssl/base.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pki {

inline constexpr size_t kMaxGatewayNameLength = 253;
inline constexpr size_t kMaxGatewayLabelLength = 63;

// ValidateGatewayName returns OK if `name` can name a gateway: 1 to 253
// characters from A-Z a-z 0-9 '.' '-' '_', made of dot-separated labels of 1
// to 63 characters, no label starting or ending with '-'. Otherwise it returns
// InvalidArgument saying what is wrong and where (the first bad character and
// its position, the empty or overlong label).
absl::Status ValidateGatewayName(std::string_view name);

// CertificateGatewayName returns the gateway name `cert` was issued for: its
// single DNS subjectAltName. Returns InvalidArgument if the certificate has no
// subjectAltName, no DNS name or more than one (braid certificates carry
// exactly one), or a name that ValidateGatewayName rejects.
absl::StatusOr<std::string> CertificateGatewayName(const X509* cert);

}  // namespace braid::pki

#endif  // BRAID_PKI_GATEWAY_NAME_H_
