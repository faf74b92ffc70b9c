// Protocol hardening, flows and framing (the fixture is in
// gateway_protocol_test.h; lane setup is in gateway_lane_setup_test.cc). In
// every case the gateway must stay up, log a precise reason, close the
// offending tunnel (after a GOAWAY where the protocol asks for one), and a
// normal flow through the real gw-onprem -> gw-cloud pair must still arrive
// whole afterwards:
//   - a flow frame (DATA, CREDIT, FIN, RST) for a flow id never opened;
//   - malformed framing: an unknown type, reserved flags, a DATA length over
//     16368, an unknown reason code, a bad OPEN payload, a second
//     LANE_HELLO, a frame cut short by the peer's close;
//   - flows: a DATA sequence number still pending with other bytes (the
//     sink sees a reset, never a clean EOF; an exact duplicate is dropped),
//     OPENs the policy denies (OPEN_REFUSED policy_denied with the rule id,
//     and the tunnel stays up), and an OPEN for UDP (OPEN_REFUSED
//     unsupported);
//   - a peer that sends but never reads: its lane is given up after
//     keepalive_timeout instead of queueing answers for ever;
//   - bytes that are not TLS, and a ClientHello cut short, on the tunnel
//     and service ports while a transfer runs beside them.
// The first test carries a whole flow through the fake peer, so that a
// failure in the others is the gateway's and not the fake peer's.
#include "integration/gateway_protocol_test.h"

namespace braid::integration {
namespace {

TEST_F(GatewayProtocolTest, FakePeerCarriesAPermittedFlowEndToEnd) {
  constexpr uint64_t kTunnel = 0x7e57'0001, kSeed = 0xfa4e, kSize = 256 * kKiB;
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
  ExpectLog("tunnel " + Id(kTunnel) + " from gw-onprem: accepted, 1 lanes");

  FakePeer::Read answer = Open(peer, 1, sink_->port());
  const auto* ok = std::get_if<wire::OpenOk>(&answer.frame);
  ASSERT_NE(ok, nullptr) << Describe(answer);
  EXPECT_EQ(ok->flow_id, 1u);
  const uint64_t frames = (kSize + wire::kMaxPayload - 1) / wire::kMaxPayload;
  ASSERT_GE(ok->initial_byte_credit, kSize);
  ASSERT_GE(ok->initial_seq_credit, frames);

  ASSERT_EQ(SendPatternData(peer, 1, kSeed, kSize), frames);
  ASSERT_TRUE(peer.SendFrame(wire::Fin{1, frames}));
  EXPECT_TRUE(SinkReceived(PatternDigest(kSeed, kSize), After(kWait)));
  // The sink closes after EOF, so the gateway half-closes the other
  // direction: FIN with no DATA before it.
  for (Deadline deadline = After(kWait);;) {
    FakePeer::Read r = peer.ReadFrame(deadline);
    ASSERT_EQ(r.end, End::kFrame) << "waiting for FIN: " << Describe(r);
    if (const auto* fin = std::get_if<wire::Fin>(&r.frame)) {
      EXPECT_EQ(fin->flow_id, 1u);
      EXPECT_EQ(fin->final_seq, 0u);
      break;
    }
    ASSERT_TRUE(std::holds_alternative<wire::Credit>(r.frame)) << Describe(r);
  }
  ASSERT_TRUE(peer.SendFrame(wire::Ping{42}));
  FakePeer::Read pong = peer.ReadFrame(After(kWait));
  ASSERT_TRUE(std::holds_alternative<wire::Pong>(pong.frame)) << Describe(pong);
  EXPECT_EQ(std::get<wire::Pong>(pong.frame).opaque, 42u);

  ASSERT_TRUE(cloud_->WaitForFlows(1, kWait));
  const FlowRecord flow = cloud_->Flows()[0];
  EXPECT_EQ(flow.side, "egress");
  EXPECT_EQ(flow.end, "completed") << flow.detail;
  EXPECT_EQ(flow.received, kSize);
  ExpectPairStillCarries();
}

// A flow frame naming an id that was never opened is a protocol error
// (docs/protocol.md, "Flow ids"): an id of the peer's above its highest
// OPEN, or an id of the gateway's that it never allocated.
TEST_F(GatewayProtocolTest, FramesForFlowsNeverOpenedAreProtocolErrors) {
  struct Case {
    const char* name;
    uint32_t flow_id;
    wire::Frame frame;
    bool open_flow_1_first;  // so that the id is above the highest OPEN, not just unknown
  };
  const Case cases[] = {
      {"DATA", 1, wire::Data{1, 0, "x"}, false},
      {"CREDIT", 1, wire::Credit{1, kMiB, 64}, false},
      {"FIN", 1, wire::Fin{1, 0}, false},
      {"RST", 1, wire::Rst{1, wire::ResetReason::kHostReset, "bogus"}, false},
      {"DATA", 3, wire::Data{3, 0, "x"}, true},   // above flow 1, the highest OPEN
      {"DATA", 2, wire::Data{2, 0, "x"}, false},  // an id the gateway allocates
  };
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  uint64_t tunnel = 0x7e57'0100;
  for (const Case& c : cases) {
    const std::string what = std::string(c.name) + " for flow " + std::to_string(c.flow_id);
    SCOPED_TRACE(what);
    FakePeer peer;
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, ++tunnel));
    if (c.open_flow_1_first) {
      FakePeer::Read answer = Open(peer, 1, sink_->port());
      ASSERT_TRUE(std::holds_alternative<wire::OpenOk>(answer.frame)) << Describe(answer);
    }
    ASSERT_TRUE(peer.SendFrame(c.frame));
    ExpectGoawayThenClose(peer, {GoawayReason::kProtocolError});
    const std::string line = ExpectLog("tunnel " + Id(tunnel) + " to gw-onprem: protocol error: ");
    EXPECT_THAT(line, HasSubstr(what));
    EXPECT_THAT(line, HasSubstr("never opened"));
  }
  ExpectPairStillCarries();
}

// Framing errors: the lane checks every header as soon as its 16 bytes are
// in, and the tunnel every payload and where a frame may come. A frame cut
// short by the peer's close is a lost lane (its tunnel waits
// lane_loss_grace for another), not a crash.
TEST_F(GatewayProtocolTest, MalformedOrMisplacedFramesCloseTheTunnel) {
  // What the fake peer sees, and does, after sending the bytes.
  enum class Then {
    kGoaway,      // GOAWAY protocol_error, then the connection closes
    kPeerCloses,  // the fake peer closes, leaving the frame unfinished
  };
  struct Case {
    const char* name;
    std::string bytes;
    Then then;
    std::string log;  // what follows "tunnel ID to gw-onprem" in the log
  };
  const std::string oversized(wire::kMaxPayload + 1, 'x');
  const Case cases[] = {
      {"unknown type", RawHeader(wire::kMaxFrameType + 1, 0, 0, 0, 0), Then::kGoaway,
       ": protocol error: lane 0: unknown frame type"},
      {"reserved flags", RawHeader(0x09, 0x01, 0, 0, 7), Then::kGoaway,
       ": protocol error: lane 0: reserved flags set"},
      {"DATA over 16368 bytes", RawHeader(0x05, 0, wire::kMaxPayload + 1, 1, 0) + oversized, Then::kGoaway,
       ": protocol error: lane 0: payload over limit"},
      {"unknown RST reason", RawHeader(0x07, 0, 0, 1, wire::kMaxResetReason + 1), Then::kGoaway,
       ": protocol error: lane 0: unknown reason code"},
      {"OPEN with a bad target name", BadNameOpen(), Then::kGoaway, ": protocol error: bad target name"},
      {"second LANE_HELLO", Encoded(wire::LaneHello{1, wire::kProtocolVersion, 0, 1, 0, {}}), Then::kGoaway,
       ": protocol error: LANE_HELLO after the lane was set up"},
      // Only the acceptor asks for a lane's rotation: the dialer dials.
      {"ROTATE from the dialer", Encoded(wire::Rotate{0, 0}), Then::kGoaway, ": protocol error: ROTATE from the dialer"},
      {"truncated OPEN", RawHeader(0x02, 0, wire::kOpenFixedPayloadSize, 1, kMiB) + std::string(20, '\0'),
       Then::kPeerCloses, ": lane 0 lost (closed by peer)"},
  };
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  uint64_t tunnel = 0x7e57'0200;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakePeer peer;
    ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, ++tunnel));
    ASSERT_TRUE(peer.SendRaw(c.bytes));
    switch (c.then) {
      case Then::kGoaway:
        ExpectGoawayThenClose(peer, {GoawayReason::kProtocolError});
        break;
      case Then::kPeerCloses:
        peer.Close();
        break;
    }
    ExpectLog("tunnel " + Id(tunnel) + " to gw-onprem" + c.log);
  }
  ExpectPairStillCarries();
}

// An exact duplicate DATA frame is dropped (lane recovery may resend one);
// a second frame with a sequence number still pending and other bytes ends
// the tunnel, and the flow's host (the sink) sees a reset: a stream cut by
// a protocol error must never look finished.
TEST_F(GatewayProtocolTest, InconsistentDuplicateEndsTheTunnelAndResetsTheHost) {
  constexpr uint64_t kTunnel = 0x7e57'0401;
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
  FakePeer::Read answer = Open(peer, 1, sink_->port());
  const auto* ok = std::get_if<wire::OpenOk>(&answer.frame);
  ASSERT_NE(ok, nullptr) << Describe(answer);
  ASSERT_GE(ok->initial_byte_credit, 3 * kKiB);
  ASSERT_GE(ok->initial_seq_credit, 3u);

  const std::string bytes = RandomBytes(0xd0b, kKiB), other = RandomBytes(0xd0c, kKiB);
  ASSERT_TRUE(peer.SendFrame(wire::Data{1, 0, bytes}));
  ASSERT_TRUE(peer.SendFrame(wire::Data{1, 0, bytes}));   // in order already: dropped
  ASSERT_TRUE(peer.SendFrame(wire::Data{1, 2, bytes}));
  ASSERT_TRUE(peer.SendFrame(wire::Data{1, 2, bytes}));   // pending, the same bytes: dropped
  ASSERT_TRUE(peer.SendFrame(wire::Data{1, 2, other}));   // pending, other bytes
  ExpectGoawayThenClose(peer, {GoawayReason::kProtocolError, GoawayReason::kFlowControlError});
  ExpectLog("tunnel " + Id(kTunnel) +
            " to gw-onprem: protocol error: flow 1: a second frame with a pending sequence number and other bytes");

  ASSERT_TRUE(received_.WaitFor(1, After(kWait)));
  const ReceiveResult sink = received_.Values()[0];
  EXPECT_EQ(sink.end, StreamEnd::kReset) << "the sink saw " << StreamEndName(sink.end) << " after " << sink.bytes
                                         << " bytes";
  EXPECT_EQ(sink.bytes, kKiB) << "only frame 0 was in order, once";
  ASSERT_TRUE(cloud_->WaitForFlows(1, kWait));
  EXPECT_EQ(cloud_->Flows()[0].end, "tunnel_lost");
  ExpectPairStillCarries();
}

// An OPEN the egress policy denies is refused for that flow only, with the
// rule that denied it (empty for the default deny); the tunnel carries on.
TEST_F(GatewayProtocolTest, DeniedOpenIsRefusedWithTheRule) {
  constexpr uint64_t kTunnel = 0x7e57'0501;
  const uint16_t denied_port = FreePort(), unlisted_port = FreePort();
  ASSERT_NE(denied_port, unlisted_port);
  nlohmann::json policy = PermitPolicy(sink_->port());
  nlohmann::json deny = {{"id", "deny-fake"}, {"action", "deny"}, {"proto", "tcp"}, {"dst_ports", {denied_port}}};
  policy["rules"].insert(policy["rules"].begin(), std::move(deny));
  ASSERT_NO_FATAL_FAILURE(WritePolicy(kCloudPolicy, policy));
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));

  struct Case {
    uint32_t flow_id;
    uint16_t port;
    std::string rule;
  };
  for (const Case& c : {Case{1, denied_port, "deny-fake"}, Case{3, unlisted_port, ""}}) {
    SCOPED_TRACE("OPEN to port " + std::to_string(c.port));
    FakePeer::Read answer = Open(peer, c.flow_id, c.port);
    const auto* refused = std::get_if<wire::OpenRefused>(&answer.frame);
    ASSERT_NE(refused, nullptr) << Describe(answer);
    EXPECT_EQ(refused->flow_id, c.flow_id);
    EXPECT_EQ(refused->reason, wire::RefuseReason::kPolicyDenied);
    EXPECT_EQ(refused->rule_id, c.rule);
    ExpectLog("flow " + std::to_string(c.flow_id) + " from 127.0.0.1:" + std::to_string(40'000 + c.flow_id) +
              " via gw-onprem to 127.0.0.1:" + std::to_string(c.port) + ": denied by rule " +
              (c.rule.empty() ? "(default)" : c.rule));
  }
  // Not a protocol error: the same tunnel opens a permitted flow.
  FakePeer::Read answer = Open(peer, 5, sink_->port());
  EXPECT_TRUE(std::holds_alternative<wire::OpenOk>(answer.frame)) << Describe(answer);
  EXPECT_EQ(cloud_->CountInLog("tunnel " + Id(kTunnel) + " to gw-onprem closed"), 0);
  peer.Close();
  ExpectPairStillCarries();
}

// A peer that keeps sending (PINGs, so the lane's receive keepalive is
// satisfied) but never reads: the gateway's answers fill the connection and
// its writes stall. It must give the lane up after keepalive_timeout, not
// queue PONGs for ever.
TEST_F(GatewayProtocolTest, PeerThatNeverReadsLosesItsLane) {
  constexpr uint64_t kTunnel = 0x7e57'0601;
  ASSERT_NO_FATAL_FAILURE(StartGateways([](nlohmann::json&, nlohmann::json& cloud) {
    cloud["tunnel"]["keepalive_interval"] = "500ms";
    cloud["tunnel"]["keepalive_timeout"] = "2s";
  }));
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
  std::string pings;
  for (uint64_t i = 0; pings.size() < 64 * kKiB; ++i) pings += Encoded(wire::Ping{i});
  const Deadline give_up = After(Millis(30'000));
  bool cut = false;
  while (!cut && Clock::now() < give_up) cut = !peer.SendRaw(pings);
  ASSERT_TRUE(cut) << "gw-cloud still took PINGs after 30 s of its PONGs not being read";
  const std::string line = ExpectLog("send stalled");
  EXPECT_THAT(line, HasSubstr(Id(kTunnel)));
  peer.Close();
  ExpectPairStillCarries();
}

// docs/protocol.md, OPEN: version 1 gateways carry TCP only and refuse UDP
// with `unsupported`, whatever the policy says.
// The policy here permits any protocol, so the refusal is the gateway's.
TEST_F(GatewayProtocolTest, UdpOpenIsRefusedAsUnsupported) {
  constexpr uint64_t kTunnel = 0x7e57'0502;
  nlohmann::json policy = PermitPolicy(sink_->port());
  policy["rules"][0].erase("proto");  // any protocol
  ASSERT_NO_FATAL_FAILURE(WritePolicy(kCloudPolicy, policy));
  ASSERT_NO_FATAL_FAILURE(StartGateways());
  FakePeer peer;
  ASSERT_NO_FATAL_FAILURE(JoinTunnel(peer, kTunnel));
  wire::Open open = OpenTo(1, sink_->port());
  open.protocol = Protocol::kUdp;
  ASSERT_TRUE(peer.SendFrame(open));
  FakePeer::Read answer = peer.ReadFrame(After(kWait));
  const auto* refused = std::get_if<wire::OpenRefused>(&answer.frame);
  ASSERT_NE(refused, nullptr) << Describe(answer);
  EXPECT_EQ(refused->reason, wire::RefuseReason::kUnsupported);
  EXPECT_EQ(sink_->accepted(), 0) << "the gateway connected to the target for a UDP flow";
  peer.Close();
  ExpectPairStillCarries();
}

// Bytes that are not TLS, and a ClientHello cut short and left hanging, on
// both gateways' tunnel ports; the same on the service port, where they are
// just a host's bytes to carry. A transfer running beside them all the while
// must arrive whole.
TEST_F(GatewayProtocolTest, NonTlsBytesOnTunnelAndServicePortsLeaveATransferIntact) {
  constexpr uint64_t kSeed = 0xbe51de;
  constexpr Millis kHandshakeTimeout{2'000};
  ASSERT_NO_FATAL_FAILURE(StartGateways([](nlohmann::json& onprem, nlohmann::json& cloud) {
    onprem["tunnel"]["handshake_timeout"] = "2s";
    cloud["tunnel"]["handshake_timeout"] = "2s";
  }));

  Socket source = Connect(service_port(), After(kWait));
  ASSERT_TRUE(source.valid());
  std::atomic<bool> stop{false};
  SendResult sent;
  std::thread sender([&] {
    SendOptions options;
    options.seed = kSeed;
    options.size = UINT64_MAX;
    options.shutdown_write = true;
    options.stop = &stop;
    // A rate cap (at most 256 KiB every 2 ms), not a wait: the transfer
    // must keep going through every case below without starving the two
    // cores the gateways share with it.
    options.progress = [](uint64_t) { std::this_thread::sleep_for(Millis(2)); };
    sent = SendPattern(source, options, After(Millis(120'000)));
  });
  const bool flowing = WaitAtLeast(sink_progress_, 4 * kMiB, After(kWait));

  const std::string garbage = RandomBytes(0x6a7b, 4 * kKiB);
  const std::string hello = ClientHelloPrefix(100);
  EXPECT_EQ(hello.size(), 100u);
  EXPECT_EQ(hello[0], 0x16) << "not a TLS handshake record";
  for (GatewayProcess* gw : {cloud_.get(), onprem_.get()}) {
    for (const std::string* bytes : {&garbage, &hello}) {
      SCOPED_TRACE(gw->name() + (bytes == &garbage ? ": garbage" : ": truncated ClientHello"));
      const Deadline deadline = After(kHandshakeTimeout + kWait);
      Socket s = Connect(gw->tunnel_port(), deadline);
      ASSERT_TRUE(s.valid());
      ASSERT_TRUE(SendBytes(s, *bytes, deadline));
      // Nothing more is sent: the gateway must close the connection on its
      // own, at once for garbage, after handshake_timeout for a ClientHello
      // that never ends.
      const ReceiveResult r = ReceiveAll(s, deadline);
      EXPECT_NE(r.end, StreamEnd::kTimeout) << "the gateway kept the connection open";
      EXPECT_TRUE(gw->WaitForLog("tunnel listener: rejected " + LocalEndpoint(s) + ": ", kWait));
    }
  }
  for (const std::string* bytes : {&garbage, &hello}) {
    SCOPED_TRACE(bytes == &garbage ? "service: garbage" : "service: truncated ClientHello");
    Socket s = Connect(service_port(), After(kWait));
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(SendBytes(s, *bytes, After(kWait)));
    ASSERT_TRUE(s.ShutdownWrite());
    const ReceiveResult r = ReceiveAll(s, After(kWait));
    EXPECT_EQ(r.end, StreamEnd::kEof);
    Sha256 sha;
    sha.Update(bytes->data(), bytes->size());
    EXPECT_TRUE(SinkReceived(sha.Hex(), After(kWait))) << "the service did not carry the bytes as they were";
  }

  stop = true;
  sender.join();
  ASSERT_TRUE(flowing) << "the transfer never got going";
  EXPECT_EQ(sent.error, 0) << strerror(sent.error);
  EXPECT_FALSE(sent.timed_out);
  const ReceiveResult reply = ReceiveAll(source, After(kWait));
  EXPECT_EQ(reply.end, StreamEnd::kEof) << StreamEndName(reply.end);
  EXPECT_TRUE(SinkReceived(sent.sha256, After(kWait))) << "the transfer beside them did not arrive whole ("
                                                       << sent.bytes << " bytes sent)";
  EXPECT_TRUE(cloud_->Running() && onprem_->Running());
}

}  // namespace
}  // namespace braid::integration
