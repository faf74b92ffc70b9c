// 64 concurrent flows of random sizes, 0 bytes to 256 MiB each way, with
// random half-closes (issue 6, section 3), through one gateway pair:
//   - source first: the source sends its request and half-closes; the
//     destination reads it to the end, then answers and closes;
//   - destination first: the destination sends its answer and half-closes
//     before reading anything; the source reads it to the end, then sends
//     its request on the half-closed flow;
//   - both at once: each side sends and reads at the same time and
//     half-closes when its own data is out, whichever comes first.
// Every byte is checked at its offset and every stream by SHA-256 at both
// ends, both directions; both gateways must log every flow completed.
//
// The sizes are log-uniform over 1 byte to 256 MiB, one in eight empty; the
// first flow is empty both ways and the second carries 256 MiB up. They
// come from a fixed seed, printed at the start; BRAID_RANDOM_TRANSFER_SEED
// overrides it to replay or vary a run.
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMaxSize = 256 * kMiB;
constexpr int kFlows = 64;
constexpr uint64_t kDefaultSeed = 0x6a7e'2024;
constexpr Millis kTimeout(240'000);

enum class Order { kSourceFirst, kDestinationFirst, kBoth };
const char* OrderName(Order o) {
  switch (o) {
    case Order::kSourceFirst: return "source-first";
    case Order::kDestinationFirst: return "destination-first";
    case Order::kBoth: return "both";
  }
  return "?";
}

struct Plan {
  uint64_t up_size = 0, down_size = 0;
  uint64_t up_seed = 0, down_seed = 0;
  Order order = Order::kSourceFirst;
};

uint64_t Seed() {
  const char* env = std::getenv("BRAID_RANDOM_TRANSFER_SEED");
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 0) : kDefaultSeed;
}

// MakePlans draws every flow's sizes and order from `seed`. Only the raw
// output of mt19937_64, which the standard fixes, is used: the same seed
// gives the same plans with any standard library.
std::vector<Plan> MakePlans(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto unit = [&rng] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  auto size = [&] () -> uint64_t {
    if (rng() % 8 == 0) return 0;
    return std::min<uint64_t>(kMaxSize, static_cast<uint64_t>(std::exp(unit() * std::log(double(kMaxSize)))));
  };
  std::vector<Plan> plans(kFlows);
  for (int i = 0; i < kFlows; ++i) {
    Plan& p = plans[i];
    p.up_size = size();
    p.down_size = size();
    p.order = static_cast<Order>(rng() % 3);
    p.up_seed = seed ^ (0x100 + 2 * static_cast<uint64_t>(i));
    p.down_seed = seed ^ (0x101 + 2 * static_cast<uint64_t>(i));
  }
  plans[0].up_size = plans[0].down_size = 0;
  plans[1].up_size = kMaxSize;
  return plans;
}

// One side of one flow: what it sent and what it received.
struct Side {
  SendResult sent;
  ReceiveResult received;
  bool started = false;
};

// Exchange runs one side of `plan` on `s` in its order; `is_source` picks
// the side. The source has already sent the header.
Side Exchange(const Socket& s, const Plan& plan, bool is_source, Deadline deadline) {
  Side side;
  side.started = true;
  SendOptions out;
  out.seed = is_source ? plan.up_seed : plan.down_seed;
  out.size = is_source ? plan.up_size : plan.down_size;
  out.shutdown_write = true;
  const uint64_t in_seed = is_source ? plan.down_seed : plan.up_seed;
  // Whether this side sends before reading, reads before sending, or both.
  const bool sends_first = (plan.order == Order::kSourceFirst) == is_source;
  if (plan.order == Order::kBoth) {
    std::thread sender([&] { side.sent = SendPattern(s, out, deadline); });
    side.received = ReceiveAll(s, deadline, &in_seed);
    sender.join();
  } else if (sends_first) {
    side.sent = SendPattern(s, out, deadline);
    side.received = ReceiveAll(s, deadline, &in_seed);
  } else {
    side.received = ReceiveAll(s, deadline, &in_seed);
    side.sent = SendPattern(s, out, deadline);
  }
  return side;
}

// Check says what is wrong with one direction ("" if nothing).
std::string Check(const SendResult& sent, const ReceiveResult& got, uint64_t size, uint64_t seed) {
  std::string why;
  if (sent.bytes != size || sent.error != 0 || sent.timed_out) {
    why += "sent " + std::to_string(sent.bytes) + "/" + std::to_string(size) +
           (sent.error != 0 ? std::string(" (") + strerror(sent.error) + ")" : "") +
           (sent.timed_out ? " (timed out)" : "") + "; ";
  }
  if (got.end != StreamEnd::kEof) why += std::string("ended ") + StreamEndName(got.end) + "; ";
  if (got.bytes != size) why += "received " + std::to_string(got.bytes) + "/" + std::to_string(size) + "; ";
  if (!got.pattern_ok) why += "corrupted at " + std::to_string(got.first_bad) + "; ";
  if (got.sha256 != sent.sha256 || got.sha256 != PatternDigest(seed, got.bytes)) why += "SHA-256 differs; ";
  return why;
}

class GatewayRandomTransferTest : public GatewayPairTest {};

TEST_F(GatewayRandomTransferTest, SixtyFourConcurrentFlowsOfRandomSizesWithRandomHalfCloses) {
  const uint64_t seed = Seed();
  const std::vector<Plan> plans = MakePlans(seed);
  uint64_t total = 0;
  int orders[3] = {0, 0, 0};
  for (const Plan& p : plans) {
    total += p.up_size + p.down_size;
    ++orders[static_cast<int>(p.order)];
  }
  std::cerr << "seed " << seed << " (BRAID_RANDOM_TRANSFER_SEED to change): " << kFlows << " flows, "
            << total / kMiB << " MiB in all; " << orders[0] << " source-first, " << orders[1]
            << " destination-first, " << orders[2] << " both at once\n";
  RecordProperty("seed", std::to_string(seed));

  // The destination's side of each flow, by flow index (kFlows: a bad header).
  Collector<std::pair<uint64_t, Side>> dest_sides;
  TcpServer sink([&](Socket& s) {
    uint64_t index = 0;
    if (!ReceiveExact(s, reinterpret_cast<char*>(&index), sizeof(index), After(kTimeout)) || index >= kFlows) {
      dest_sides.Add({kFlows, Side{}});
      return;
    }
    dest_sides.Add({index, Exchange(s, plans[index], /*is_source=*/false, After(kTimeout))});
  });
  ASSERT_TRUE(StartPair(sink.port()));

  const auto start = Clock::now();
  std::vector<Side> source(kFlows);
  std::vector<int> connect_errors(kFlows, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kFlows; ++i) {
    threads.emplace_back([&, i] {
      const Deadline deadline = After(kTimeout);
      Socket s = Connect(service_port(), deadline, &connect_errors[i]);
      if (!s.valid()) return;
      const uint64_t index = static_cast<uint64_t>(i);
      if (::send(s.fd(), &index, sizeof(index), MSG_NOSIGNAL) != sizeof(index)) {
        connect_errors[i] = errno;
        return;
      }
      source[i] = Exchange(s, plans[i], /*is_source=*/true, deadline);
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_TRUE(dest_sides.WaitFor(kFlows, After(Millis(30'000))));
  std::vector<Side> dest(kFlows);
  for (auto& [index, side] : dest_sides.Values()) {
    if (index < kFlows) {
      dest[index] = side;
    } else {
      ADD_FAILURE() << "the destination got a flow without a valid header";
    }
  }
  ASSERT_TRUE(onprem_->WaitForFlows(kFlows, Millis(30'000)));
  ASSERT_TRUE(cloud_->WaitForFlows(kFlows, Millis(30'000)));

  int bad = 0;
  for (int i = 0; i < kFlows; ++i) {
    const Plan& p = plans[i];
    std::string why;
    if (connect_errors[i] != 0) {
      why = std::string("connect: ") + strerror(connect_errors[i]);
    } else if (!dest[i].started) {
      why = "never reached the destination";
    } else {
      if (std::string up = Check(source[i].sent, dest[i].received, p.up_size, p.up_seed); !up.empty()) {
        why += "up: " + up;
      }
      if (std::string down = Check(dest[i].sent, source[i].received, p.down_size, p.down_seed); !down.empty()) {
        why += "down: " + down;
      }
    }
    if (!why.empty() && ++bad <= 8) {
      ADD_FAILURE() << "flow " << i << " (" << OrderName(p.order) << ", " << p.up_size << " bytes up, "
                    << p.down_size << " down): " << why;
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << kFlows << " flows went wrong (seed " << seed << ")";
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_EQ(f.end, "completed") << "gw-onprem flow " << f.id;
  for (const FlowRecord& f : cloud_->Flows()) EXPECT_EQ(f.end, "completed") << "gw-cloud flow " << f.id;
  std::cerr << kFlows << " flows, " << total / kMiB << " MiB, in " << seconds << " s\n";
}

}  // namespace
}  // namespace braid::integration
