#include "proxy/tunnel/tcp_stats.h"

#include <netinet/in.h>
// After netinet/in.h, and never beside <netinet/tcp.h> (see the header).
#include <linux/tcp.h>
#include <sys/socket.h>

namespace braid::proxy {

bool ReadTcpStats(int fd, TcpStats* out) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  out->rtt_us = info.tcpi_rtt;
  out->min_rtt_us = info.tcpi_min_rtt;
  out->cwnd_segments = info.tcpi_snd_cwnd;
  out->mss = info.tcpi_snd_mss;
  out->retransmits = info.tcpi_total_retrans;
  out->delivery_rate = info.tcpi_delivery_rate;
  return true;
}

}  // namespace braid::proxy
