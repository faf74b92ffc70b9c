// `braidctl lanes list|kill|retire` as a process, with no gateway: bad
// arguments (exit 2), an admin endpoint that cannot be reached or is not
// one (exit 1, saying which), and against a scripted endpoint the requests
// it sends, how it prints the answers (200 or a refusal with its reason)
// and a /tunnels from a gateway older than the lane fields.
// gateway_lane_control_test.cc runs the same commands on a real pair.
#include <sys/socket.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/gateway.h"
#include "integration/support/net.h"
#include "integration/support/process.h"
#include "integration/support/scratch_dir.h"
#include "nlohmann/json.hpp"

namespace braid::integration {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// FakeAdmin answers each request "METHOD PATH" from a fixed table (404 for
// the rest), one request per connection, and records the request lines.
class FakeAdmin {
 public:
  struct Answer {
    int status;
    std::string body;
  };
  explicit FakeAdmin(std::map<std::string, Answer> answers)
      : answers_(std::move(answers)), server_([this](Socket& s) { Serve(s); }) {}

  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::vector<std::string> requests() { return requests_.Values(); }

 private:
  void Serve(Socket& s) {
    std::string head;
    const Deadline deadline = After(Millis(5'000));
    while (head.find("\r\n\r\n") == std::string::npos && WaitReadable(s, deadline)) {
      char buf[4096];
      const ssize_t n = ::recv(s.fd(), buf, sizeof(buf), 0);
      if (n <= 0) return;
      head.append(buf, static_cast<size_t>(n));
    }
    const std::string line = head.substr(0, head.find(" HTTP/"));
    requests_.Add(line);
    const auto it = answers_.find(line);
    const Answer answer = it != answers_.end() ? it->second : Answer{404, "not found\n"};
    const std::string reply = "HTTP/1.1 " + std::to_string(answer.status) +
                              " X\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                              std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body;
    ::send(s.fd(), reply.data(), reply.size(), MSG_NOSIGNAL);
  }

  const std::map<std::string, Answer> answers_;
  Collector<std::string> requests_;
  TcpServer server_;  // last: its threads use the members above
};

class BraidctlLanesTest : public ::testing::Test {
 protected:
  RunResult Lanes(std::vector<std::string> args) {
    args.insert(args.begin(), {kBraidctl, "lanes"});
    return RunToExit(args, dir_.path(), Millis(30'000));
  }
  ScratchDir dir_;
};

TEST_F(BraidctlLanesTest, BadArgumentsExitTwoWithUsage) {
  const struct {
    std::vector<std::string> args;
    const char* says;
  } kCases[] = {
      {{}, "A subcommand is required"},
      {{"list", "extra"}, "extra"},
      {{"kill"}, "TUNNEL is required"},
      {{"kill", "1"}, "LANE is required"},
      {{"retire", "1"}, "LANE is required"},
      {{"kill", "tunnel-1", "0"}, "TUNNEL"},
      {{"kill", "1", "-1"}, "LANE"},
      {{"kill", "1", "65536"}, "LANE"},
      {{"retire", "1", "2", "3"}, "3"},
      {{"kill", "1", "2", "--admin"}, "--admin"},
      {{"pause", "1", "2"}, "A subcommand is required"},
  };
  for (const auto& c : kCases) {
    const RunResult r = Lanes(c.args);
    const std::string what = "lanes " + testing::PrintToString(c.args);
    EXPECT_EQ(r.exit_code, 2) << what << "\n" << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.says)) << what;
    EXPECT_THAT(r.out, IsEmpty()) << what;
  }
}

TEST_F(BraidctlLanesTest, HelpNamesTheDefaultEndpoint) {
  for (const char* command : {"list", "kill", "retire"}) {
    const RunResult r = Lanes({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << r.err;
    EXPECT_THAT(r.out, HasSubstr("127.0.0.1:9901")) << command << r.out;
  }
}

TEST_F(BraidctlLanesTest, UnreachableEndpointExitsOneAndSaysWhat) {
  const std::string admin = "127.0.0.1:" + std::to_string(FreePort());
  const struct {
    std::vector<std::string> args;
    std::string says;
  } kCases[] = {
      {{"list", "--admin", admin}, "cannot read /tunnels from the admin endpoint " + admin},
      {{"list", "--json", "--admin", admin}, "cannot read /tunnels from the admin endpoint " + admin},
      {{"kill", "12", "3", "--admin", admin}, "cannot POST /tunnels/12/lanes/3/kill to the admin endpoint " + admin},
      {{"retire", "12", "3", "--admin", admin},
       "cannot POST /tunnels/12/lanes/3/retire to the admin endpoint " + admin},
      {{"kill", "12", "3", "--admin", "localhost"}, "--admin must be HOST:PORT, got \"localhost\""},
  };
  for (const auto& c : kCases) {
    const RunResult r = Lanes(c.args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_THAT(r.out, IsEmpty());
  }
}

TEST_F(BraidctlLanesTest, AdminDefaultsToBraidAdmin) {
  const std::string admin = "127.0.0.1:" + std::to_string(FreePort());
  ASSERT_EQ(setenv("BRAID_ADMIN", admin.c_str(), 1), 0);
  const RunResult r = Lanes({"list"});
  unsetenv("BRAID_ADMIN");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("admin endpoint " + admin));
}

TEST_F(BraidctlLanesTest, KillAndRetirePostAndPrintTheAnswer) {
  FakeAdmin fake({{"POST /tunnels/12/lanes/3/kill", {200, "killed\n"}},
                  {"POST /tunnels/12/lanes/1/retire", {200, "retiring\n"}},
                  {"POST /tunnels/12/lanes/0/retire", {409, "lane 0 is the only usable lane: kill it instead\n"}},
                  {"POST /tunnels/99/lanes/0/kill", {404, "no tunnel 99\n"}}});
  RunResult r = Lanes({"kill", "12", "3", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tunnel 12 lane 3: killed\n");
  r = Lanes({"retire", "12", "1", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tunnel 12 lane 1: retiring\n");

  r = Lanes({"retire", "12", "0", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("tunnel 12 lane 0: lane 0 is the only usable lane: kill it instead (HTTP 409 from"));
  r = Lanes({"kill", "99", "0", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no tunnel 99 (HTTP 404"));
  EXPECT_THAT(fake.requests(),
              testing::ElementsAre("POST /tunnels/12/lanes/3/kill", "POST /tunnels/12/lanes/1/retire",
                                   "POST /tunnels/12/lanes/0/retire", "POST /tunnels/99/lanes/0/kill"));
}

TEST_F(BraidctlLanesTest, ListFlattensTunnelsAndShowsMissingFieldsAsDashes) {
  // Two tunnels; the second from a gateway older than state, generation and
  // unacked_bytes.
  const nlohmann::json lane = {{"index", 0},        {"up", true},          {"state", "retiring"},
                               {"generation", 3},   {"unacked_bytes", 2048}, {"bytes_sent", 1 << 20},
                               {"bytes_received", 10}, {"queued_bytes", 0},   {"tcp_rtt_ms", 1.5}};
  const nlohmann::json old_lane = {{"index", 1},          {"up", false},        {"bytes_sent", 0},
                                   {"bytes_received", 0}, {"queued_bytes", 0}, {"tcp_rtt_ms", nullptr}};
  const nlohmann::json tunnels = {
      {"tunnels",
       {{{"id", 77}, {"peer", "gw-cloud"}, {"role", "dialer"}, {"lanes", {lane}}},
        {{"id", 78}, {"peer", "gw-east"}, {"role", "acceptor"}, {"lanes", {old_lane}}}}}};
  FakeAdmin fake({{"GET /tunnels", {200, tunnels.dump()}}});

  RunResult r = Lanes({"list", "--admin", fake.address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("TUNNEL +PEER +ROLE +LANE +STATE +GEN +RTT +UNACKED +QUEUED +SENT +RECEIVED\n"));
  EXPECT_THAT(r.out, ContainsRegex("\n77 +gw-cloud +dialer +0 +retiring +3 +1.50ms +2.0 KiB +0 B +1.0 MiB +10 B\n"));
  EXPECT_THAT(r.out, ContainsRegex("\n78 +gw-east +acceptor +1 +down +- +- +- +0 B +0 B +0 B\n"));

  r = Lanes({"list", "--json", "--admin", fake.address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.contains("lanes")) << r.out;
  ASSERT_EQ(j["lanes"].size(), 2u) << j;
  nlohmann::json expected = lane;
  expected.update({{"tunnel", 77}, {"peer", "gw-cloud"}, {"role", "dialer"}});
  EXPECT_EQ(j["lanes"][0], expected);
  EXPECT_EQ(j["lanes"][1]["tunnel"], 78);
  EXPECT_EQ(j["lanes"][1]["up"], false);
}

TEST_F(BraidctlLanesTest, AnEndpointThatIsNotAGatewayIsAnError) {
  FakeAdmin fake({{"GET /tunnels", {200, "<html>hello</html>"}},
                  {"POST /tunnels/1/lanes/0/kill", {405, "only GET\n"}}});
  RunResult r = Lanes({"list", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("did not answer like a braid-proxy admin endpoint"));
  // A gateway older than the lane commands.
  r = Lanes({"kill", "1", "0", "--admin", fake.address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("only GET (HTTP 405"));
}

}  // namespace
}  // namespace braid::integration
