// Half-close carried end to end through a real gateway pair, both ways:
//   - the source shuts down its write side first: the destination sees EOF
//     only after every byte, and can still send a reply that the source,
//     half-closed, receives in full;
//   - the destination shuts down first: the source reads everything and
//     EOF, and can still send its data, which arrives in full.
// Transfers are 3 MiB, past the unstriped start of a flow, so the FIN must
// wait for data still in flight on the other lane.
#include "gtest/gtest.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

constexpr uint64_t kSize = 3 << 20;
constexpr Millis kTimeout(30'000);

struct SinkSide {
  ReceiveResult received;
  SendResult sent;
};

class GatewayHalfCloseTest : public GatewayPairTest {};

TEST_F(GatewayHalfCloseTest, SourceShutsWriteFirstAndStillReceives) {
  constexpr uint64_t kRequest = 0xa1, kReply = 0xa2;
  Collector<SinkSide> sink_side;
  TcpServer sink([&](Socket& s) {
    SinkSide side;
    const Deadline deadline = After(kTimeout);
    const uint64_t seed = kRequest;
    side.received = ReceiveAll(s, deadline, &seed);
    // Only after the source's EOF: the reply travels on a half-closed flow.
    SendOptions reply;
    reply.seed = kReply;
    reply.size = kSize;
    side.sent = SendPattern(s, reply, deadline);
    sink_side.Add(side);
  });
  ASSERT_TRUE(StartPair(sink.port()));

  Socket s = Connect(service_port(), After(kTimeout));
  ASSERT_TRUE(s.valid());
  SendOptions request;
  request.seed = kRequest;
  request.size = kSize;
  request.shutdown_write = true;
  const SendResult sent = SendPattern(s, request, After(kTimeout));
  const uint64_t reply_seed = kReply;
  const ReceiveResult reply = ReceiveAll(s, After(kTimeout), &reply_seed);

  ASSERT_TRUE(sink_side.WaitFor(1, After(kTimeout)));
  const SinkSide dest = sink_side.Values()[0];
  EXPECT_EQ(sent.bytes, kSize);
  EXPECT_EQ(sent.error, 0);
  EXPECT_EQ(dest.received.end, StreamEnd::kEof) << StreamEndName(dest.received.end);
  EXPECT_EQ(dest.received.bytes, kSize);
  EXPECT_TRUE(dest.received.pattern_ok);
  EXPECT_EQ(dest.received.sha256, sent.sha256);
  EXPECT_EQ(dest.sent.bytes, kSize);
  EXPECT_EQ(dest.sent.error, 0);
  EXPECT_EQ(reply.end, StreamEnd::kEof) << StreamEndName(reply.end);
  EXPECT_EQ(reply.bytes, kSize);
  EXPECT_TRUE(reply.pattern_ok);
  EXPECT_EQ(reply.sha256, dest.sent.sha256);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
  ASSERT_TRUE(cloud_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(cloud_->Flows()[0].end, "completed");
}

TEST_F(GatewayHalfCloseTest, DestinationShutsWriteFirstAndSourceStillSends) {
  constexpr uint64_t kGreeting = 0xb1, kUpload = 0xb2;
  Collector<SinkSide> sink_side;
  TcpServer sink([&](Socket& s) {
    SinkSide side;
    const Deadline deadline = After(kTimeout);
    SendOptions greeting;
    greeting.seed = kGreeting;
    greeting.size = kSize;
    greeting.shutdown_write = true;
    side.sent = SendPattern(s, greeting, deadline);
    const uint64_t seed = kUpload;
    side.received = ReceiveAll(s, deadline, &seed);
    sink_side.Add(side);
  });
  ASSERT_TRUE(StartPair(sink.port()));

  Socket s = Connect(service_port(), After(kTimeout));
  ASSERT_TRUE(s.valid());
  const uint64_t greeting_seed = kGreeting;
  const ReceiveResult greeting = ReceiveAll(s, After(kTimeout), &greeting_seed);
  // Now half-closed from the far side; our direction must still work.
  SendOptions upload;
  upload.seed = kUpload;
  upload.size = kSize;
  upload.shutdown_write = true;
  const SendResult sent = SendPattern(s, upload, After(kTimeout));
  const ReceiveResult after = ReceiveAll(s, After(kTimeout));

  ASSERT_TRUE(sink_side.WaitFor(1, After(kTimeout)));
  const SinkSide dest = sink_side.Values()[0];
  EXPECT_EQ(dest.sent.bytes, kSize);
  EXPECT_EQ(dest.sent.error, 0);
  EXPECT_EQ(greeting.end, StreamEnd::kEof) << StreamEndName(greeting.end);
  EXPECT_EQ(greeting.bytes, kSize);
  EXPECT_TRUE(greeting.pattern_ok);
  EXPECT_EQ(greeting.sha256, dest.sent.sha256);
  EXPECT_EQ(sent.bytes, kSize);
  EXPECT_EQ(sent.error, 0) << strerror(sent.error);
  EXPECT_EQ(dest.received.end, StreamEnd::kEof) << StreamEndName(dest.received.end);
  EXPECT_EQ(dest.received.bytes, kSize);
  EXPECT_TRUE(dest.received.pattern_ok);
  EXPECT_EQ(dest.received.sha256, sent.sha256);
  // Nothing more came, and the end was clean.
  EXPECT_EQ(after.end, StreamEnd::kEof) << StreamEndName(after.end);
  EXPECT_EQ(after.bytes, 0u);
  ASSERT_TRUE(onprem_->WaitForFlows(1, Millis(10'000)));
  EXPECT_EQ(onprem_->Flows()[0].end, "completed");
}

}  // namespace
}  // namespace braid::integration
