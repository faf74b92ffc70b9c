#include "proxy/wire/frame_codec.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/wire/big_endian.h"
#include "proxy/wire_test_util.h"

namespace braid::proxy {
namespace {

using testing::Binder;
using testing::RawFrame;
using testing::SampleFrames;
using wire::FrameType;

constexpr uint8_t T(FrameType type) { return static_cast<uint8_t>(type); }

std::string MustEncode(const wire::Frame& frame) {
  std::string out;
  EXPECT_TRUE(EncodeFrame(frame, &out));
  return out;
}

TEST(FrameCodecTest, RoundTripsEveryFrameType) {
  std::vector<bool> seen(wire::kMaxFrameType + 1, false);
  for (const wire::Frame& frame : SampleFrames()) {
    SCOPED_TRACE(wire::FrameTypeName(wire::TypeOf(frame)));
    const std::string bytes = MustEncode(frame);
    ASSERT_GE(bytes.size(), wire::kHeaderSize);
    EXPECT_LE(bytes.size(), wire::kMaxFrameSize);
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), T(wire::TypeOf(frame)));
    EXPECT_EQ(be::Load16(bytes.data() + 2), bytes.size() - wire::kHeaderSize);
    wire::Frame decoded;
    ASSERT_EQ(ParseFrame(bytes, std::nullopt, &decoded), DecodeError::kNone);
    EXPECT_EQ(decoded, frame);
    // Canonical: re-encoding the decoded frame gives the same bytes.
    EXPECT_EQ(MustEncode(decoded), bytes);
    seen[T(wire::TypeOf(frame))] = true;
  }
  for (uint8_t t = wire::kMinFrameType; t <= wire::kMaxFrameType; ++t) {
    EXPECT_TRUE(seen[t]) << "no sample of type " << int{t};
  }
}

TEST(FrameCodecTest, LayoutOfDataFrame) {
  std::string out;
  ASSERT_TRUE(Encode(wire::Data{.flow_id = 0x01020304, .seq = 0x1112131415161718, .payload = "hi"},
                     &out));
  EXPECT_EQ(out, std::string("\x05\x00\x00\x02\x01\x02\x03\x04"
                             "\x11\x12\x13\x14\x15\x16\x17\x18hi",
                             18));
  char header[wire::kHeaderSize];
  ASSERT_TRUE(EncodeDataHeader(0x01020304, 0x1112131415161718, 2, header));
  EXPECT_EQ(std::string(header, wire::kHeaderSize), out.substr(0, wire::kHeaderSize));
}

TEST(FrameCodecTest, LayoutOfOpenWithName) {
  std::string out;
  ASSERT_TRUE(Encode(wire::Open{.flow_id = 1,
                                .src_address = IpAddress::V4(0xc0a80001),
                                .src_port = 0x1234,
                                .target_name = "db",
                                .target_port = 5432,
                                .initial_byte_credit = 9,
                                .initial_seq_credit = 8},
                     &out));
  ASSERT_EQ(out.size(), wire::kHeaderSize + wire::kOpenFixedPayloadSize + 2);
  const std::string_view p = std::string_view(out).substr(wire::kHeaderSize);
  EXPECT_EQ(be::Load64(out.data() + 8), 9u);
  EXPECT_EQ(be::Load32(p.data()), 8u);
  EXPECT_EQ(p[4], 6);  // TCP
  EXPECT_EQ(p[5], 4);  // IPv4 source
  EXPECT_EQ(be::Load16(p.data() + 6), 0x1234);
  EXPECT_EQ(be::Load32(p.data() + 8), 0xc0a80001u);
  EXPECT_EQ(p[24], 1);  // target is a name
  EXPECT_EQ(p[25], 2);  // of 2 bytes
  EXPECT_EQ(be::Load16(p.data() + 26), 5432);
  EXPECT_EQ(p.substr(28, 16), std::string(16, '\0'));
  EXPECT_EQ(p.substr(44), "db");
}

TEST(FrameCodecTest, EncoderRefusesWhatTheDecoderWould) {
  const std::string too_big(wire::kMaxPayload + 1, 'x');
  const std::vector<std::pair<const char*, wire::Frame>> cases = {
      {"empty data", wire::Data{.flow_id = 1, .payload = ""}},
      {"oversized data", wire::Data{.flow_id = 1, .payload = too_big}},
      {"data flow 0", wire::Data{.flow_id = 0, .payload = "x"}},
      {"fin flow 0", wire::Fin{}},
      {"credit flow 0", wire::Credit{}},
      {"rst flow 0", wire::Rst{.flow_id = 0, .reason = wire::ResetReason::kInternal}},
      {"rst reason 0", wire::Rst{.flow_id = 1, .reason = wire::ResetReason{0}}},
      {"rst reason high", wire::Rst{.flow_id = 1, .reason = wire::ResetReason{99}}},
      {"open ok flow 0", wire::OpenOk{}},
      {"refused flow 0", wire::OpenRefused{}},
      {"refused reason", wire::OpenRefused{.flow_id = 1, .reason = wire::RefuseReason{0}}},
      {"rule id without policy", wire::OpenRefused{.flow_id = 1,
                                                   .reason = wire::RefuseReason::kTimeout,
                                                   .rule_id = "r1"}},
      {"goaway reason", wire::Goaway{.reason = wire::GoawayReason{200}}},
      {"open flow 0", wire::Open{.target_port = 1}},
      {"open port 0", wire::Open{.flow_id = 1}},
      {"open bad name", wire::Open{.flow_id = 1, .target_name = "a b", .target_port = 1}},
      {"open protocol", wire::Open{.flow_id = 1, .protocol = Protocol{1}, .target_port = 1}},
      {"hello tunnel 0", wire::LaneHello{.tunnel_id = 0}},
      {"hello version 0", wire::LaneHello{.tunnel_id = 1, .version = 0}},
      {"hello count 0", wire::LaneHello{.tunnel_id = 1, .lane_count = 0}},
      {"hello count 257", wire::LaneHello{.tunnel_id = 1, .lane_count = 257}},
      {"hello index", wire::LaneHello{.tunnel_id = 1, .lane_index = 2, .lane_count = 2}},
  };
  for (const auto& [name, frame] : cases) {
    std::string out = "keep";
    EXPECT_FALSE(EncodeFrame(frame, &out)) << name;
    EXPECT_EQ(out, "keep") << name;
  }
  char header[wire::kHeaderSize];
  EXPECT_FALSE(EncodeDataHeader(0, 0, 1, header));
  EXPECT_FALSE(EncodeDataHeader(1, 0, 0, header));
  EXPECT_FALSE(EncodeDataHeader(1, 0, wire::kMaxPayload + 1, header));
}

TEST(FrameCodecTest, EncoderTruncatesTextAndRuleId) {
  const std::string long_text(5000, 't');
  const std::string long_rule(300, 'r');
  std::string out;
  ASSERT_TRUE(Encode(wire::OpenRefused{.flow_id = 1,
                                       .reason = wire::RefuseReason::kPolicyDenied,
                                       .rule_id = long_rule,
                                       .text = long_text},
                     &out));
  wire::Frame decoded;
  ASSERT_EQ(ParseFrame(out, std::nullopt, &decoded), DecodeError::kNone);
  const auto& refused = std::get<wire::OpenRefused>(decoded);
  EXPECT_EQ(refused.rule_id, long_rule.substr(0, wire::kMaxRuleIdLength));
  EXPECT_EQ(refused.text, long_text.substr(0, wire::kMaxTextLength));

  for (const wire::Frame& frame :
       {wire::Frame{wire::Rst{.flow_id = 1, .reason = wire::ResetReason::kInternal,
                              .text = long_text}},
        wire::Frame{wire::Goaway{.text = long_text}}}) {
    out.clear();
    ASSERT_TRUE(EncodeFrame(frame, &out));
    EXPECT_EQ(out.size(), wire::kHeaderSize + wire::kMaxTextLength);
    ASSERT_EQ(ParseFrame(out, std::nullopt, &decoded), DecodeError::kNone);
  }
}

// An OPEN payload with every field settable, for the error table.
std::string OpenPayload(uint8_t proto = 6, uint8_t src_family = 4, uint8_t target_kind = 4,
                        std::string_view name = "", uint16_t port = 80) {
  std::string p(wire::kOpenFixedPayloadSize, '\0');
  be::Store32(p.data(), 16);
  p[4] = static_cast<char>(proto);
  p[5] = static_cast<char>(src_family);
  be::Store16(p.data() + 6, 1234);
  be::Store32(p.data() + 8, 0x0a000001);
  p[24] = static_cast<char>(target_kind);
  p[25] = static_cast<char>(name.size());
  be::Store16(p.data() + 26, port);
  if (target_kind != 1) be::Store32(p.data() + 28, 0x0a000002);
  p.append(name);
  return p;
}

struct ErrorCase {
  const char* name;
  std::string bytes;
  DecodeError want;
  std::optional<wire::Role> role = std::nullopt;
};

TEST(FrameCodecTest, EveryDecodeError) {
  using E = DecodeError;
  const std::string hello_ok = std::string("\x00\x01\x00\x00\x00\x02\x00\x00", 8) + Binder(1);
  auto hello = [&](uint16_t version, uint16_t index, uint16_t count, uint16_t reserved) {
    std::string p = hello_ok;
    be::Store16(p.data(), version);
    be::Store16(p.data() + 2, index);
    be::Store16(p.data() + 4, count);
    be::Store16(p.data() + 6, reserved);
    return p;
  };
  std::string v4_padding = OpenPayload();
  v4_padding[20] = 1;  // inside the 12 zero bytes after an IPv4 source
  std::string name_with_address = OpenPayload(6, 4, 1, "db");
  name_with_address[30] = 1;
  std::string ip_with_name_len = OpenPayload();
  ip_with_name_len[25] = 1;
  ip_with_name_len.push_back('x');
  std::string short_name = OpenPayload(6, 4, 1, "db");
  short_name.pop_back();  // name_len says 2, 1 byte present

  const std::vector<ErrorCase> cases = {
      {"type 0", RawFrame(0x00, 0, 0, 0, ""), E::kUnknownType},
      {"type 0x0f", RawFrame(0x0f, 0, 0, 0, ""), E::kUnknownType},
      {"type 0xff", RawFrame(0xff, 0, 1, 0, "x"), E::kUnknownType},
      {"flags on data", RawFrame(T(FrameType::kData), 0x01, 1, 0, "x"), E::kReservedFlags},
      {"flags on ping", RawFrame(T(FrameType::kPing), 0x80, 0, 0, ""), E::kReservedFlags},
      {"payload over limit", RawFrame(T(FrameType::kData), 0, 1, 0, "", 16369),
       E::kPayloadTooLarge},
      {"payload 0xffff", RawFrame(T(FrameType::kData), 0, 1, 0, "", 0xffff), E::kPayloadTooLarge},
      {"fin with payload", RawFrame(T(FrameType::kFin), 0, 1, 0, "x"), E::kBadLength},
      {"ping with payload", RawFrame(T(FrameType::kPing), 0, 0, 0, "12345678"), E::kBadLength},
      {"pong with payload", RawFrame(T(FrameType::kPong), 0, 0, 0, "1"), E::kBadLength},
      {"credit short", RawFrame(T(FrameType::kCredit), 0, 1, 0, "1234567"), E::kBadLength},
      {"credit long", RawFrame(T(FrameType::kCredit), 0, 1, 0, "123456789"), E::kBadLength},
      {"hello short", RawFrame(T(FrameType::kLaneHello), 0, 0, 1, hello_ok.substr(1)),
       E::kBadLength},
      {"open ok long", RawFrame(T(FrameType::kOpenOk), 0, 1, 0, "12345"), E::kBadLength},
      {"open short", RawFrame(T(FrameType::kOpen), 0, 1, 0, std::string(43, '\0')),
       E::kBadLength},
      {"open name longer than payload", RawFrame(T(FrameType::kOpen), 0, 1, 0, short_name),
       E::kBadLength},
      {"open over max name", RawFrame(T(FrameType::kOpen), 0, 1, 0, std::string(44 + 254, 'a')),
       E::kBadLength},
      {"refused empty", RawFrame(T(FrameType::kOpenRefused), 0, 1, 2, ""), E::kBadLength},
      {"refused rule id past end", RawFrame(T(FrameType::kOpenRefused), 0, 1, 1, "\x05" "ab"),
       E::kBadLength},
      {"rst text over limit", RawFrame(T(FrameType::kRst), 0, 1, 1, std::string(1025, 't')),
       E::kBadLength},
      {"data flow 0", RawFrame(T(FrameType::kData), 0, 0, 0, "x"), E::kFlowIdZero},
      {"open flow 0", RawFrame(T(FrameType::kOpen), 0, 0, 0, OpenPayload()), E::kFlowIdZero},
      {"fin flow 0", RawFrame(T(FrameType::kFin), 0, 0, 0, ""), E::kFlowIdZero},
      {"rst flow 0", RawFrame(T(FrameType::kRst), 0, 0, 1, ""), E::kFlowIdZero},
      {"credit flow 0", RawFrame(T(FrameType::kCredit), 0, 0, 0, "12345678"), E::kFlowIdZero},
      {"open ok flow 0", RawFrame(T(FrameType::kOpenOk), 0, 0, 0, "1234"), E::kFlowIdZero},
      {"ping flow", RawFrame(T(FrameType::kPing), 0, 7, 0, ""), E::kFlowIdNotZero},
      {"hello flow", RawFrame(T(FrameType::kLaneHello), 0, 7, 1, hello_ok), E::kFlowIdNotZero},
      {"open from own side", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload()),
       E::kFlowIdParity, wire::Role::kDialer},
      {"open ok for peer's flow", RawFrame(T(FrameType::kOpenOk), 0, 2, 0, "1234"),
       E::kFlowIdParity, wire::Role::kDialer},
      {"refused for peer's flow", RawFrame(T(FrameType::kOpenRefused), 0, 1, 2, std::string(1, '\0')),
       E::kFlowIdParity, wire::Role::kAcceptor},
      {"goaway names peer's flow", RawFrame(T(FrameType::kGoaway), 0, 3, 0, ""),
       E::kFlowIdParity, wire::Role::kAcceptor},
      {"empty data", RawFrame(T(FrameType::kData), 0, 1, 0, ""), E::kEmptyData},
      {"rst reason 0", RawFrame(T(FrameType::kRst), 0, 1, 0, ""), E::kBadReason},
      {"rst reason 7", RawFrame(T(FrameType::kRst), 0, 1, 7, ""), E::kBadReason},
      {"refused reason 0", RawFrame(T(FrameType::kOpenRefused), 0, 1, 0, std::string(1, '\0')),
       E::kBadReason},
      {"refused reason 10", RawFrame(T(FrameType::kOpenRefused), 0, 1, 10, std::string(1, '\0')),
       E::kBadReason},
      {"goaway reason 8", RawFrame(T(FrameType::kGoaway), 0, 0, 8, ""), E::kBadReason},
      {"goaway huge reason", RawFrame(T(FrameType::kGoaway), 0, 0, 1ULL << 40, ""),
       E::kBadReason},
      {"hello tunnel 0", RawFrame(T(FrameType::kLaneHello), 0, 0, 0, hello_ok), E::kBadLaneHello},
      {"hello version 0", RawFrame(T(FrameType::kLaneHello), 0, 0, 1, hello(0, 0, 2, 0)),
       E::kBadLaneHello},
      {"hello count 0", RawFrame(T(FrameType::kLaneHello), 0, 0, 1, hello(1, 0, 0, 0)),
       E::kBadLaneHello},
      {"hello count 257", RawFrame(T(FrameType::kLaneHello), 0, 0, 1, hello(1, 0, 257, 0)),
       E::kBadLaneHello},
      {"hello index", RawFrame(T(FrameType::kLaneHello), 0, 0, 1, hello(1, 2, 2, 0)),
       E::kBadLaneHello},
      {"ack with flow id", RawFrame(T(FrameType::kAck), 0, 1, 5, ""), E::kFlowIdNotZero},
      {"ack with payload", RawFrame(T(FrameType::kAck), 0, 0, 5, "x"), E::kBadLength},
      {"lane lost short", RawFrame(T(FrameType::kLaneLost), 0, 0, 5, std::string(7, '\0')), E::kBadLength},
      {"lane lost reserved", RawFrame(T(FrameType::kLaneLost), 0, 0, 5, std::string("\0\1\0\0\0\0\0\1", 8)),
       E::kReservedNotZero},
      {"lane lost index 256", RawFrame(T(FrameType::kLaneLost), 0, 0, 5, std::string("\1\0\0\0\0\0\0\0", 8)),
       E::kBadLaneHello},
      {"rotate short", RawFrame(T(FrameType::kRotate), 0, 0, 0, std::string(4, '\0')), E::kBadLength},
      {"rotate with value", RawFrame(T(FrameType::kRotate), 0, 0, 1, std::string(8, '\0')), E::kReservedNotZero},
      {"rotate reserved", RawFrame(T(FrameType::kRotate), 0, 0, 0, std::string("\0\1\0\0\0\0\1\0", 8)),
       E::kReservedNotZero},
      {"rotate index 256", RawFrame(T(FrameType::kRotate), 0, 0, 0, std::string("\1\0\0\0\0\0\0\0", 8)),
       E::kBadLaneHello},
      {"rotate with flow id", RawFrame(T(FrameType::kRotate), 0, 2, 0, std::string(8, '\0')), E::kFlowIdNotZero},
      {"open v4 padding", RawFrame(T(FrameType::kOpen), 0, 1, 0, v4_padding),
       E::kReservedNotZero},
      {"open name with address", RawFrame(T(FrameType::kOpen), 0, 1, 0, name_with_address),
       E::kReservedNotZero},
      {"open ip with name", RawFrame(T(FrameType::kOpen), 0, 1, 0, ip_with_name_len),
       E::kReservedNotZero},
      {"open protocol 1", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(1)),
       E::kBadProtocol},
      {"open src family 5", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 5)),
       E::kBadAddress},
      {"open target kind 2", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 4, 2)),
       E::kBadAddress},
      {"open port 0", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 6, 6, "", 0)),
       E::kBadPort},
      {"open empty name", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 4, 1, "")),
       E::kBadName},
      {"open name with space", RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 4, 1, "a b")),
       E::kBadName},
      {"open name with newline",
       RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload(6, 4, 1, "db\nx")), E::kBadName},
      {"rule id with timeout", RawFrame(T(FrameType::kOpenRefused), 0, 1, 3, "\x01r"),
       E::kBadRuleId},
      {"refused text over limit",
       RawFrame(T(FrameType::kOpenRefused), 0, 1, 1, std::string(1, '\0') + std::string(1025, 't')),
       E::kTextTooLong},
  };
  for (const ErrorCase& c : cases) {
    wire::Frame frame;
    EXPECT_EQ(ParseFrame(c.bytes, c.role, &frame), c.want)
        << c.name << ": got " << DecodeErrorName(ParseFrame(c.bytes, c.role, &frame));
  }
}

TEST(FrameCodecTest, ParityAcceptsTheRightSide) {
  wire::Frame frame;
  EXPECT_EQ(ParseFrame(RawFrame(T(FrameType::kOpen), 0, 1, 0, OpenPayload()), wire::Role::kAcceptor,
                       &frame),
            DecodeError::kNone);
  EXPECT_EQ(ParseFrame(RawFrame(T(FrameType::kOpen), 0, 2, 0, OpenPayload()), wire::Role::kDialer,
                       &frame),
            DecodeError::kNone);
  EXPECT_EQ(ParseFrame(RawFrame(T(FrameType::kOpenOk), 0, 1, 0, "1234"), wire::Role::kDialer,
                       &frame),
            DecodeError::kNone);
  // DATA, FIN, RST and CREDIT flow both ways.
  for (uint32_t id : {1u, 2u}) {
    EXPECT_EQ(ParseFrame(RawFrame(T(FrameType::kData), 0, id, 0, "x"), wire::Role::kDialer,
                         &frame),
              DecodeError::kNone);
  }
  EXPECT_EQ(ParseFrame(RawFrame(T(FrameType::kGoaway), 0, 3, 0, ""), wire::Role::kDialer, &frame),
            DecodeError::kNone);
  EXPECT_TRUE(wire::IsAllocatedBy(1, wire::Role::kDialer));
  EXPECT_TRUE(wire::IsAllocatedBy(2, wire::Role::kAcceptor));
  EXPECT_FALSE(wire::IsAllocatedBy(0, wire::Role::kAcceptor));
}

TEST(FrameCodecTest, ParseFrameNeedsExactlyOneFrame) {
  const std::string bytes = MustEncode(wire::Data{.flow_id = 1, .payload = "abc"});
  wire::Frame frame;
  EXPECT_EQ(ParseFrame(bytes.substr(0, 10), std::nullopt, &frame), DecodeError::kBadLength);
  EXPECT_EQ(ParseFrame(bytes.substr(0, bytes.size() - 1), std::nullopt, &frame),
            DecodeError::kBadLength);
  EXPECT_EQ(ParseFrame(bytes + "x", std::nullopt, &frame), DecodeError::kBadLength);
}

TEST(FrameCodecTest, NamesAreDistinct) {
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(DecodeError::kTextTooLong); ++e) {
    EXPECT_TRUE(names.insert(DecodeErrorName(DecodeError(e))).second) << e;
  }
  EXPECT_EQ(wire::FrameTypeName(FrameType::kGoaway), "GOAWAY");
  EXPECT_TRUE(IsValidTargetName("a-b_c.d9"));
  EXPECT_FALSE(IsValidTargetName(std::string(254, 'a')));
  EXPECT_FALSE(IsValidTargetName("a/b"));
}

}  // namespace
}  // namespace braid::proxy
