// Protocol hardening: a real gw-cloud faced with a scripted fake peer
// (support/fake_peer.h) that dials it as gw-onprem, with gw-onprem's real
// certificate, and breaks one rule of docs/protocol.md at a time. In every
// case the gateway must stay up, log a precise reason, close the offending
// tunnel or lane (after a GOAWAY where the protocol asks for one), and a
// normal flow through the real gw-onprem -> gw-cloud pair must still arrive
// whole afterwards:
//   - a flow frame (DATA, CREDIT, FIN, RST) for a flow id never opened;
//   - malformed framing: an unknown type, reserved flags, a DATA length over
//     16368, an unknown reason code, a bad OPEN payload, a second
//     LANE_HELLO, a frame cut short by the peer's close;
//   - lane setup: a wrong binder on lane 0, a first frame that is not
//     LANE_HELLO, lane 1 of a tunnel that does not exist; lane 1 of a live
//     tunnel with its own binder instead of lane 0's, another gateway's
//     certificate, another lane count, or a slot already taken, and a
//     LANE_HELLO of an unsupported version;
//   - flows: a duplicate DATA sequence number (the sink sees a reset, never
//     a clean EOF), OPENs the policy denies (OPEN_REFUSED policy_denied with
//     the rule id, and the tunnel stays up), and an OPEN for UDP
//     (OPEN_REFUSED unsupported);
//   - a peer that sends but never reads: its lane is given up after
//     keepalive_timeout instead of queueing answers for ever;
//   - bytes that are not TLS, and a ClientHello cut short, on the tunnel
//     and service ports while a transfer runs beside them.
// The first test carries a whole flow through the fake peer, so that a
// failure in the others is the gateway's and not the fake peer's.
#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/fake_peer.h"
#include "integration/support/gateway_pair_test.h"
#include "proxy/wire/frame_codec.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;
using wire::GoawayReason;
using End = FakePeer::End;

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr Millis kWait{10'000};
// What the fake peer grants the gateway in its OPENs.
constexpr uint64_t kOpenByteCredit = 4 * kMiB;
constexpr uint32_t kOpenSeqCredit = 4096;
const IpAddress kLoopback = IpAddress::V4(0x7f000001);

std::string Describe(const FakePeer::Read& r) {
  switch (r.end) {
    case End::kFrame: {
      std::string out(wire::FrameTypeName(wire::TypeOf(r.frame)));
      if (const auto* g = std::get_if<wire::Goaway>(&r.frame)) {
        out += " " + std::string(wire::GoawayReasonName(g->reason)) + " \"" + std::string(g->text) + "\"";
      }
      return out;
    }
    case End::kClosed: return "connection closed (" + r.detail + ")";
    case End::kReset: return "connection reset";
    case End::kTimeout: return "nothing before the deadline";
    case End::kError: return "error: " + r.detail;
  }
  return "?";
}

// OpenTo is an OPEN from a host on loopback to 127.0.0.1:port.
wire::Open OpenTo(uint32_t flow_id, uint16_t port) {
  wire::Open open;
  open.flow_id = flow_id;
  open.protocol = Protocol::kTcp;
  open.src_address = kLoopback;
  open.src_port = static_cast<uint16_t>(40'000 + flow_id);
  open.target_address = kLoopback;
  open.target_port = port;
  open.initial_byte_credit = kOpenByteCredit;
  open.initial_seq_credit = kOpenSeqCredit;
  return open;
}

// RawHeader is a frame header with any field values, valid or not.
std::string RawHeader(uint8_t type, uint8_t flags, uint16_t length, uint32_t flow_id, uint64_t value) {
  std::string out(wire::kHeaderSize, '\0');
  proxy::EncodeHeader({static_cast<wire::FrameType>(type), flags, length, flow_id, value},
                      std::span<char, wire::kHeaderSize>(out.data(), wire::kHeaderSize));
  return out;
}

// Encoded is a valid frame's bytes, for SendRaw.
std::string Encoded(const wire::Frame& frame) {
  std::string out;
  if (!proxy::EncodeFrame(frame, &out)) ADD_FAILURE() << "cannot encode " << wire::FrameTypeName(wire::TypeOf(frame));
  return out;
}

// BadNameOpen is an OPEN whose target name holds a '!': the header is fine,
// the payload is not.
std::string BadNameOpen() {
  wire::Open open = OpenTo(1, 9);
  open.target_name = "host";
  std::string out = Encoded(open);
  out.back() = '!';
  return out;
}

// LogLine is the first line of `log` that contains `needle`, or "".
std::string LogLine(const std::string& log, std::string_view needle) {
  const size_t at = log.find(needle);
  if (at == std::string::npos) return "";
  const size_t begin = log.rfind('\n', at) + 1;  // npos + 1 == 0
  return log.substr(begin, log.find('\n', at) - begin);
}

class GatewayProtocolTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    GatewayPairTest::SetUp();
    if (HasFatalFailure()) return;
    sink_ = std::make_unique<TcpServer>(DrainHandler(&received_, Millis(60'000), std::nullopt, &sink_progress_));
  }

  void StartGateways(const Customize& customize = nullptr) { ASSERT_TRUE(StartPair(sink_->port(), customize)); }

  // Identity is gateway `name`'s certificate and key from the test's PKI.
  PeerIdentity Identity(const std::string& name) const {
    return {Path("pki/" + name + ".crt"), Path("pki/" + name + ".key"), Path("pki/ca.crt")};
  }

  // Dial connects a fake lane to gw-cloud, as gw-onprem unless told
  // otherwise: TLS up, nothing sent.
  void Dial(FakePeer& peer, const std::string& as = kOnprem) {
    ASSERT_TRUE(peer.Connect(cloud_->tunnel_port(), Identity(as), kCloud, After(kWait)));
  }

  // JoinTunnel dials and sets up lane `index` of tunnel `id` as a dialer
  // must: LANE_HELLO with lane 0's binder (`lane0`'s, or this lane's own
  // when null), then the gateway's echo, checked field by field.
  void JoinTunnel(FakePeer& peer, uint64_t id, uint16_t index = 0, uint16_t count = 1,
                  const FakePeer* lane0 = nullptr) {
    ASSERT_NO_FATAL_FAILURE(Dial(peer));
    ASSERT_TRUE(peer.SendLaneHello(id, index, count, lane0));
    FakePeer::Read echo = peer.ReadFrame(After(kWait));
    const auto* hello = std::get_if<wire::LaneHello>(&echo.frame);
    ASSERT_TRUE(echo.end == End::kFrame && hello != nullptr) << "no LANE_HELLO echo: " << Describe(echo);
    EXPECT_EQ(hello->tunnel_id, id);
    EXPECT_EQ(hello->lane_index, index);
    EXPECT_EQ(hello->lane_count, count);
    EXPECT_TRUE(hello->binder == (lane0 != nullptr ? *lane0 : peer).ExportBinder(id)) << "echo of another binder";
  }

  // Open sends OPEN for a flow to 127.0.0.1:port and returns the gateway's
  // answer, skipping frames of other flows.
  FakePeer::Read Open(FakePeer& peer, uint32_t flow_id, uint16_t port) {
    EXPECT_TRUE(peer.SendFrame(OpenTo(flow_id, port)));
    return peer.ReadFrame(After(kWait));
  }

  // ExpectGoawayThenClose: the gateway ends the tunnel as a protocol error
  // requires: GOAWAY with one of `reasons` (frames before it, such as
  // CREDIT, are skipped), then the connection closes.
  void ExpectGoawayThenClose(FakePeer& peer, std::initializer_list<GoawayReason> reasons) {
    const Deadline deadline = After(kWait);
    for (;;) {
      FakePeer::Read r = peer.ReadFrame(deadline);
      ASSERT_EQ(r.end, End::kFrame) << "expected GOAWAY, got " << Describe(r);
      if (const auto* goaway = std::get_if<wire::Goaway>(&r.frame)) {
        EXPECT_NE(std::find(reasons.begin(), reasons.end(), goaway->reason), reasons.end()) << Describe(r);
        EXPECT_FALSE(goaway->text.empty()) << "GOAWAY without a reason text";
        break;
      }
    }
    FakePeer::Read after = peer.ReadFrame(deadline);
    EXPECT_TRUE(after.closed()) << "after GOAWAY: " << Describe(after);
  }

  // ExpectClosed: the gateway closes the connection, answering nothing but
  // possibly a GOAWAY `reason`. Returns whether a GOAWAY came.
  bool ExpectClosed(FakePeer& peer, GoawayReason reason) {
    const Deadline deadline = After(kWait);
    bool goaway = false;
    for (;;) {
      FakePeer::Read r = peer.ReadFrame(deadline);
      if (r.closed()) return goaway;
      const auto* g = std::get_if<wire::Goaway>(&r.frame);
      if (r.end != End::kFrame || g == nullptr || g->reason != reason || goaway) {
        ADD_FAILURE() << "expected the connection closed, got " << Describe(r);
        return goaway;
      }
      goaway = true;
    }
  }

  // ExpectLog waits for a log line of gw-cloud holding `needle` and
  // returns it.
  std::string ExpectLog(std::string_view needle) {
    EXPECT_TRUE(cloud_->WaitForLog(needle, kWait));
    return LogLine(cloud_->Log(), needle);
  }

  // SinkReceived waits until the sink has received, up to a clean EOF, a
  // stream with this digest.
  bool SinkReceived(const std::string& sha256, Deadline deadline) {
    for (size_t n = 1;; ++n) {
      if (!received_.WaitFor(n, deadline)) return false;
      const ReceiveResult got = received_.Values()[n - 1];
      if (got.sha256 == sha256 && got.end == StreamEnd::kEof) return true;
    }
  }

  // ExpectPairStillCarries: gw-cloud is up and a flow through the real
  // gw-onprem -> gw-cloud pair arrives whole and ends cleanly.
  void ExpectPairStillCarries() {
    EXPECT_TRUE(cloud_->Running()) << cloud_->UnexpectedExit();
    constexpr uint64_t kSeed = 0x600d, kSize = 2 * kMiB;
    OneWayResult r = SendAndClose(service_port(), kSeed, kSize, Millis(30'000));
    EXPECT_EQ(r.sent.bytes, kSize) << DescribeOneWay(r);
    EXPECT_EQ(r.reply.end, StreamEnd::kEof) << DescribeOneWay(r);
    EXPECT_TRUE(SinkReceived(PatternDigest(kSeed, kSize), After(kWait))) << "the sink never got the stream whole";
  }

  std::string Id(uint64_t tunnel_id) const { return std::to_string(tunnel_id); }

  Collector<ReceiveResult> received_;
  std::atomic<uint64_t> sink_progress_{0};
  std::unique_ptr<TcpServer> sink_;  // every connection drained into received_
};

// SendPatternData sends `size` bytes of seed's pattern as full DATA frames
// of `flow_id` from sequence 0. Returns the number of frames.
uint64_t SendPatternData(FakePeer& peer, uint32_t flow_id, uint64_t seed, uint64_t size) {
  PatternStream pattern(seed);
  std::string chunk;
  uint64_t seq = 0;
  for (uint64_t sent = 0; sent < size; sent += chunk.size(), ++seq) {
    chunk.resize(std::min<uint64_t>(wire::kMaxPayload, size - sent));
    pattern.Fill(chunk.data(), chunk.size());
    if (!peer.SendFrame(wire::Data{flow_id, seq, chunk})) ADD_FAILURE() << "DATA " << seq << " not sent";
  }
  return seq;
}

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
