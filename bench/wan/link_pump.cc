#include "bench/wan/link_pump.h"

#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace braid::bench {
namespace {

std::chrono::nanoseconds Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

timespec ToTimespec(std::chrono::nanoseconds d) {
  const int64_t ns = std::max<int64_t>(0, d.count());
  return timespec{.tv_sec = static_cast<time_t>(ns / 1'000'000'000), .tv_nsec = static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

LinkPump::LinkPump(int in_fd, int out_fd, int stop_fd, const LinkConfig& config, size_t arena_bytes)
    : in_fd_(in_fd), out_fd_(out_fd), stop_fd_(stop_fd), model_(config), arena_(arena_bytes), scratch_(kMaxPacket) {}

void LinkPump::SendDue(std::chrono::nanoseconds now) {
  while (const std::optional<LinkModel::Released> p = model_.PopReleased(now)) {
    const std::span<const uint8_t> bytes = arena_.View(p->tag, p->size);
    // A TUN write hands the packet to the kernel's receive path and never
    // blocks. A refused packet (the device is down) is lost, as on a link
    // that is down.
    if (::write(out_fd_, bytes.data(), bytes.size()) < 0) ++counters_.write_errors;
    arena_.ReleaseOldest(p->tag, p->size);
  }
}

bool LinkPump::ReadBatch() {
  for (int i = 0; i < kReadBatch; ++i) {
    const PacketArena::Room room = arena_.Reserve(kMaxPacket);
    uint8_t* into = room.bytes.empty() ? scratch_.data() : room.bytes.data();
    const ssize_t n = ::read(in_fd_, into, kMaxPacket);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) ++counters_.read_errors;
      return false;
    }
    if (n == 0) return false;
    if (room.bytes.empty()) {
      ++counters_.dropped_no_buffer;
      continue;
    }
    const auto packet = room.bytes.first(static_cast<size_t>(n));
    if (model_.Offer(room.offset, packet, Now()) == LinkModel::Verdict::kQueued) arena_.Commit(packet.size());
  }
  return true;
}

void LinkPump::Run() {
  // Wake within a microsecond of a release time: the default timer slack
  // (50 us) would add up to 50 us to every delay.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  bool more_waiting = false;
  for (;;) {
    SendDue(Now());
    timespec wait{};
    timespec* timeout = &wait;  // zero: only look, when a full batch may have left more
    if (!more_waiting) {
      const std::optional<std::chrono::nanoseconds> next = model_.NextRelease();
      if (next) {
        wait = ToTimespec(*next - Now());
      } else {
        timeout = nullptr;  // nothing in flight: sleep until a packet or stop
      }
    }
    pollfd fds[2] = {{.fd = in_fd_, .events = POLLIN, .revents = 0}, {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
    const int ready = ::ppoll(fds, 2, timeout, nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "braid-link-emulator: ppoll: %s\n", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      std::fprintf(stderr, "braid-link-emulator: input device failed (poll events 0x%x)\n", fds[0].revents);
      return;
    }
    more_waiting = (fds[0].revents & POLLIN) != 0 && ReadBatch();
  }
}

}  // namespace braid::bench
