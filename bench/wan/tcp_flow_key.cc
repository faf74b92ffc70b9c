#include "bench/wan/tcp_flow_key.h"

namespace braid::bench {
namespace {

constexpr size_t kIpv4MinHeader = 20;
constexpr uint8_t kProtoTcp = 6;

uint16_t Load16(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}
uint32_t Load32(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint32_t>(Load16(p, at)) << 16 | Load16(p, at + 2);
}

}  // namespace

std::optional<TcpFlowKey> ParseTcpFlowKey(std::span<const uint8_t> packet) {
  if (packet.size() < kIpv4MinHeader || packet[0] >> 4 != 4) return std::nullopt;
  const size_t header = static_cast<size_t>(packet[0] & 0x0f) * 4;
  const size_t total = Load16(packet, 2);
  // The IP total length may be shorter than what was read (link padding),
  // never longer; the ports must lie inside both.
  if (header < kIpv4MinHeader || total > packet.size() || header + 4 > total) return std::nullopt;
  if (packet[9] != kProtoTcp) return std::nullopt;
  const uint16_t fragment_offset = Load16(packet, 6) & 0x1fff;
  if (fragment_offset != 0) return std::nullopt;
  return TcpFlowKey{.src_addr = Load32(packet, 12),
                    .dst_addr = Load32(packet, 16),
                    .src_port = Load16(packet, header),
                    .dst_port = Load16(packet, header + 2)};
}

}  // namespace braid::bench
