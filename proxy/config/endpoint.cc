// Endpoint parsing: "host:port" as operators write it in a gateway config.
//
// IPv6 literals must be bracketed ("[::1]:443"): without brackets the last
// colon could belong to the address or the port. A host that is not an IP
// literal must be a DNS name; a name whose last label is all digits is
// refused, because resolvers read "10.0.0.256" or "10.1" as (odd) IPv4
// addresses, and such a value is a typo for an address far more often than
// a name.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "braid/ip_address.h"
#include "proxy/config/config_names.h"
#include "proxy/config/gateway_config.h"

namespace braid::proxy {
namespace {

// ParsePort reads 1-5 decimal digits without sign or leading zeros into
// 0-65535.
std::optional<uint16_t> ParsePort(const std::string& text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::optional<Endpoint> ParseEndpoint(const std::string& text, bool allow_name) {
  Endpoint out;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    // Brackets are for IPv6 only: "[10.0.0.1]:80" and "[db]:80" are refused.
    std::optional<IpAddress> ip = IpAddress::Parse(out.host);
    if (!ip || ip->is_v4()) return std::nullopt;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    // A bare colon in the host is an unbracketed IPv6 literal.
    if (out.host.find(':') != std::string::npos) return std::nullopt;
    std::optional<IpAddress> ip = IpAddress::Parse(out.host);
    if (!ip && !(allow_name && IsHostName(out.host))) return std::nullopt;
  }
  std::optional<uint16_t> port = ParsePort(port_text);
  if (!port) return std::nullopt;
  out.port = *port;
  return out;
}

}  // namespace braid::proxy
