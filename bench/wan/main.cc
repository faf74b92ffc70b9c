// braid-link-emulator: an emulated WAN link between two TUN devices, for
// the WAN bench (bench/wan/README.md). One thread per direction, each a
// LinkPump with its own LinkModel; the main thread waits for SIGINT or
// SIGTERM, stops both and prints their counters.
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench/wan/link_pump.h"
#include "bench/wan/tun_device.h"

namespace {

using braid::bench::LinkConfig;
using braid::bench::LinkPump;
using braid::bench::TunDevice;

constexpr int kExitUsage = 2;
constexpr int kExitSetup = 1;
constexpr uint64_t kMiB = 1 << 20;

struct Options {
  std::string tun_a;
  std::string tun_b;
  double delay_ms = 0;
  double loss = 0;
  double rate_mbit = 0;
  double per_conn_mbit = 0;
  double per_conn_burst_kib = 0;  // 0: 10 ms at the policed rate
  uint64_t queue_bytes = 0;       // 0: 50 ms at the link rate
  double buffer_mib = 0;          // 0: sized from the delay
  int mtu = 65000;
  uint64_t seed = 1;
};

uint64_t MbitToBytesPerSecond(double mbit) { return static_cast<uint64_t>(mbit * 1e6 / 8); }

// BuildConfig turns the options into one direction's model config, filling
// in the defaults that depend on other options.
LinkConfig BuildConfig(const Options& o, uint64_t seed) {
  LinkConfig c;
  c.delay = std::chrono::nanoseconds(static_cast<int64_t>(o.delay_ms * 1e6));
  c.loss = o.loss;
  c.rate_bytes_per_s = MbitToBytesPerSecond(o.rate_mbit);
  const uint64_t four_packets = 4 * static_cast<uint64_t>(o.mtu);
  // A queue of 50 ms at the link rate: deep enough for a TCP flow to fill
  // the link at the bench's round trips, as a provider's edge buffer is.
  c.queue_bytes = o.queue_bytes > 0 ? o.queue_bytes : std::max(four_packets, c.rate_bytes_per_s / 20);
  c.per_conn_bytes_per_s = MbitToBytesPerSecond(o.per_conn_mbit);
  // A bucket of 10 ms at the policed rate, and at least four full packets,
  // or a large-MTU segment could never pass.
  c.per_conn_burst_bytes = o.per_conn_burst_kib > 0 ? static_cast<uint64_t>(o.per_conn_burst_kib * 1024)
                                                    : std::max(four_packets, c.per_conn_bytes_per_s / 100);
  c.seed = seed;
  return c;
}

// ArenaBytes: room for what one direction can have in flight: the delay at
// the link rate, plus the queue, plus slack; at least 16 MiB. Without a
// link rate, 10 GB/s: the emulator sustains less than that, but a TCP
// sender's bursts (slow start, a window opening) arrive at memory speed,
// and a smaller arena dropped some of them at 40 ms and 13 Gbit/s. At
// most 1 GiB; pages are resident only once a packet has used them.
size_t ArenaBytes(const Options& o, const LinkConfig& c) {
  if (o.buffer_mib > 0) return static_cast<size_t>(o.buffer_mib * kMiB);
  const double rate = c.rate_bytes_per_s > 0 ? static_cast<double>(c.rate_bytes_per_s) : 10e9;
  const double in_flight = rate * o.delay_ms / 1e3 + static_cast<double>(c.queue_bytes) + 8.0 * kMiB;
  return std::clamp<size_t>(static_cast<size_t>(in_flight), 16 * kMiB, 1024 * kMiB);
}

void PrintCounters(const char* direction, const LinkPump& pump) {
  std::printf("%s:", direction);
  auto print = [](const char* name, uint64_t value) { std::printf(" %s=%llu", name, static_cast<unsigned long long>(value)); };
  pump.link_counters().ForEach(print);
  pump.counters().ForEach(print);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"braid-link-emulator: an emulated WAN link (delay, loss, link rate, per-TCP-connection policer) "
               "between two TUN devices it creates. Prints 'ready' once both exist; counters on SIGINT/SIGTERM."};
  app.add_option("--tun-a", o.tun_a, "Name of the first TUN device to create")->required();
  app.add_option("--tun-b", o.tun_b, "Name of the second TUN device to create")->required();
  app.add_option("--delay-ms", o.delay_ms, "One-way delay, each direction (ms)")->check(CLI::NonNegativeNumber);
  app.add_option("--loss", o.loss, "Probability that a packet is lost, each direction (0.0001 = 0.01%)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--rate-mbit", o.rate_mbit, "Link rate (Mbit/s); 0: unlimited")->check(CLI::NonNegativeNumber);
  app.add_option("--per-conn-mbit", o.per_conn_mbit, "Per-TCP-connection policer rate (Mbit/s); 0: off")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--per-conn-burst-kib", o.per_conn_burst_kib,
                 "Policer bucket (KiB); default: 10 ms at its rate, at least 4 packets")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--queue-bytes", o.queue_bytes, "Link queue bound (bytes); default: 50 ms at the link rate");
  app.add_option("--buffer-mib", o.buffer_mib, "Packet memory per direction (MiB); default: sized from the delay")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--mtu", o.mtu, "MTU of both TUN devices")->check(CLI::Range(576, 65535));
  app.add_option("--seed", o.seed, "Seed of the loss PRNG (A->B uses it, B->A uses seed + 1)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (o.tun_a == o.tun_b) {
    std::fprintf(stderr, "braid-link-emulator: --tun-a and --tun-b must name different devices\n");
    return kExitUsage;
  }
  const LinkConfig ab = BuildConfig(o, o.seed);
  const LinkConfig ba = BuildConfig(o, o.seed + 1);
  if (absl::Status s = ab.Check(); !s.ok()) {
    std::fprintf(stderr, "braid-link-emulator: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }

  absl::StatusOr<TunDevice> a = TunDevice::Create(o.tun_a, o.mtu);
  absl::StatusOr<TunDevice> b = a.ok() ? TunDevice::Create(o.tun_b, o.mtu) : a.status();
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "braid-link-emulator: %s\n", std::string((a.ok() ? b : a).status().message()).c_str());
    return kExitSetup;
  }
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    std::perror("braid-link-emulator: eventfd");
    return kExitSetup;
  }

  // SIGINT and SIGTERM are blocked in every thread (the pumps inherit the
  // mask) and taken here by sigwait, so that a signal never interrupts a
  // pump between a read and its bookkeeping.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const size_t arena = ArenaBytes(o, ab);
  LinkPump a_to_b(a->fd(), b->fd(), stop_fd, ab, arena);
  LinkPump b_to_a(b->fd(), a->fd(), stop_fd, ba, arena);
  {
    std::jthread t1([&] { a_to_b.Run(); });
    std::jthread t2([&] { b_to_a.Run(); });
    pthread_setname_np(t1.native_handle(), "link a->b");
    pthread_setname_np(t2.native_handle(), "link b->a");
    std::printf("ready: %s <-> %s, delay %.3f ms each way, loss %g, rate %g Mbit/s, per-connection %g Mbit/s "
                "(burst %llu bytes), queue %llu bytes, mtu %d, %zu MiB per direction\n",
                o.tun_a.c_str(), o.tun_b.c_str(), o.delay_ms, o.loss, o.rate_mbit, o.per_conn_mbit,
                static_cast<unsigned long long>(ab.per_conn_burst_bytes),
                static_cast<unsigned long long>(ab.queue_bytes), o.mtu, arena / kMiB);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    const uint64_t one = 1;
    if (::write(stop_fd, &one, sizeof one) < 0) std::perror("braid-link-emulator: eventfd write");
  }  // the jthreads join here
  ::close(stop_fd);
  PrintCounters("a->b", a_to_b);
  PrintCounters("b->a", b_to_a);
  return 0;
}
