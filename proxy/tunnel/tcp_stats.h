// TcpStats: what the kernel says of one TCP connection (TCP_INFO), in the
// few fields that explain a connection's throughput on a long link.
//
// Read in a translation unit of its own: the fields braid wants (min_rtt,
// delivery_rate) are only in the kernel's <linux/tcp.h>, whose struct
// tcp_info clashes with glibc's older one in <netinet/tcp.h>, which Asio
// includes.
#ifndef BRAID_PROXY_TUNNEL_TCP_STATS_H_
#define BRAID_PROXY_TUNNEL_TCP_STATS_H_

#include <cstdint>

namespace braid::proxy {

struct TcpStats {
  uint32_t rtt_us = 0;         // smoothed round trip
  uint32_t min_rtt_us = 0;     // lowest round trip seen: the path without queues
  uint32_t cwnd_segments = 0;  // congestion window
  uint32_t mss = 0;            // sender's segment size, so cwnd can be read in bytes
  uint64_t retransmits = 0;    // segments retransmitted over the connection's life
  uint64_t delivery_rate = 0;  // bytes/s, the kernel's latest delivery-rate sample
};

// ReadTcpStats fills *out from socket `fd`. Returns false (and leaves *out
// alone) when the socket is not a TCP socket or is closed.
bool ReadTcpStats(int fd, TcpStats* out);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_TCP_STATS_H_
