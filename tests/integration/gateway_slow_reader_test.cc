// A destination that reads slowly for a long time, then at full speed
// (issue 6, section 3): it reads at 1 MB/s for a minute, while the source
// pushes as fast as the gateways let it, then as fast as it can.
//
// What must hold:
//   - during the slow minute the flow keeps pace with the reader (it reads
//     about 1 MB every second: nothing stalls for good) and neither
//     gateway's memory grows past what the flow's windows allow: credit,
//     not buffering, holds the source back;
//   - once the reader speeds up, the flow is back at full speed within 2 s:
//     the bytes read in the second after those 2 s are a fair share of the
//     rate measured before the slow minute (a generous criterion: this is a
//     behaviour, not a benchmark);
//   - every byte arrives, in order (checked at its offset and by SHA-256),
//     and the flow ends cleanly.
//
// It runs for about 65 s. BRAID_SLOW_READER_SECONDS shortens the slow phase
// for a quick run by hand; the default is the minute.
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kSeed = 0x510e;
constexpr uint64_t kWindow = 4 * kMiB;  // flow_window_bytes on both gateways
constexpr int kLanes = 2;
constexpr double kSlowRate = 1e6;  // bytes per second
constexpr Millis kWarm(2'000);     // full speed before the slow phase
constexpr Millis kRecovery(2'000); // the bound: full speed back within this
constexpr Millis kTick(10);        // the slow reader's pacing step

Millis SlowPhase() {
  const char* env = std::getenv("BRAID_SLOW_READER_SECONDS");
  const int seconds = env != nullptr ? std::atoi(env) : 0;
  return Millis(1'000 * (seconds > 0 ? seconds : 60));
}

// What the destination measured.
struct Reader {
  uint64_t warm_rate = 0;      // bytes in the last second of the warm phase
  uint64_t slow_bytes = 0;     // bytes read during the slow phase
  uint64_t recovered_rate = 0; // bytes in the second after kRecovery past the switch
  bool measured = false;        // the reader got as far as measuring recovered_rate
  ReceiveResult result;        // everything, to the end of the stream
};

// PacedReader reads `s` in three phases (full speed for kWarm, kSlowRate
// for `slow`, then full speed to the end of the stream), checking every
// byte against the pattern. It raises `stop_source` once the recovery
// window is over (or the stream ended early), so that the source can stop.
Reader PacedReader(const Socket& s, Millis slow, std::atomic<bool>* stop_source, Deadline deadline) {
  Reader out;
  ReceiveResult& r = out.result;
  Sha256 sha;
  PatternStream expect(kSeed);
  std::vector<char> buf(256 * 1024), want(buf.size());
  // ReadUpTo reads at most `max` bytes without waiting longer than `wait`;
  // false once the stream has ended (r.end says how).
  auto read_up_to = [&](size_t max, Millis wait) -> bool {
    if (!WaitReadable(s, std::min(deadline, After(wait)))) {
      if (Clock::now() >= deadline) return false;
      return true;
    }
    const ssize_t n = ::recv(s.fd(), buf.data(), std::min(max, buf.size()), MSG_DONTWAIT);
    if (n == 0) {
      r.end = StreamEnd::kEof;
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      r.error = errno;
      r.end = errno == ECONNRESET ? StreamEnd::kReset : StreamEnd::kError;
      return false;
    }
    sha.Update(buf.data(), static_cast<size_t>(n));
    expect.Fill(want.data(), static_cast<size_t>(n));
    if (r.pattern_ok && std::memcmp(want.data(), buf.data(), static_cast<size_t>(n)) != 0) {
      size_t i = 0;
      while (want[i] == buf[i]) ++i;
      r.pattern_ok = false;
      r.first_bad = r.bytes + i;
    }
    r.bytes += static_cast<uint64_t>(n);
    return true;
  };
  auto done = [&] {
    stop_source->store(true);
    r.sha256 = sha.Hex();
    return out;
  };
  r.end = StreamEnd::kTimeout;

  // Warm: full speed; the rate of its last second is the reference.
  const auto warm_start = Clock::now();
  uint64_t at_one_second = 0;
  bool marked = false;
  while (Clock::now() < warm_start + kWarm) {
    if (!marked && Clock::now() >= warm_start + kWarm - Millis(1'000)) {
      at_one_second = r.bytes;
      marked = true;
    }
    if (!read_up_to(buf.size(), Millis(10))) return done();
  }
  out.warm_rate = r.bytes - at_one_second;

  // Slow: never ahead of kSlowRate since the phase began.
  const auto slow_start = Clock::now();
  const uint64_t before_slow = r.bytes;
  while (Clock::now() < slow_start + slow) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - slow_start).count();
    const uint64_t allowed = static_cast<uint64_t>(elapsed * kSlowRate);
    const uint64_t done_so_far = r.bytes - before_slow;
    if (done_so_far < allowed && !read_up_to(static_cast<size_t>(allowed - done_so_far), kTick)) return done();
    std::this_thread::sleep_for(kTick);  // pacing, not waiting for a condition
  }
  out.slow_bytes = r.bytes - before_slow;

  // Fast again: measure the second after the recovery bound, then read on
  // to the end of the stream.
  const auto fast_start = Clock::now();
  uint64_t window_start = 0;
  bool in_window = false;
  for (;;) {
    const auto now = Clock::now();
    if (!in_window && now >= fast_start + kRecovery) {
      window_start = r.bytes;
      in_window = true;
    }
    if (in_window && !out.measured && now >= fast_start + kRecovery + Millis(1'000)) {
      out.recovered_rate = r.bytes - window_start;
      out.measured = true;
      stop_source->store(true);
    }
    if (!read_up_to(buf.size(), Millis(10))) return done();
  }
}

class GatewaySlowReaderTest : public GatewayPairTest {};

TEST_F(GatewaySlowReaderTest, SlowDestinationForAMinuteThenFullSpeedAgain) {
  const Millis slow = SlowPhase();
  const Millis total = kWarm + slow + kRecovery + Millis(60'000);
  std::atomic<bool> stop_source{false};
  Collector<Reader> readers;
  TcpServer sink([&](Socket& s) { readers.Add(PacedReader(s, slow, &stop_source, After(total))); });
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["tunnel"]["lanes"] = kLanes;
      (*c)["tunnel"]["flow_window_bytes"] = kWindow;
      // A fixed window, so that the memory bound below is the window's: a
      // window that grew during the fast warm-up (FlowWindow) would let the
      // slow reader's flow hold up to its ceiling, which is bounded by the
      // window budgets instead (GatewayWindowTest checks those).
      (*c)["tunnel"]["flow_window_max_bytes"] = kWindow;
    }
  }));
  const long onprem_base = onprem_->RssKiB().value_or(0);
  const long cloud_base = cloud_->RssKiB().value_or(0);
  PeakRss peak({onprem_->pid(), cloud_->pid()}, Millis(200));

  Socket source = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(source.valid());
  SendResult sent;
  std::thread sender([&] {
    SendOptions options;
    options.seed = kSeed;
    options.size = UINT64_MAX;
    options.stop = &stop_source;  // until the reader has measured its recovery
    options.shutdown_write = true;
    sent = SendPattern(source, options, After(total));
  });
  sender.join();
  const ReceiveResult reply = ReceiveAll(source, After(Millis(30'000)));
  ASSERT_TRUE(readers.WaitFor(1, After(Millis(30'000))));
  peak.Stop();
  const Reader got = readers.Values()[0];

  EXPECT_TRUE(got.measured) << "the reader never got to measure its recovery";
  EXPECT_EQ(sent.error, 0) << strerror(sent.error);
  EXPECT_FALSE(sent.timed_out);
  EXPECT_EQ(got.result.end, StreamEnd::kEof) << StreamEndName(got.result.end);
  EXPECT_TRUE(got.result.pattern_ok) << "corrupted at " << got.result.first_bad;
  EXPECT_EQ(got.result.bytes, sent.bytes);
  EXPECT_EQ(got.result.sha256, sent.sha256);
  EXPECT_EQ(reply.end, StreamEnd::kEof) << StreamEndName(reply.end);

  // The flow kept pace with the slow reader: at least 90% of what it asked
  // for (anything less is a flow that stalled on the way).
  const double slow_seconds = std::chrono::duration<double>(slow).count();
  EXPECT_GE(got.slow_bytes, static_cast<uint64_t>(0.9 * kSlowRate * slow_seconds))
      << "the flow fell behind a 1 MB/s reader";
  // Full speed back within kRecovery: the second after it carries at least
  // a quarter of the warm rate, and many times the slow rate.
  EXPECT_GE(got.recovered_rate, got.warm_rate / 4) << "warm " << got.warm_rate << " B/s, after the switch "
                                                   << got.recovered_rate << " B/s";
  EXPECT_GE(got.recovered_rate, static_cast<uint64_t>(10 * kSlowRate));

  // Memory: one flow holds at most its window per direction on each gateway
  // (in lanes' queues or in reassembly), each lane its TLS buffers (256 KiB
  // in, up to 256 KiB of sealed records out) and a send queue a little past
  // Tunnel::kLaneHighWatermark (1 MiB). Twice that for the allocator, plus
  // 16 MiB for everything else a busy gateway touches. A gateway that
  // buffered what the source offered during the slow minute would need
  // hundreds of MiB. (Checked where RSS measures braid, not a sanitizer.)
  constexpr long kBoundKiB = static_cast<long>((2 * (2 * kWindow + kLanes * 2 * kMiB) + 16 * kMiB) / 1024);
  if (kRssMeasuresBraid) {
    EXPECT_LT(peak.peak(0) - onprem_base, kBoundKiB) << "gw-onprem RSS " << onprem_base << " -> " << peak.peak(0);
    EXPECT_LT(peak.peak(1) - cloud_base, kBoundKiB) << "gw-cloud RSS " << cloud_base << " -> " << peak.peak(1);
  }
  std::cerr << "slow reader: warm " << got.warm_rate / kMiB << " MiB/s, " << got.slow_bytes / kMiB << " MiB in "
            << slow.count() / 1000 << " s slow, " << got.recovered_rate / kMiB << " MiB/s in the second after "
            << kRecovery.count() << " ms; peak RSS gw-onprem " << onprem_base << " -> " << peak.peak(0)
            << " KiB, gw-cloud " << cloud_base << " -> " << peak.peak(1) << " KiB (bound +" << kBoundKiB
            << " KiB)\n";
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
}

}  // namespace
}  // namespace braid::integration
