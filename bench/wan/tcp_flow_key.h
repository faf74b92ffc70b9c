// TcpFlowKey: the addresses and ports of an IPv4 TCP packet, read from the
// packet's own headers, as a carrier's per-connection policer would classify
// it. The protocol is always TCP, so the 4-tuple is the 5-tuple.
#ifndef BRAID_BENCH_WAN_TCP_FLOW_KEY_H_
#define BRAID_BENCH_WAN_TCP_FLOW_KEY_H_

#include <cstdint>
#include <optional>
#include <span>
#include <utility>

namespace braid::bench {

struct TcpFlowKey {
  uint32_t src_addr = 0;  // host byte order
  uint32_t dst_addr = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;

  friend bool operator==(const TcpFlowKey&, const TcpFlowKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const TcpFlowKey& k) {
    return H::combine(std::move(h), k.src_addr, k.dst_addr, k.src_port, k.dst_port);
  }
};

// ParseTcpFlowKey reads the key of an IPv4 packet carrying TCP. Returns
// nullopt for anything else, and for anything it cannot read whole: not
// IPv4, another protocol, a header length or total length that does not fit
// the bytes, a packet cut before the ports, and fragments other than the
// first (they carry no ports). The bytes are untrusted; nothing is read
// beyond packet.size().
std::optional<TcpFlowKey> ParseTcpFlowKey(std::span<const uint8_t> packet);

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_TCP_FLOW_KEY_H_
