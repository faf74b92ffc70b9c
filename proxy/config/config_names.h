// Name rules shared by the gateway config's parsers. Internal to
// proxy/config.
#ifndef BRAID_PROXY_CONFIG_CONFIG_NAMES_H_
#define BRAID_PROXY_CONFIG_CONFIG_NAMES_H_

#include <string>

namespace braid::proxy {

// IsGatewayName: 1-253 characters of A-Za-z0-9_.- in dot-separated labels of
// 1-63 characters, none starting or ending with '-'. The same rule as
// pki::ValidateGatewayName, so that every name a config accepts can be
// issued a certificate (the name is the certificate's DNS SAN). It is
// repeated here rather than linked so that the config library does not pull
// in BoringSSL.
bool IsGatewayName(const std::string& name);

// IsHostName: a DNS name that a resolver will not mistake for an IPv4
// address: a gateway name whose last label is not all digits.
bool IsHostName(const std::string& name);

// IsServiceName: 1-64 characters of A-Za-z0-9_.- (service names appear in
// logs and metric labels, so they stay short).
bool IsServiceName(const std::string& name);

inline constexpr char kGatewayNameRule[] =
    "1-253 characters of A-Za-z0-9_.- in dot-separated labels of 1-63, no label starting or ending with '-'";
inline constexpr char kServiceNameRule[] = "1-64 characters of A-Za-z0-9_.-";

}  // namespace braid::proxy

#endif  // BRAID_PROXY_CONFIG_CONFIG_NAMES_H_
