// IpAddress and Cidr: the address types shared by the SFT engine, the gateway
// and the controller.
//
// Both families live in one 128-bit value so that lookups never branch on a
// variant: an IPv4 address occupies the low 32 bits of `lo` with `hi` zero,
// and the family tag keeps IPv4 and IPv6 apart (an IPv4 flow never matches an
// IPv6 CIDR, and 10.0.0.1 is not ::a00:1).
#ifndef BRAID_IP_ADDRESS_H_
#define BRAID_IP_ADDRESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace braid {

enum class AddressFamily : uint8_t { kV4 = 4, kV6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress V4(uint32_t addr) { return IpAddress(AddressFamily::kV4, 0, addr); }
  static IpAddress V6(uint64_t hi, uint64_t lo) { return IpAddress(AddressFamily::kV6, hi, lo); }

  // Parse parses dotted-quad IPv4 or RFC 4291 text IPv6 (no zone, no
  // brackets). Returns nullopt for anything else.
  static std::optional<IpAddress> Parse(std::string_view text);

  AddressFamily family() const { return family_; }
  bool is_v4() const { return family_ == AddressFamily::kV4; }
  // Width of the family in bits: 32 or 128.
  int bits() const { return is_v4() ? 32 : 128; }
  uint64_t hi() const { return hi_; }
  uint64_t lo() const { return lo_; }
  uint32_t v4() const { return static_cast<uint32_t>(lo_); }

  // Masked returns the address with all but the first `prefix_len` bits
  // cleared. prefix_len must be within [0, bits()].
  IpAddress Masked(int prefix_len) const;

  std::string ToString() const;
  // WithPort renders "a.b.c.d:port" or "[v6]:port".
  std::string WithPort(uint16_t port) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  IpAddress(AddressFamily family, uint64_t hi, uint64_t lo) : family_(family), hi_(hi), lo_(lo) {}

  // Order of members matters for operator<=>: family first.
  AddressFamily family_ = AddressFamily::kV4;
  uint64_t hi_ = 0;
  uint64_t lo_ = 0;
};

// Cidr is an address block. It keeps the address as written, host bits and
// all, so that lint can point at "10.0.0.5/24"; matching always uses the
// masked network().
class Cidr {
 public:
  Cidr() = default;
  Cidr(IpAddress address, int prefix_len)
      : address_(address), prefix_len_(static_cast<uint8_t>(prefix_len)) {}

  // Parse accepts "ADDR/LEN" or a bare "ADDR" (a /32 or /128). Returns
  // nullopt for anything else, including a length out of range or with
  // a sign or leading zeros.
  static std::optional<Cidr> Parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  int prefix_len() const { return prefix_len_; }
  AddressFamily family() const { return address_.family(); }
  IpAddress network() const { return address_.Masked(prefix_len_); }
  // Last address of the block.
  IpAddress broadcast() const;
  bool has_host_bits() const { return address_ != network(); }

  bool Contains(const IpAddress& addr) const {
    return addr.family() == family() && addr.Masked(prefix_len_) == network();
  }
  bool Contains(const Cidr& other) const {
    return other.family() == family() && other.prefix_len_ >= prefix_len_ &&
           Contains(other.address_);
  }

  std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddress address_;
  uint8_t prefix_len_ = 0;
};

}  // namespace braid

#endif  // BRAID_IP_ADDRESS_H_
