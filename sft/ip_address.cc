#include "braid/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace braid {
namespace {

uint64_t LoadBigEndian64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBigEndian64(uint64_t v, unsigned char* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v);
    v >>= 8;
  }
}

// Mask of the first `n` bits of a 64-bit word, n in [0, 64].
uint64_t HighBits(int n) { return n <= 0 ? 0 : n >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - n); }

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  // inet_pton wants a NUL-terminated string; the longest IPv6 text form is
  // 45 characters.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) != 1) return std::nullopt;
    return V4(ntohl(a4.s_addr));
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, buf, &a6) != 1) return std::nullopt;
  return V6(LoadBigEndian64(a6.s6_addr), LoadBigEndian64(a6.s6_addr + 8));
}

IpAddress IpAddress::Masked(int prefix_len) const {
  if (is_v4()) {
    uint32_t mask = prefix_len <= 0 ? 0 : prefix_len >= 32 ? ~uint32_t{0} : ~uint32_t{0} << (32 - prefix_len);
    return V4(v4() & mask);
  }
  return V6(hi_ & HighBits(prefix_len), lo_ & HighBits(prefix_len - 64));
}

std::string IpAddress::WithPort(uint16_t port) const {
  return is_v4() ? ToString() + ":" + std::to_string(port) : "[" + ToString() + "]:" + std::to_string(port);
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    in_addr a4;
    a4.s_addr = htonl(v4());
    inet_ntop(AF_INET, &a4, buf, sizeof(buf));
  } else {
    in6_addr a6;
    StoreBigEndian64(hi_, a6.s6_addr);
    StoreBigEndian64(lo_, a6.s6_addr + 8);
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
  }
  return buf;
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto address = IpAddress::Parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return Cidr(*address, address->bits());
  std::string_view len_text = text.substr(slash + 1);
  // Digits only: no sign, no spaces, no leading zeros ("/08" is ambiguous).
  if (len_text.empty() || len_text.size() > 3 || (len_text.size() > 1 && len_text[0] == '0')) {
    return std::nullopt;
  }
  int len = 0;
  for (char c : len_text) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + (c - '0');
  }
  if (len > address->bits()) return std::nullopt;
  return Cidr(*address, len);
}

IpAddress Cidr::broadcast() const {
  const IpAddress net = network();
  if (net.is_v4()) {
    uint32_t host = prefix_len_ >= 32 ? 0 : ~uint32_t{0} >> prefix_len_;
    return IpAddress::V4(net.v4() | host);
  }
  return IpAddress::V6(net.hi() | ~HighBits(prefix_len_), net.lo() | ~HighBits(prefix_len_ - 64));
}

std::string Cidr::ToString() const {
  return address_.ToString() + "/" + std::to_string(prefix_len_);
}

}  // namespace braid
