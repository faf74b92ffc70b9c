// `braidctl lanes list|kill|retire` against a real gateway pair, during a
// 64 MiB transfer through a tunnel of 4 lanes:
//   - `lanes list` (table and --json) shows the tunnel's four lanes up,
//     with their state, generation and unacknowledged bytes;
//   - `lanes kill` on the flow's control lane, while data is on its way:
//     exit 0, the lane comes back (up, with a higher generation), /metrics
//     counts the loss and the redial;
//   - `lanes retire` on another lane: the same, counted as retired, not
//     lost (its new connection is made before the old one closes);
//   - the refusals: a lane index the tunnel does not have (exit 1 with the
//     gateway's reason), an unknown tunnel (exit 1);
// and the transfer arrives whole (SHA-256 and every byte's pattern) with a
// clean end.
//
// The source is gated and paced (GatedSender): the test lets it send one
// slice at a time, at most kRate, and acts on a lane while a slice is on
// its way, so each command lands while the flow has data in flight.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"
#include "integration/support/process.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr unsigned kLanes = 4;
// The source's pace: a slice of 24 MiB takes at least 0.75 s, long enough
// for a braidctl command to land in the middle of it.
constexpr uint64_t kRate = 32 * kMiB;
const std::string kLost = R"(braid_lanes_lost_total{peer="gw-cloud"})";
const std::string kRedialed = R"(braid_lanes_redialed_total{peer="gw-cloud"})";
const std::string kRetired = R"(braid_lanes_retired_total{peer="gw-cloud"})";
const std::string kResent = R"(braid_frames_resent_total{peer="gw-cloud"})";

// GatedSender sends `size` bytes of seed's pattern on `s` from its own
// thread, at most `rate` bytes per second and never more than the test has
// allowed so far (Allow). The socket must outlive it.
class GatedSender {
 public:
  GatedSender(const Socket& s, uint64_t seed, uint64_t size, uint64_t rate, Deadline deadline) : socket_(s) {
    thread_ = std::thread([this, seed, size, rate, deadline] {
      SendOptions options;
      options.seed = seed;
      options.size = size;
      options.stop = &stop_;
      options.progress = [this, rate, deadline, due = Clock::now(), paced = uint64_t{0}](uint64_t sent) mutable {
        due += std::chrono::microseconds((sent - paced) * 1'000'000 / rate);
        paced = sent;
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_until(lock, std::min(due, deadline), [&] { return stop_.load(); });
        cv_.wait_until(lock, deadline, [&] { return sent < allowed_ || stop_.load(); });
        due = std::max(due, Clock::now());  // no credit for the time held at the gate
      };
      result_ = SendPattern(socket_, options, deadline);
    });
  }
  // On a failed test: stop sending, and unblock a send waiting on a stuck
  // gateway.
  ~GatedSender() {
    if (!thread_.joinable()) return;
    stop_ = true;
    Allow(std::numeric_limits<uint64_t>::max());
    ::shutdown(socket_.fd(), SHUT_RDWR);
    thread_.join();
  }
  GatedSender(const GatedSender&) = delete;
  GatedSender& operator=(const GatedSender&) = delete;

  void Allow(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    allowed_ = bytes;
    cv_.notify_all();
  }
  // Finish lets it send the rest and waits for it.
  SendResult Finish() {
    Allow(std::numeric_limits<uint64_t>::max());
    thread_.join();
    return result_;
  }

 private:
  const Socket& socket_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t allowed_ = 0;  // guarded by mu_
  SendResult result_;     // written by thread_, read after joining it
  std::thread thread_;
};

int64_t Generation(const nlohmann::json& rows, unsigned index) {
  for (const nlohmann::json& lane : rows) {
    if (lane["index"] == index) return lane["generation"].get<int64_t>();
  }
  ADD_FAILURE() << "no lane " << index << " in " << rows.dump(2);
  return 0;
}

class GatewayLaneControlTest : public GatewayPairTest {
 protected:
  static constexpr uint64_t kSeed = 0x1a4e;
  static constexpr uint64_t kSize = 64 * kMiB;

  // StartTransfer starts the pair (4 lanes, an admin endpoint on each) with
  // a sink that checks every byte, and connects the source: the transfer
  // itself is GatedSender's.
  void StartTransfer() {
    sink_ = std::make_unique<TcpServer>(DrainHandler(&received_, Millis(120'000), kSeed, &progress_));
    ASSERT_TRUE(StartPair(sink_->port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
      for (nlohmann::json* c : {&onprem, &cloud}) {
        (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
        (*c)["tunnel"]["lanes"] = kLanes;
      }
    }));
    admin_port_ = onprem_->AdminPort();
    ASSERT_NE(admin_port_, 0);
    admin_ = "127.0.0.1:" + std::to_string(admin_port_);
    int error = 0;
    source_ = Connect(service_port(), After(Millis(5'000)), &error);
    ASSERT_TRUE(source_.valid()) << strerror(error);
  }

  // Lanes runs `braidctl lanes ARGS --admin` on gw-onprem, the dialer.
  RunResult Lanes(std::vector<std::string> args) {
    args.insert(args.begin(), {kBraidctl, "lanes"});
    args.insert(args.end(), {"--admin", admin_});
    return RunToExit(args, dir_.path(), Millis(30'000));
  }

  // ListLanes sets *rows to the rows of `braidctl lanes list --json`; false
  // (and a failed check) when it does not answer that.
  bool ListLanes(nlohmann::json* rows) {
    const RunResult r = Lanes({"list", "--json"});
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || j.is_discarded() || !j.contains("lanes") || !j["lanes"].is_array()) {
      ADD_FAILURE() << "braidctl lanes list --json: exit " << r.exit_code << "\n" << r.out << r.err;
      return false;
    }
    *rows = j["lanes"];
    return true;
  }

  // WaitForLanes waits until `lanes list` shows one tunnel whose lanes are
  // all up, lane `index` with a generation above `above` (-1: any), and
  // sets *rows to the last answer; false at the deadline.
  bool WaitForLanes(Deadline deadline, nlohmann::json* rows, int index = -1, int64_t above = -1) {
    for (;;) {
      if (!ListLanes(rows)) return false;
      bool done = rows->size() == kLanes;
      for (const nlohmann::json& lane : *rows) {
        done = done && lane["tunnel"] == (*rows)[0]["tunnel"] && lane["state"] == "up";
        if (lane["index"] == index) done = done && lane["generation"].get<int64_t>() > above;
      }
      if (done) return true;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(Millis(20));
    }
  }

  // ControlLane: the lane carrying the control frames of gw-onprem's one
  // live flow.
  unsigned ControlLane() {
    const HttpReply r = HttpGet(admin_port_, "/flows");
    const nlohmann::json flows = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status != 200 || flows.is_discarded() || flows["flows"].size() != 1) {
      ADD_FAILURE() << "/flows: " << r.status << " " << r.body;
      return 0;
    }
    return flows["flows"][0]["control_lane"].get<unsigned>();
  }

  double Counter(const std::string& series) { return Metric(HttpGet(admin_port_, "/metrics").body, series); }

  // ActMidSlice lets the source go on to `slice_end` bytes and, with the
  // slice on its way, runs `braidctl lanes ACTION TUNNEL LANE`: it must
  // answer `answer` (exit 0) and the lane must come back up with a higher
  // generation. A kill counts one more lane lost and redialed in /metrics;
  // a retirement one more lane retired, and no loss. Then it waits for the
  // slice's end.
  void ActMidSlice(GatedSender& sender, const std::string& action, const char* answer, uint64_t tunnel,
                   unsigned lane, uint64_t slice_end) {
    nlohmann::json rows;
    ASSERT_TRUE(ListLanes(&rows));
    const int64_t generation = Generation(rows, lane);
    const double lost = Counter(kLost), redialed = Counter(kRedialed), retired = Counter(kRetired);
    const uint64_t slice_start = progress_.load();
    sender.Allow(slice_end);
    ASSERT_TRUE(WaitAtLeast(progress_, slice_start + kMiB, After(Millis(30'000))));
    const RunResult r = Lanes({action, std::to_string(tunnel), std::to_string(lane)});
    std::cout << "lane " << lane << ": " << action << " with " << progress_.load() / kMiB << " of " << slice_end / kMiB
              << " MiB delivered\n";
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(answer));
    ASSERT_TRUE(WaitForLanes(After(Millis(20'000)), &rows, static_cast<int>(lane), generation))
        << "lane " << lane << " did not come back after " << action << ": " << rows.dump(2);
    if (action == "kill") {
      EXPECT_GE(Counter(kLost), lost + 1);
      EXPECT_GE(Counter(kRedialed), redialed + 1);
    } else {
      EXPECT_GE(Counter(kRetired), retired + 1);
      EXPECT_EQ(Counter(kLost), lost);
      EXPECT_EQ(Counter(kRedialed), redialed);
    }
    ASSERT_TRUE(WaitAtLeast(progress_, slice_end, After(Millis(60'000))));
  }

  Collector<ReceiveResult> received_;
  std::atomic<uint64_t> progress_{0};
  std::unique_ptr<TcpServer> sink_;
  Socket source_;
  uint16_t admin_port_ = 0;
  std::string admin_;
};

TEST_F(GatewayLaneControlTest, KilledAndRetiredLanesComeBackAndTheTransferArrivesWhole) {
  ASSERT_NO_FATAL_FAILURE(StartTransfer());
  GatedSender sender(source_, kSeed, kSize, kRate, After(Millis(120'000)));

  // A first slice through: the tunnel and its four lanes, up, in the list.
  sender.Allow(8 * kMiB);
  ASSERT_TRUE(WaitAtLeast(progress_, 8 * kMiB, After(Millis(30'000))));
  nlohmann::json rows;
  ASSERT_TRUE(WaitForLanes(After(Millis(20'000)), &rows)) << rows.dump(2);
  const uint64_t tunnel = rows[0]["tunnel"].get<uint64_t>();
  for (unsigned i = 0; i < kLanes; ++i) {
    const nlohmann::json& lane = rows[i];
    EXPECT_EQ(lane["index"], i) << lane;
    EXPECT_EQ(lane["peer"], kCloud) << lane;
    EXPECT_EQ(lane["role"], "dialer") << lane;
    // Each lane's first connection: generation 0, and nothing lost or
    // redialed yet.
    EXPECT_EQ(lane["generation"], 0) << lane;
    EXPECT_TRUE(lane["unacked_bytes"].is_number_unsigned()) << lane;
  }
  EXPECT_EQ(Counter(kLost), 0);
  EXPECT_EQ(Counter(kRedialed), 0);
  const RunResult table = Lanes({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.out << table.err;
  for (const char* column : {"TUNNEL", "PEER", "ROLE", "LANE", "STATE", "GEN", "RTT", "UNACKED", "QUEUED"}) {
    EXPECT_THAT(table.out, HasSubstr(column)) << table.out;
  }
  EXPECT_THAT(table.out, HasSubstr(std::to_string(tunnel) + " ")) << table.out;

  // Kill the flow's control lane, then retire another: the one its control
  // frames moved to, unless they came back to the killed one.
  const unsigned killed = ControlLane();
  ASSERT_NO_FATAL_FAILURE(ActMidSlice(sender, "kill", "killed", tunnel, killed, 32 * kMiB));
  unsigned retired = ControlLane();
  if (retired == killed) retired = (killed + 1) % kLanes;
  ASSERT_NO_FATAL_FAILURE(ActMidSlice(sender, "retire", "retiring", tunnel, retired, 56 * kMiB));

  // Refusals: the gateway's reason, exit 1.
  const RunResult no_lane = Lanes({"kill", std::to_string(tunnel), "7"});
  EXPECT_EQ(no_lane.exit_code, 1) << no_lane.out << no_lane.err;
  EXPECT_THAT(no_lane.err, HasSubstr("lane 7 is not up"));
  EXPECT_THAT(no_lane.err, HasSubstr("409"));
  for (const char* action : {"kill", "retire"}) {
    const RunResult no_tunnel = Lanes({action, std::to_string(tunnel + 1), "0"});
    EXPECT_EQ(no_tunnel.exit_code, 1) << no_tunnel.out << no_tunnel.err;
    EXPECT_THAT(no_tunnel.err, HasSubstr("no tunnel " + std::to_string(tunnel + 1)));
  }

  // The rest, and the end: every byte where it belongs.
  const SendResult sent = sender.Finish();
  ASSERT_EQ(sent.bytes, kSize) << "send error " << sent.error << (sent.timed_out ? " (timed out)" : "");
  ASSERT_TRUE(source_.ShutdownWrite());
  EXPECT_EQ(ReceiveAll(source_, After(Millis(30'000))).end, StreamEnd::kEof);
  ASSERT_TRUE(received_.WaitFor(1, After(Millis(30'000))));
  const ReceiveResult got = received_.Values()[0];
  EXPECT_EQ(got.end, StreamEnd::kEof);
  EXPECT_EQ(got.bytes, kSize);
  EXPECT_TRUE(got.pattern_ok) << "corrupted at " << got.first_bad;
  EXPECT_EQ(got.sha256, PatternDigest(kSeed, kSize));
  EXPECT_EQ(got.sha256, sent.sha256);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
  // Whether frames were resent depends on what the peer had not received
  // when a lane closed; shown for the record.
  std::cout << "frames resent after the lane losses: " << Counter(kResent) << "\n";
}

}  // namespace
}  // namespace braid::integration
