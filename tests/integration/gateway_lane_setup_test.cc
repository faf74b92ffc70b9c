// Protocol hardening, lanes (the fixture is in gateway_protocol_test.h):
// a wrong binder on lane 0, a first frame that is not LANE_HELLO, lane 1 of
// a tunnel that does not exist; lane 1 of a live tunnel with its own binder
// instead of lane 0's, another gateway's certificate, another lane count,
// or a slot already taken; a LANE_HELLO of an unsupported version; and the
// acknowledgements of protocol version 2: an ACK or LANE_LOST that counts
// frames never sent, a LANE_LOST for a lane the tunnel does not have. Each
// is refused or ends the tunnel with a precise log line, and the pair
// still carries a flow afterwards.
#include "integration/gateway_protocol_test.h"

namespace braid::integration {
namespace {

// A lane whose first frame does not set it up is closed alone, logged with
// the reason, and no tunnel is made of it: a wrong binder on lane 0, a first
// frame other than LANE_HELLO, lane 1 of a tunnel that does not exist.
TEST_F(GatewayProtocolTest, LaneThatDoesNotSetUpIsRejected) {
  struct Case {
    const char* name;
    uint64_t tunnel;
    std::function<wire::Frame(const FakePeer&, uint64_t tunnel)> first;
    bool by_listener;  // rejected before any tunnel is looked up, so logged by address
    std::string log;   // the reason at the end of the log line
  };
  const Case cases[] = {
      {"lane 0 with a wrong binder", 0x7e57'0301,
       [](const FakePeer& peer, uint64_t tunnel) -> wire::Frame {
         wire::LaneHello hello{tunnel, wire::kProtocolVersion, 0, 1, 0, peer.ExportBinder(tunnel)};
         hello.binder[0] ^= 1;
         return hello;
       },
       true, "lane 0 binder does not match its TLS session"},
      {"PING first", 0x7e57'0302, [](const FakePeer&, uint64_t) -> wire::Frame { return wire::Ping{1}; }, true,
       "first frame is not a valid LANE_HELLO"},
      {"lane 1 of no tunnel", 0x7e57'0303,
       [](const FakePeer& peer, uint64_t tunnel) -> wire::Frame {
         return wire::LaneHello{tunnel, wire::kProtocolVersion, 1, 2, 0, peer.ExportBinder(tunnel)};
       },
       false, "no such tunnel"},
  };
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakePeer peer;
    ASSERT_NO_FATAL_FAILURE(Dial(peer));
    ASSERT_TRUE(peer.SendFrame(c.first(peer, c.tunnel)));
    ExpectClosed(peer, c.by_listener ? GoawayReason::kProtocolError : GoawayReason::kLaneRejected);
    ExpectLog(c.by_listener ? "tunnel listener: rejected " + LocalEndpoint(peer.socket()) + " (gw-onprem): " + c.log
                            : "tunnel " + Id(c.tunnel) + " from gw-onprem: lane 1 rejected: " + c.log);
    EXPECT_EQ(cloud_->CountInLog("tunnel " + Id(c.tunnel) + " from gw-onprem: accepted"), 0);
  }
  ExpectPairStillCarries();
}

// A lane after the first joins a tunnel only with lane 0's binder, from the
// tunnel's peer, with the tunnel's lane count, in a free slot. Each rejected
// lane is closed alone: lane 0 is not harmed, and the right lane 1 joins.
TEST_F(GatewayProtocolTest, LaneOneMustFitTheTunnel) {
  constexpr uint64_t kTunnel = 0x7e57'0302;
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer lane0;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(lane0, kTunnel, 0, 2));
  struct Case {
    const char* name;
    std::string as;       // the certificate it dials with
    bool lane0_binder;    // false: its own session's binder
    uint16_t lane_count;
    std::string log;  // after "tunnel ID from NAME: lane 1 rejected: "
  };
  const Case rejected[] = {
      {"own binder (another TLS session)", kOnprem, false, 2, "binder does not match the tunnel's first lane"},
      {"another gateway's certificate", kCloud, true, 2, "lane certificate names gw-cloud, tunnel belongs to gw-onprem"},
      {"another lane count", kOnprem, true, 3, "lane count does not fit the tunnel"},
  };
  for (const Case& c : rejected) {
    SCOPED_TRACE(c.name);
    FakePeer lane;
    ASSERT_NO_FATAL_FAILURE(Dial(lane, c.as));
    ASSERT_TRUE(lane.SendLaneHello(kTunnel, 1, c.lane_count, c.lane0_binder ? &lane0 : nullptr));
    ExpectClosed(lane, GoawayReason::kLaneRejected);
    ExpectLog("tunnel " + Id(kTunnel) + " from " + c.as + ": lane 1 rejected: " + c.log);
  }
  ASSERT_TRUE(lane0.SendFrame(wire::Ping{7}));
  FakePeer::Read pong = lane0.ReadFrame(After(kWait));
  EXPECT_TRUE(std::holds_alternative<wire::Pong>(pong.frame)) << "lane 0 after the rejections: " << Describe(pong);

  FakePeer lane1, again;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(lane1, kTunnel, 1, 2, &lane0));
  // The slot is taken now, by this very connection of the lane.
  ASSERT_NO_FATAL_FAILURE(Dial(again));
  ASSERT_TRUE(again.SendLaneHello(kTunnel, 1, 2, &lane0));
  ExpectClosed(again, GoawayReason::kLaneRejected);
  EXPECT_TRUE(cloud_->WaitForLog("lane 1 rejected: lane already attached", kWait));
  ExpectPairStillCarries();
}

// docs/protocol.md, "Lane setup": a LANE_HELLO with an unsupported version
// is answered with GOAWAY version_mismatch.
TEST_F(GatewayProtocolTest, LaneHelloWithUnsupportedVersionIsRefused) {
  constexpr uint64_t kTunnel = 0x7e57'0305;
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(Dial(peer));
  ASSERT_TRUE(peer.SendFrame(wire::LaneHello{kTunnel, wire::kProtocolVersion + 1, 0, 1, 0, peer.ExportBinder(kTunnel)}));
  FakePeer::Read answer = peer.ReadFrame(After(kWait));
  const auto* goaway = std::get_if<wire::Goaway>(&answer.frame);
  ASSERT_NE(goaway, nullptr) << "expected GOAWAY version_mismatch, got " << Describe(answer);
  EXPECT_EQ(goaway->reason, GoawayReason::kVersionMismatch) << Describe(answer);
  FakePeer::Read after = peer.ReadFrame(After(kWait));
  EXPECT_TRUE(after.closed()) << Describe(after);
  EXPECT_EQ(cloud_->CountInLog("tunnel " + Id(kTunnel) + " from gw-onprem: accepted"), 0);
  ExpectPairStillCarries();
}

// The lane acknowledgements of protocol version 2: an ACK of more frames
// than the gateway sent on the lane, or a LANE_LOST that counts more than
// it sent on the lost lane, is a protocol error that ends the tunnel (and
// crashes nothing).
TEST_F(GatewayProtocolTest, AcknowledgingFramesNeverSentIsAProtocolError) {
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  {
    constexpr uint64_t kTunnel = 0x7e57'0402;
    FakePeer peer;
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
    FakePeer::Read answer = Open(peer, 1, sink_->port());  // the gateway sends one counted frame: OPEN_OK
    ASSERT_TRUE(std::holds_alternative<wire::OpenOk>(answer.frame)) << Describe(answer);
    ASSERT_TRUE(peer.SendFrame(wire::Ack{1}));  // right
    ASSERT_TRUE(peer.SendFrame(wire::Ack{2}));  // one too many
    ExpectGoawayThenClose(peer, {GoawayReason::kProtocolError});
    ExpectLog("tunnel " + Id(kTunnel) +
              " to gw-onprem: protocol error: lane 0: ACK of 2 frames, 1 written: acknowledges frames never sent");
  }
  {
    constexpr uint64_t kTunnel = 0x7e57'0403;
    FakePeer lane0, lane1;
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(lane0, kTunnel, 0, 2));
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(lane1, kTunnel, 1, 2, &lane0));
    // Lane 1 carried nothing from the gateway; the peer claims 5 frames.
    ASSERT_TRUE(lane0.SendFrame(wire::LaneLost{1, 0, 5}));
    ExpectGoawayThenClose(lane0, {GoawayReason::kProtocolError});
    ExpectLog("tunnel " + Id(kTunnel) + " to gw-onprem: protocol error: LANE_LOST for lane 1 connection 0 counts 5 "
              "frames received, 0 were written: acknowledges frames never sent");
  }
  {
    constexpr uint64_t kTunnel = 0x7e57'0404;
    FakePeer peer;
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
    ASSERT_TRUE(peer.SendFrame(wire::LaneLost{3, 0, 0}));  // a 1-lane tunnel has no lane 3
    ExpectGoawayThenClose(peer, {GoawayReason::kProtocolError});
    ExpectLog("tunnel " + Id(kTunnel) +
              " to gw-onprem: protocol error: LANE_LOST for lane 3 connection 0: the tunnel has 1 lanes");
  }
  ExpectPairStillCarries();
}

}  // namespace
}  // namespace braid::integration
