// Test packets for the WAN link emulator's core: IPv4 headers with just
// the fields the policer reads set, and a size chosen by the test.
#ifndef BRAID_TESTS_BENCH_WAN_PACKET_BUILDER_H_
#define BRAID_TESTS_BENCH_WAN_PACKET_BUILDER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace braid::bench::testing {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

// MakeIpv4 builds a packet of `size` bytes (at least 24): IPv4, 20-byte
// header, the given protocol, source and destination ports at the start of
// the payload, and the total length field set to `size`.
inline std::vector<uint8_t> MakeIpv4(uint32_t src, uint32_t dst, uint16_t src_port, uint16_t dst_port,
                                     size_t size, uint8_t proto = kProtoTcp) {
  std::vector<uint8_t> p(std::max<size_t>(size, 24), 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = proto;
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
    p[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  p[20] = static_cast<uint8_t>(src_port >> 8);
  p[21] = static_cast<uint8_t>(src_port);
  p[22] = static_cast<uint8_t>(dst_port >> 8);
  p[23] = static_cast<uint8_t>(dst_port);
  return p;
}

// 198.18.0.1 and 198.18.0.2, the bench's two ends.
constexpr uint32_t kAddrA = 0xc6120001;
constexpr uint32_t kAddrB = 0xc6120002;

}  // namespace braid::bench::testing

#endif  // BRAID_TESTS_BENCH_WAN_PACKET_BUILDER_H_
