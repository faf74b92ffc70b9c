// Tunnel lifecycle and authentication with real gateways:
//   - a tunnel idle for idle_timeout is torn down, and the next flow builds
//     a new one (a second "dialing" in the log), resuming the TLS session;
//   - a gateway whose certificate comes from another CA is refused at the
//     handshake, whichever side it is on (the acceptor logs "rejected"),
//     and the host's flow is reset;
//   - a peer whose certificate names another gateway than the one
//     configured is refused, and the host's flow is reset.
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class GatewayTunnelTest : public GatewayPairTest {
 protected:
  // ExpectRefusedFlow sends a flow that cannot be carried: the source must
  // see a reset, never a clean end, and the sink no connection.
  void ExpectRefusedFlow(const TcpServer& sink) {
    OneWayResult r = SendAndClose(service_port(), 3, 64 * 1024, Millis(20'000));
    EXPECT_TRUE(SourceSawReset(r)) << DescribeOneWay(r) << ": the source must see a reset";
    EXPECT_EQ(sink.accepted(), 0);
    ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
    EXPECT_EQ(onprem_->Flows()[0].end, "tunnel_lost");
  }
};

TEST_F(GatewayTunnelTest, IdleTunnelIsTornDownAndRebuiltByTheNextFlow) {
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(20'000)));
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["tunnel"]["idle_timeout"] = "1s";
    onprem["log"] = {{"level", "debug"}};
  }));

  OneWayResult first = SendAndClose(service_port(), 1, 2 * kMiB, Millis(20'000));
  EXPECT_EQ(first.reply.end, StreamEnd::kEof) << StreamEndName(first.reply.end);
  ASSERT_TRUE(onprem_->WaitForLog("closed: idle", Millis(10'000)));
  // The far side closes its end too.
  ASSERT_TRUE(cloud_->WaitForLog("closed:", Millis(10'000)));

  OneWayResult second = SendAndClose(service_port(), 2, 2 * kMiB, Millis(20'000));
  EXPECT_EQ(second.reply.end, StreamEnd::kEof) << StreamEndName(second.reply.end);
  ASSERT_TRUE(received.WaitFor(2, After(Millis(10'000))));
  EXPECT_EQ(received.Values()[0].sha256, first.sent.sha256);
  EXPECT_EQ(received.Values()[1].sha256, second.sent.sha256);
  EXPECT_EQ(received.Values()[1].bytes, 2 * kMiB);

  EXPECT_EQ(onprem_->CountInLog("dialing"), 2) << "the tunnel was not rebuilt";
  EXPECT_EQ(cloud_->CountInLog("accepted"), 2);
  // Rebuilt tunnels resume the TLS session: only the very first lane pays
  // for a full handshake.
  EXPECT_EQ(onprem_->CountInLog("lane 0 to gw-cloud up (resumed)"), 1) << "the rebuilt tunnel did not resume";
  ASSERT_TRUE(onprem_->WaitForFlows(2, Millis(10'000)));
  for (const FlowRecord& f : onprem_->Flows()) EXPECT_EQ(f.end, "completed");
}

TEST_F(GatewayTunnelTest, DialerWithCertificateFromAnotherCaIsRejected) {
  // gw-onprem's certificate comes from a second, unrelated CA. It trusts
  // both CAs (a bundle), so it accepts gw-cloud; gw-cloud trusts only the
  // real CA and must reject gw-onprem at the handshake.
  const std::string rogue = Path("rogue-pki");
  ASSERT_TRUE(MakeCa(rogue, dir_.path()));
  ASSERT_TRUE(IssueCert(rogue, kOnprem, dir_.path()));
  ASSERT_TRUE(WriteFileAtomically(Path("both-cas.crt"), ReadFile(rogue + "/ca.crt") + ReadFile(Path("pki/ca.crt"))));
  TcpServer sink([](Socket&) {});
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json& onprem, nlohmann::json&) {
    onprem["identity"] = {{"cert", "rogue-pki/gw-onprem.crt"}, {"key", "rogue-pki/gw-onprem.key"}, {"ca", "both-cas.crt"}};
  }));

  ExpectRefusedFlow(sink);
  EXPECT_TRUE(cloud_->WaitForLog("rejected", Millis(10'000)));
  EXPECT_EQ(cloud_->CountInLog("peer certificate not signed by the configured CA"), 1);
  EXPECT_EQ(cloud_->CountInLog("accepted"), 0);
}

TEST_F(GatewayTunnelTest, PeerWithCertificateFromAnotherCaIsRefused) {
  // What answers at gw-cloud's address is a gateway from another PKI
  // altogether: gw-onprem must refuse it.
  const std::string rogue = Path("rogue-pki");
  ASSERT_TRUE(MakeCa(rogue, dir_.path()));
  ASSERT_TRUE(IssueCert(rogue, kCloud, dir_.path()));
  TcpServer sink([](Socket&) {});
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json&, nlohmann::json& cloud) {
    cloud["identity"] = {{"cert", "rogue-pki/gw-cloud.crt"}, {"key", "rogue-pki/gw-cloud.key"}, {"ca", "rogue-pki/ca.crt"}};
  }));

  ExpectRefusedFlow(sink);
  EXPECT_TRUE(onprem_->WaitForLog("TLS handshake with gw-cloud: peer certificate not signed by the configured CA",
                                  Millis(10'000)));
  EXPECT_EQ(cloud_->CountInLog("accepted"), 0);
}

TEST_F(GatewayTunnelTest, PeerWithAnotherNameIsRefused) {
  // gw-onprem dials "gw-cloud", but what answers holds a valid certificate
  // from the same CA for "gw-other".
  ASSERT_TRUE(IssueCert(Path("pki"), "gw-other", dir_.path()));
  TcpServer sink([](Socket&) {});
  ASSERT_TRUE(StartPair(sink.port(), [](nlohmann::json&, nlohmann::json& cloud) {
    cloud["name"] = "gw-other";
    cloud["identity"]["cert"] = "pki/gw-other.crt";
    cloud["identity"]["key"] = "pki/gw-other.key";
  }));

  ExpectRefusedFlow(sink);
  // The dialer refuses the handshake and says why.
  EXPECT_TRUE(onprem_->WaitForLog("TLS handshake with gw-cloud: peer name gw-other does not match expected gw-cloud",
                                  Millis(10'000)));
  EXPECT_EQ(cloud_->CountInLog("accepted"), 0);
}

}  // namespace
}  // namespace braid::integration
