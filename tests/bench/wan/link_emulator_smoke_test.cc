// The real braid-link-emulator between two network namespaces set up by
// bench/wan/netns.sh: 8 MiB over TCP from namespace A to namespace B across
// a link with 10 ms of delay each way arrive intact (SHA-256 of what was
// sent and what was received), the TCP handshake takes at least the
// emulated round trip, and the emulator counted the bytes it carried. And
// a real braid gateway pair across the same link (below).
//
// Needs root, /dev/net/tun and network namespaces; skipped, saying which
// is missing, where any is not there. The run is bounded (timeout(1)
// around netns.sh, which tears the namespaces and the emulator down on any
// exit), and the test checks afterwards that nothing was left behind.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "nlohmann/json.hpp"

namespace braid::bench {
namespace {

// RunCommand runs `command` with sh, returns its exit status (-1 if it did
// not exit normally) and its stdout and stderr together in *output.
int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output->append(buf.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Quiet(const std::string& command) {
  std::string ignored;
  return RunCommand(command, &ignored) == 0;
}

class LinkEmulatorSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: it creates network namespaces and TUN devices";
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      GTEST_SKIP() << "cannot open /dev/net/tun (" << std::strerror(errno)
                   << "): no tun module, or a container that does not expose it";
    }
    ::close(fd);
    const std::string probe = "braidwan-probe-" + std::to_string(::getpid());
    if (!Quiet("ip netns add " + probe)) {
      GTEST_SKIP() << "'ip netns add' failed: network namespaces are not available here "
                      "(a container without CAP_SYS_ADMIN, or no iproute2)";
    }
    Quiet("ip netns del " + probe);
    if (!Quiet("command -v python3")) GTEST_SKIP() << "python3 is missing";
  }

  // RunAcrossLink runs `script` (a python3 command line) through netns.sh
  // across a link with 10 ms each way, within `limit_s` seconds; checks
  // that no namespace of the run is left, and returns the JSON the script
  // printed on its "result " line (null, with a failure, when there is
  // none).
  // GatewayTransfer: the command line of gateway_wan_transfer.py for a
  // transfer of `bytes`, then `extra` (the kills and the action).
  static std::string GatewayTransfer(int bytes, const std::string& extra = "") {
    return std::string(BRAID_SOURCE_DIR) + "/tests/bench/wan/gateway_wan_transfer.py " + BRAID_PROXY + " " +
           BRAIDCTL + " " + BRAID_SOURCE_DIR + "/bench/wan/wanbench.py " + std::to_string(bytes) + " " + extra;
  }

  nlohmann::json RunAcrossLink(const std::string& tag, const std::string& script, int limit_s) {
    const std::string command = std::string("WAN_EMULATOR=") + BRAID_LINK_EMULATOR + " WAN_TAG=" + tag +
                                " timeout -k 5 " + std::to_string(limit_s) + " " + BRAID_SOURCE_DIR +
                                "/bench/wan/netns.sh run --delay-ms 10 -- python3 " + script;
    output_.clear();
    const int rc = RunCommand(command, &output_);
    // Whatever happened, nothing may be left behind.
    std::string namespaces;
    RunCommand("ip netns list", &namespaces);
    EXPECT_EQ(namespaces.find(tag), std::string::npos) << "a namespace was left behind:\n" << namespaces;
    EXPECT_EQ(rc, 0) << command << "\n" << output_;
    const size_t at = output_.find("result ");
    if (rc != 0 || at == std::string::npos) {
      ADD_FAILURE() << "no result line:\n" << output_;
      return nullptr;
    }
    return nlohmann::json::parse(output_.substr(at + 7, output_.find('\n', at) - at - 7));
  }

  std::string output_;  // of the last RunAcrossLink
};

TEST_F(LinkEmulatorSmokeTest, CarriesTcpIntactWithTheConfiguredDelay) {
  constexpr int kBytes = 8 << 20;
  const nlohmann::json result =
      RunAcrossLink("smk" + std::to_string(::getpid()),
                    std::string(BRAID_SOURCE_DIR) + "/tests/bench/wan/smoke_transfer.py " + std::to_string(kBytes), 60);
  ASSERT_FALSE(result.is_null());
  const std::string& output = output_;
  EXPECT_EQ(result["sent"]["bytes"], kBytes);
  EXPECT_EQ(result["received"]["bytes"], kBytes);
  EXPECT_EQ(result["received"]["sha256"], result["sent"]["sha256"]);
  // The SYN and the SYN-ACK each cross the link once: 2 x 10 ms at least;
  // well under a second on any machine that runs the test at all.
  const double connect_ms = result["sent"]["connect_ms"];
  EXPECT_GE(connect_ms, 20.0);
  EXPECT_LT(connect_ms, 1000.0);
  // netns.sh prints the emulator's counters as it stops it: the data went
  // through it, A to B.
  const size_t counters = output.find("a->b: offered_packets=");
  ASSERT_NE(counters, std::string::npos) << output;
  const size_t forwarded = output.find("forwarded_bytes=", counters);
  ASSERT_NE(forwarded, std::string::npos) << output;
  EXPECT_GE(std::stoll(output.substr(forwarded + 16)), kBytes) << output;
}

// A braid gateway pair across the link (10 ms each way) with its defaults
// but a 1 MiB initial flow window: the dialer's first lane measures the
// long round trip and gives the tunnel 8 lanes or more, the receiving
// flow's window grows past 1 MiB while 64 MiB cross, goes back to 1 MiB
// once the flow has been idle past the reset, and every byte arrives
// (SHA-256). tests/bench/wan/gateway_wan_transfer.py drives it.
TEST_F(LinkEmulatorSmokeTest, BraidOverTheLinkGrowsItsWindowAndTakesEightLanes) {
  constexpr int kBytes = 64 << 20;
  const nlohmann::json r = RunAcrossLink("gwt" + std::to_string(::getpid()), GatewayTransfer(kBytes), 120);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["sent"]["bytes"], kBytes);
  EXPECT_EQ(r["received"]["bytes"], kBytes);
  EXPECT_EQ(r["received"]["sha256"], r["sent"]["sha256"]);
  ASSERT_FALSE(r["lanes"].is_null()) << "gw-a logged no lane decision:\n" << output_;
  EXPECT_GE(r["first_lane_rtt_ms"].get<double>(), 20.0);
  EXPECT_GE(r["lanes"].get<int>(), 8);
  EXPECT_GT(r["largest_window"].get<int64_t>(), r["initial_window"].get<int64_t>()) << r.dump();
  ASSERT_EQ(r["window_after_idle"].size(), 1u) << r.dump();
  EXPECT_EQ(r["window_after_idle"][0], r["initial_window"]) << r.dump();
}

// docs/protocol.md, "Lane loss", across a 20 ms link: gw-b kills a lane of
// the tunnel (the flow's control lane first) six times while 256 MiB cross;
// every byte arrives (SHA-256), the flow is never reset, and gw-b counts
// the lanes lost.
TEST_F(LinkEmulatorSmokeTest, BraidOverTheLinkSurvivesLaneKills) {
  // Large enough that six kills, each a few admin requests from inside the
  // namespace, land before the end.
  constexpr int kBytes = 1 << 30, kKills = 6;
  const nlohmann::json r =
      RunAcrossLink("gwk" + std::to_string(::getpid()), GatewayTransfer(kBytes, std::to_string(kKills)), 240);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["sent"]["bytes"], kBytes);
  EXPECT_EQ(r["received"]["bytes"], kBytes);
  EXPECT_EQ(r["received"]["sha256"], r["sent"]["sha256"]);
  EXPECT_EQ(r["kills"], kKills) << r.dump();
  EXPECT_GE(r["lanes_lost_b"].get<double>(), kKills) << r.dump();
  for (const auto& line : r["flows_ended_b"]) {
    EXPECT_NE(line.get<std::string>().find("end=completed"), std::string::npos) << line;
  }
}

// Retiring lanes across the 20 ms link (docs/protocol.md, "Retiring a
// lane"): gw-b retires a lane four times while 512 MiB cross, the flow's
// control lane first; each retirement replaces the connection
// make-before-break, so gw-b counts lanes retired and none lost, and every
// byte arrives (SHA-256).
TEST_F(LinkEmulatorSmokeTest, BraidOverTheLinkRetiresLanesWithoutLosingOne) {
  constexpr int kBytes = 512 << 20, kRetirements = 4;
  const nlohmann::json r = RunAcrossLink("gwr" + std::to_string(::getpid()),
                                        GatewayTransfer(kBytes, std::to_string(kRetirements) + " retire"), 240);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["received"]["bytes"], kBytes);
  EXPECT_EQ(r["received"]["sha256"], r["sent"]["sha256"]);
  EXPECT_EQ(r["kills"], kRetirements) << r.dump();
  EXPECT_GE(r["lanes_retired_b"].get<double>(), kRetirements) << r.dump();
  EXPECT_EQ(r["lanes_lost_b"].get<double>(), 0) << r.dump();
  for (const auto& line : r["flows_ended_b"]) {
    EXPECT_NE(line.get<std::string>().find("end=completed"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace braid::bench
