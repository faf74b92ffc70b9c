// Hostile input on every listening port, and a storm of connects, beside
// flows that must not notice (issue 6, section 3). gateway_protocol_test
// covers each broken frame against a fake peer, and random bytes and a
// truncated ClientHello on the tunnel and service ports; this adds what it
// leaves out:
//   - every listening port of both gateways (tunnel, service, admin), with
//     random bytes, a truncated ClientHello, and on the tunnel ports a valid
//     mutual-TLS session followed by garbage (random bytes inside TLS before
//     and after LANE_HELLO, bytes that are not TLS records, a TLS record cut
//     short and left hanging), and on the admin ports malformed, oversized,
//     hanging and trailing-garbage HTTP; all while an upload and a download
//     run through the pair, which must arrive whole, with the gateways'
//     descriptors back where they were once the noise is gone;
//   - thousands of connects per second on a service port while a transfer
//     runs on another service of the same tunnel: the transfer arrives
//     whole, every connection gets its access line, no flow or descriptor
//     is left behind, and a new flow works.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "integration/support/fake_peer.h"
#include "integration/support/gateway_pair_test.h"
#include "proxy/wire/frame_codec.h"

namespace braid::integration {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr Millis kWait(10'000);
// The first bytes of the test's own flows; anything else is noise, drained.
constexpr char kUploadMagic[] = "BRAIDUP!";
constexpr char kDownloadMagic[] = "BRAIDDN!";
constexpr size_t kMagicSize = 8;

// A rate cap for the flows beside the noise (256 KiB per 2 ms at most): they
// must keep going through every case without starving the two cores the
// gateways share with them.
void Throttle(uint64_t) { std::this_thread::sleep_for(Millis(2)); }

class GatewayNoiseTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    GatewayPairTest::SetUp();
    if (HasFatalFailure()) return;
    sink_ = std::make_unique<TcpServer>([this](Socket& s) { Serve(s); });
  }

  // Serve: an upload is drained and checked, a download is sent until
  // stop_downloads_, anything else is drained as it is.
  void Serve(Socket& s) {
    char magic[kMagicSize] = {};
    const Deadline deadline = After(Millis(120'000));
    if (!WaitReadable(s, deadline) || ::recv(s.fd(), magic, kMagicSize, MSG_PEEK | MSG_WAITALL) < 0) return;
    if (std::memcmp(magic, kUploadMagic, kMagicSize) == 0) {
      (void)::recv(s.fd(), magic, kMagicSize, 0);
      const uint64_t seed = kUpSeed;
      uploads_.Add(ReceiveAll(s, deadline, &seed, &upload_progress_));
    } else if (std::memcmp(magic, kDownloadMagic, kMagicSize) == 0) {
      (void)::recv(s.fd(), magic, kMagicSize, 0);
      SendOptions options;
      options.seed = kDownSeed;
      options.size = UINT64_MAX;
      options.stop = &stop_downloads_;
      options.shutdown_write = true;
      options.progress = Throttle;
      downloads_.Add(SendPattern(s, options, deadline));
      ReceiveAll(s, deadline);  // the source's end
    } else {
      others_.Add(ReceiveAll(s, deadline));
    }
  }

  // OthersReceived: the sink drained, up to a clean end, a stream with this
  // digest.
  bool OthersReceived(const std::string& sha256, Deadline deadline) {
    for (size_t n = 1;; ++n) {
      if (!others_.WaitFor(n, deadline)) return false;
      const ReceiveResult got = others_.Values()[n - 1];
      if (got.sha256 == sha256 && got.end == StreamEnd::kEof) return true;
    }
  }

  // Upload is a flow that sends the upload pattern, rate-capped, until
  // Finish(); the sink checks it into uploads_.
  struct Upload {
    Socket socket;
    std::atomic<bool> stop{false};
    SendResult sent;
    std::thread thread;
    ~Upload() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
    // Finish stops the source, which half-closes, and waits for the far
    // end to close.
    StreamEnd Finish() {
      stop = true;
      thread.join();
      return ReceiveAll(socket, After(kWait)).end;
    }
  };
  void StartUpload(Upload* up) {
    up->socket = Connect(service_port(), After(kWait));
    ASSERT_TRUE(up->socket.valid());
    ASSERT_TRUE(SendBytes(up->socket, std::string_view(kUploadMagic, kMagicSize), After(kWait)));
    up->thread = std::thread([up] {
      SendOptions options;
      options.seed = kUpSeed;
      options.size = UINT64_MAX;
      options.shutdown_write = true;
      options.stop = &up->stop;
      options.progress = Throttle;
      up->sent = SendPattern(up->socket, options, After(Millis(120'000)));
    });
  }
  // ExpectUploadWhole: the sink got exactly what the upload sent, to a
  // clean end.
  void ExpectUploadWhole(const Upload& up) {
    EXPECT_EQ(up.sent.error, 0) << strerror(up.sent.error);
    ASSERT_TRUE(uploads_.WaitFor(1, After(kWait)));
    const ReceiveResult got = uploads_.Values()[0];
    EXPECT_EQ(got.end, StreamEnd::kEof) << StreamEndName(got.end);
    EXPECT_TRUE(got.pattern_ok) << "upload corrupted at " << got.first_bad;
    EXPECT_EQ(got.sha256, up.sent.sha256);
  }

  PeerIdentity Identity(const std::string& name) const {
    return {Path("pki/" + name + ".crt"), Path("pki/" + name + ".key"), Path("pki/ca.crt")};
  }

  static constexpr uint64_t kUpSeed = 0x9015e, kDownSeed = 0x9015f;
  Collector<ReceiveResult> uploads_, others_;
  Collector<SendResult> downloads_;
  std::atomic<uint64_t> upload_progress_{0};
  std::atomic<bool> stop_downloads_{false};
  std::unique_ptr<TcpServer> sink_;
};

// ExpectClosedByGateway: the gateway ends the connection by itself (EOF or
// reset) before the deadline; whatever it sends first is read and dropped.
void ExpectClosedByGateway(const Socket& s, Deadline deadline, const std::string& what) {
  const ReceiveResult r = ReceiveAll(s, deadline);
  EXPECT_NE(r.end, StreamEnd::kTimeout) << what << ": the gateway kept the connection open";
}

// ExpectPeerClosed: like ExpectClosedByGateway, through a FakePeer's TLS
// (frames, a GOAWAY, keepalive PINGs are read and dropped).
void ExpectPeerClosed(FakePeer& peer, Deadline deadline, const std::string& what) {
  for (;;) {
    FakePeer::Read r = peer.ReadFrame(deadline);
    if (r.closed() || r.end == FakePeer::End::kError) return;
    if (r.end == FakePeer::End::kTimeout) {
      ADD_FAILURE() << what << ": the gateway kept the lane open";
      return;
    }
  }
}

TEST_F(GatewayNoiseTest, GarbageOnEveryListeningPortLeavesFlowsUntouched) {
  // Short timeouts, so that a hanging handshake or lane ends within the test.
  ASSERT_TRUE(StartPair(sink_->port(), [](nlohmann::json& onprem, nlohmann::json& cloud) {
    for (nlohmann::json* c : {&onprem, &cloud}) {
      (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
      (*c)["tunnel"]["handshake_timeout"] = "2s";
      (*c)["tunnel"]["keepalive_interval"] = "1s";
      (*c)["tunnel"]["keepalive_timeout"] = "3s";
    }
  }));
  const Millis kClose(3'000 + 5'000);  // keepalive_timeout, then slack
  const uint16_t onprem_admin = onprem_->AdminPort(), cloud_admin = cloud_->AdminPort();
  ASSERT_NE(onprem_admin, 0);
  ASSERT_NE(cloud_admin, 0);

  // The flows beside the noise: an upload and a download.
  Upload up;
  ASSERT_NO_FATAL_FAILURE(StartUpload(&up));
  Socket down = Connect(service_port(), After(kWait));
  ASSERT_TRUE(down.valid());
  ASSERT_TRUE(SendBytes(down, std::string_view(kDownloadMagic, kMagicSize), After(kWait)));
  std::atomic<uint64_t> down_progress{0};
  ReceiveResult down_got;
  std::thread downloader([&] {
    const uint64_t seed = kDownSeed;
    down_got = ReceiveAll(down, After(Millis(120'000)), &seed, &down_progress);
  });
  const bool flowing = WaitAtLeast(upload_progress_, 4 * kMiB, After(kWait)) &&
                       WaitAtLeast(down_progress, 4 * kMiB, After(kWait));
  EXPECT_TRUE(flowing) << "the flows beside the noise never got going";
  const int onprem_fds = onprem_->OpenFds().value_or(0), cloud_fds = cloud_->OpenFds().value_or(0);

  const std::string garbage = RandomBytes(0x9a7b, 4 * kKiB);
  const std::string hello = ClientHelloPrefix(100);
  auto still_up = [&](const std::string& what) {
    EXPECT_TRUE(onprem_->Running() && cloud_->Running()) << "after " << what;
  };

  // Tunnel ports: not TLS at all, then TLS that is valid until it is not.
  struct Tunnel {
    GatewayProcess* gw;
    std::string as, expect;  // the certificate presented, the name expected
  };
  for (const Tunnel& t : {Tunnel{cloud_.get(), kOnprem, kCloud}, Tunnel{onprem_.get(), kCloud, kOnprem}}) {
    const std::string where = t.gw->name() + " tunnel port: ";
    for (const std::string* bytes : {&garbage, &hello}) {
      const std::string what = where + (bytes == &garbage ? "random bytes" : "truncated ClientHello");
      Socket s = Connect(t.gw->tunnel_port(), After(kWait));
      ASSERT_TRUE(s.valid()) << what;
      ASSERT_TRUE(SendBytes(s, *bytes, After(kWait))) << what;
      ExpectClosedByGateway(s, After(kClose), what);
      still_up(what);
    }
    // A valid mutual-TLS lane (with LANE_HELLO for tunnel `hello_id`, if
    // any), then `send`; the gateway must close it by itself.
    auto tls_then = [&](const std::string& what, uint64_t hello_id, const std::function<bool(FakePeer&)>& send) {
      FakePeer peer;
      ASSERT_TRUE(peer.Connect(t.gw->tunnel_port(), Identity(t.as), t.expect, After(kWait))) << what;
      if (hello_id != 0) {
        ASSERT_TRUE(peer.SendLaneHello(hello_id, 0, 1)) << what;
      }
      ASSERT_TRUE(send(peer)) << what;
      ExpectPeerClosed(peer, After(kClose), what);
      still_up(what);
    };
    tls_then(where + "TLS, then random bytes in place of LANE_HELLO", 0,
             [&](FakePeer& peer) { return peer.SendRaw(garbage); });
    tls_then(where + "TLS and LANE_HELLO, then random bytes inside TLS", 0x9a7b0001,
             [&](FakePeer& peer) { return peer.SendRaw(garbage); });
    tls_then(where + "TLS and LANE_HELLO, then bytes that are not TLS records", 0x9a7b0002,
             [&](FakePeer& peer) { return SendBytes(peer.socket(), garbage, After(kWait)); });
    // A record header announcing 16 KiB, 100 bytes of it, then silence: the
    // lane hears nothing whole, so keepalive_timeout must end it.
    tls_then(where + "TLS and LANE_HELLO, then a record cut short", 0x9a7b0003, [&](FakePeer& peer) {
      std::string cut = {0x17, 0x03, 0x03, 0x40, 0x00};
      cut += garbage.substr(0, 100);
      return SendBytes(peer.socket(), cut, After(kWait));
    });
    if (HasFatalFailure()) return;
  }

  // The service port: any bytes are a host's bytes, carried as they are.
  for (const std::string* bytes : {&garbage, &hello}) {
    const std::string what = std::string("service port: ") + (bytes == &garbage ? "random bytes" : "ClientHello");
    Socket s = Connect(service_port(), After(kWait));
    ASSERT_TRUE(s.valid()) << what;
    ASSERT_TRUE(SendBytes(s, *bytes, After(kWait))) << what;
    ASSERT_TRUE(s.ShutdownWrite());
    EXPECT_EQ(ReceiveAll(s, After(kWait)).end, StreamEnd::kEof) << what;
    Sha256 sha;
    sha.Update(bytes->data(), bytes->size());
    EXPECT_TRUE(OthersReceived(sha.Hex(), After(kWait))) << what << ": not carried as it was";
  }

  // The admin ports: HTTP that is not HTTP, too long, cut short, or
  // followed by garbage.
  for (const auto& [gw, port] : {std::pair{onprem_.get(), onprem_admin}, std::pair{cloud_.get(), cloud_admin}}) {
    const std::string where = gw->name() + " admin port: ";
    // Left hanging (the endpoint's idle timeout is 30 s): it must not stop
    // the others from being served.
    Socket hanging = Connect(port, After(kWait));
    ASSERT_TRUE(hanging.valid());
    ASSERT_TRUE(SendBytes(hanging, "GET /metr", After(kWait)));
    const std::string oversized = "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(64 * kKiB, 'a') + "\r\n\r\n";
    for (const auto& [name, bytes] : {std::pair{"random bytes", garbage}, std::pair{"truncated ClientHello", hello},
                                      std::pair{"a 64 KiB header", oversized}}) {
      const std::string what = where + name;
      Socket s = Connect(port, After(kWait));
      ASSERT_TRUE(s.valid()) << what;
      (void)SendBytes(s, bytes, After(kWait));  // the gateway may close before it has read it all
      ExpectClosedByGateway(s, After(kWait), what);
      still_up(what);
    }
    {
      const std::string what = where + "a request, then random bytes";
      Socket s = Connect(port, After(kWait));
      ASSERT_TRUE(s.valid());
      ASSERT_TRUE(SendBytes(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + garbage, After(kWait)));
      char answer[12] = {};
      EXPECT_TRUE(ReceiveExact(s, answer, sizeof(answer), After(kWait))) << what;
      EXPECT_EQ(std::string(answer, sizeof(answer)), "HTTP/1.1 200") << what;
      ExpectClosedByGateway(s, After(kWait), what);
    }
    EXPECT_EQ(HttpGet(port, "/healthz").status, 200) << where << "not served beside a hanging request";
  }

  // The flows beside all that: still going, then whole.
  const uint64_t up_before = upload_progress_.load(), down_before = down_progress.load();
  EXPECT_TRUE(WaitAtLeast(upload_progress_, up_before + 4 * kMiB, After(kWait))) << "the upload stopped";
  EXPECT_TRUE(WaitAtLeast(down_progress, down_before + 4 * kMiB, After(kWait))) << "the download stopped";
  stop_downloads_ = true;
  downloader.join();
  EXPECT_EQ(up.Finish(), StreamEnd::kEof);
  ASSERT_NO_FATAL_FAILURE(ExpectUploadWhole(up));
  ASSERT_TRUE(down.ShutdownWrite());
  ASSERT_TRUE(downloads_.WaitFor(1, After(kWait)));
  const SendResult down_sent = downloads_.Values()[0];
  EXPECT_EQ(down_got.end, StreamEnd::kEof) << StreamEndName(down_got.end);
  EXPECT_TRUE(down_got.pattern_ok) << "download corrupted at " << down_got.first_bad;
  EXPECT_EQ(down_got.sha256, down_sent.sha256);
  std::cerr << "beside the noise: " << up.sent.bytes / kMiB << " MiB up, " << down_got.bytes / kMiB
            << " MiB down, intact\n";

  // Nothing left behind: every noisy connection has been closed, so the
  // descriptors return to what they were with the two flows running.
  ASSERT_TRUE(onprem_->WaitForFlows(2 + 2, kWait));  // the flows and the two noisy service connections
  for (auto [gw, before] : {std::pair{onprem_.get(), onprem_fds}, std::pair{cloud_.get(), cloud_fds}}) {
    const Deadline deadline = After(kWait);
    while (gw->OpenFds().value_or(0) > before && Clock::now() < deadline) std::this_thread::sleep_for(Millis(20));
    EXPECT_LE(gw->OpenFds().value_or(0), before) << gw->name() << " kept descriptors of the noise";
  }
  OneWayResult again = SendAndClose(service_port(), 0x600d, 2 * kMiB, Millis(30'000));
  EXPECT_EQ(again.reply.end, StreamEnd::kEof) << DescribeOneWay(again);
  EXPECT_TRUE(OthersReceived(again.sent.sha256, After(kWait))) << "a new flow did not arrive whole";
}

// StormAcceptor accepts connections on 127.0.0.1:0 and closes each at once,
// on one thread (a server that spawned a thread per connection would be
// the bottleneck, not the gateway).
class StormAcceptor {
 public:
  StormAcceptor() {
    listener_ = Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listener_.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_.fd(), 4096) != 0 ||
        ::getsockname(listener_.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{listener_.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        for (int fd; (fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
          ::close(fd);
          ++accepted_;
        }
      }
    });
  }
  ~StormAcceptor() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  Socket listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST_F(GatewayNoiseTest, ConnectStormBesideATransferLeavesNothingBehind) {
  constexpr int kThreads = 2;           // this machine has two cores
  constexpr int kConnects = 6'000;      // in all
  constexpr double kRate = 2'000;       // per second, all threads together
  constexpr Millis kStormLimit(10'000); // the storm stops here whatever its count
  StormAcceptor storm_target;
  ASSERT_NE(storm_target.port(), 0);
  nlohmann::json policy = PermitPolicy(sink_->port());
  policy["rules"][0]["dst_ports"].push_back(storm_target.port());
  WritePolicy(kOnpremPolicy, policy);
  WritePolicy(kCloudPolicy, policy);
  ASSERT_TRUE(StartPair(sink_->port(), [&](nlohmann::json& onprem, nlohmann::json& cloud) {
    onprem["services"].push_back({{"name", "storm"},
                                  {"listen", "127.0.0.1:0"},
                                  {"peer", kCloud},
                                  {"target", "127.0.0.1:" + std::to_string(storm_target.port())}});
    for (nlohmann::json* c : {&onprem, &cloud}) (*c)["admin"] = {{"listen", "127.0.0.1:0"}};
  }));
  const uint16_t storm_port = onprem_->ServicePort("storm");
  ASSERT_NE(storm_port, 0);
  const uint16_t onprem_admin = onprem_->AdminPort(), cloud_admin = cloud_->AdminPort();

  // The transfer: an upload that runs until the storm is over.
  Upload up;
  ASSERT_NO_FATAL_FAILURE(StartUpload(&up));
  ASSERT_TRUE(WaitAtLeast(upload_progress_, 4 * kMiB, After(kWait))) << "the transfer never got going";
  // With the tunnel up and the transfer's sockets open: the storm's flows
  // must give back everything they take.
  const int onprem_fds = onprem_->OpenFds().value_or(0), cloud_fds = cloud_->OpenFds().value_or(0);

  // The storm, from another address (the per-source limit is not what is
  // tested here): connect, then close with a FIN, a reset, or after a few
  // bytes, paced to kRate in all.
  std::atomic<int> connected{0}, failed{0};
  const auto storm_start = Clock::now();
  std::vector<std::thread> stormers;
  for (int t = 0; t < kThreads; ++t) {
    stormers.emplace_back([&, t] {
      for (int i = t; i < kConnects; i += kThreads) {
        const auto due = storm_start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(i / kRate));
        if (Clock::now() >= storm_start + kStormLimit) return;
        if (Clock::now() < due) std::this_thread::sleep_until(due);  // pacing
        int error = 0;
        Socket s = ConnectFrom("127.0.0.5", storm_port, After(Millis(1'000)), &error);
        if (!s.valid()) {
          ++failed;
          continue;
        }
        ++connected;
        switch (i % 3) {
          case 0: s.Close(); break;
          case 1: s.Reset(); break;
          default:
            (void)::send(s.fd(), "hello", 5, MSG_NOSIGNAL);
            s.Close();
        }
      }
    });
  }
  for (std::thread& t : stormers) t.join();
  const double storm_seconds = std::chrono::duration<double>(Clock::now() - storm_start).count();
  std::cerr << "storm: " << connected.load() << " connects in " << storm_seconds << " s ("
            << connected.load() / storm_seconds << " per second), " << failed.load() << " failed; "
            << storm_target.accepted() << " reached the target\n";
  EXPECT_GE(connected.load(), kConnects / 2) << "too few connects to call it a storm";

  // The transfer went on through it, and arrives whole.
  const uint64_t after_storm = upload_progress_.load();
  EXPECT_TRUE(WaitAtLeast(upload_progress_, after_storm + 4 * kMiB, After(kWait))) << "the transfer stopped";
  EXPECT_EQ(up.Finish(), StreamEnd::kEof);
  ASSERT_NO_FATAL_FAILURE(ExpectUploadWhole(up));

  // Every connection the storm made got its access line, and nothing stays
  // live or open.
  EXPECT_TRUE(onprem_->WaitForFlows(static_cast<size_t>(connected.load()) + 1, Millis(30'000)));
  for (const auto& [gw, admin, fds] :
       {std::tuple{onprem_.get(), onprem_admin, onprem_fds}, std::tuple{cloud_.get(), cloud_admin, cloud_fds}}) {
    const Deadline deadline = After(Millis(30'000));
    while ((Metric(HttpGet(admin, "/metrics").body, "braid_flows_live") != 0 || gw->OpenFds().value_or(0) > fds) &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(Millis(50));
    }
    EXPECT_EQ(Metric(HttpGet(admin, "/metrics").body, "braid_flows_live"), 0) << gw->name();
    EXPECT_LE(gw->OpenFds().value_or(0), fds) << gw->name() << " kept descriptors of the storm";
  }
  OneWayResult again = SendAndClose(service_port(), 0x600d, 2 * kMiB, Millis(30'000));
  EXPECT_EQ(again.reply.end, StreamEnd::kEof) << DescribeOneWay(again);
  EXPECT_TRUE(OthersReceived(again.sent.sha256, After(kWait))) << "a new flow did not arrive whole";
}

}  // namespace
}  // namespace braid::integration
