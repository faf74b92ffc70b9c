// GatewayProtocolTest: a real gw-cloud faced with a scripted fake peer
// (support/fake_peer.h) that dials it as gw-onprem, with gw-onprem's real
// certificate, and breaks one rule of docs/protocol.md at a time; the
// fixture and helpers shared by gateway_protocol_test.cc (flows and
// framing) and gateway_lane_setup_test.cc (lanes: setup, versions and
// acknowledgements).
#ifndef BRAID_TESTS_INTEGRATION_GATEWAY_PROTOCOL_TEST_H_
#define BRAID_TESTS_INTEGRATION_GATEWAY_PROTOCOL_TEST_H_

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

using ::testing::HasSubstr;
using wire::GoawayReason;
using End = FakePeer::End;

inline constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
inline constexpr Millis kWait{10'000};
// What the fake peer grants the gateway in its OPENs.
inline constexpr uint64_t kOpenByteCredit = 4 * kMiB;
inline constexpr uint32_t kOpenSeqCredit = 4096;
inline const IpAddress kLoopback = IpAddress::V4(0x7f000001);

inline std::string Describe(const FakePeer::Read& r) {
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
inline wire::Open OpenTo(uint32_t flow_id, uint16_t port) {
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
inline std::string RawHeader(uint8_t type, uint8_t flags, uint16_t length, uint32_t flow_id, uint64_t value) {
  std::string out(wire::kHeaderSize, '\0');
  proxy::EncodeHeader({static_cast<wire::FrameType>(type), flags, length, flow_id, value},
                      std::span<char, wire::kHeaderSize>(out.data(), wire::kHeaderSize));
  return out;
}

// Encoded is a valid frame's bytes, for SendRaw.
inline std::string Encoded(const wire::Frame& frame) {
  std::string out;
  if (!proxy::EncodeFrame(frame, &out)) ADD_FAILURE() << "cannot encode " << wire::FrameTypeName(wire::TypeOf(frame));
  return out;
}

// BadNameOpen is an OPEN whose target name holds a '!': the header is fine,
// the payload is not.
inline std::string BadNameOpen() {
  wire::Open open = OpenTo(1, 9);
  open.target_name = "host";
  std::string out = Encoded(open);
  out.back() = '!';
  return out;
}

// LogLine is the first line of `log` that contains `needle`, or "".
inline std::string LogLine(const std::string& log, std::string_view needle) {
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
inline uint64_t SendPatternData(FakePeer& peer, uint32_t flow_id, uint64_t seed, uint64_t size) {
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

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_GATEWAY_PROTOCOL_TEST_H_
