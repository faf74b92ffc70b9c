#include "proxy/tunnel/lane_ledger.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "braid/wire.h"
#include "gtest/gtest.h"
#include "proxy/lane_ledger_state.h"
#include "proxy/wire/frame_codec.h"
#include "proxy/wire_test_util.h"

namespace braid::proxy {
namespace {

using AckStatus = LaneLedger::AckStatus;
using State = testing::LedgerState;
using testing::SampleFrames;
using wire::FrameType;

std::string MustEncode(const wire::Frame& frame) {
  std::string out;
  EXPECT_TRUE(EncodeFrame(frame, &out));
  return out;
}

// DATA frame `seq` of flow 1, `size` payload bytes that depend on seq, so
// that no two frames of a test are alike.
std::string DataFrame(uint64_t seq, size_t size = 10) {
  std::string payload(size, '\0');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (seq * 7 + i) % 26);
  return MustEncode(wire::Data{.flow_id = 1, .seq = seq, .payload = payload});
}

std::string PingFrame(uint64_t opaque) { return MustEncode(wire::Ping{.opaque = opaque}); }

TEST(LaneLedgerTest, KeepsOnlyCountedFrames) {
  // One frame of every type: the flow frames (OPEN to CREDIT) and
  // LANE_LOST are counted and kept, the tunnel's own others (LANE_HELLO,
  // PING, PONG, GOAWAY, ACK, ROTATE) dropped.
  const std::vector<FrameType> counted = {FrameType::kOpen,   FrameType::kOpenOk, FrameType::kOpenRefused,
                                          FrameType::kData,   FrameType::kFin,    FrameType::kRst,
                                          FrameType::kCredit, FrameType::kLaneLost};
  std::vector<bool> seen(wire::kMaxFrameType + 1, false);
  for (const wire::Frame& frame : SampleFrames()) {
    const FrameType type = wire::TypeOf(frame);
    seen[static_cast<size_t>(type)] = true;
    const bool want_counted = std::find(counted.begin(), counted.end(), type) != counted.end();
    const std::string bytes = MustEncode(frame);
    EXPECT_EQ(IsCountedFrame(bytes), want_counted) << wire::FrameTypeName(type);

    LaneLedger ledger;
    ledger.OnWritten(bytes);
    EXPECT_EQ(ledger.written(), want_counted ? 1u : 0u) << wire::FrameTypeName(type);
    EXPECT_EQ(ledger.kept_frames(), want_counted ? 1u : 0u) << wire::FrameTypeName(type);
    EXPECT_EQ(ledger.kept_bytes(), want_counted ? bytes.size() : 0u) << wire::FrameTypeName(type);
  }
  for (uint8_t t = wire::kMinFrameType; t <= wire::kMaxFrameType; ++t) EXPECT_TRUE(seen[t]) << int{t};
}

TEST(LaneLedgerTest, EmptyAndUnknownFramesAreNotCounted) {
  EXPECT_FALSE(IsCountedFrame(""));
  EXPECT_FALSE(IsCountedFrame(testing::RawFrame(0x00, 0, 1, 0, "x")));
  EXPECT_FALSE(IsCountedFrame(testing::RawFrame(0xff, 0, 1, 0, "x")));
  LaneLedger ledger;
  ledger.OnWritten("");
  EXPECT_EQ(ledger.written(), 0u);
  EXPECT_EQ(ledger.kept_frames(), 0u);
}

TEST(LaneLedgerTest, UncountedFramesBetweenCountedOnesDoNotShiftTheCount) {
  LaneLedger ledger;
  std::vector<std::string> data;
  for (uint64_t seq = 0; seq < 4; ++seq) {
    data.push_back(DataFrame(seq));
    ledger.OnWritten(data.back());
    ledger.OnWritten(PingFrame(seq));
    ledger.OnWritten(MustEncode(wire::Ack{.received = seq}));
  }
  EXPECT_EQ(ledger.written(), 4u);
  // The peer counted two: the frames from the third DATA on are the rest.
  std::vector<std::string> out;
  ASSERT_EQ(ledger.TakeUnacked(2, &out), AckStatus::kOk);
  EXPECT_EQ(out, (std::vector<std::string>{data[2], data[3]}));
}

TEST(LaneLedgerTest, AckReleasesFramesInOrder) {
  LaneLedger ledger;
  const std::vector<size_t> sizes = {1, 100, wire::kMaxPayload, 7};
  size_t total = 0;
  for (uint64_t seq = 0; seq < sizes.size(); ++seq) {
    const std::string frame = DataFrame(seq, sizes[seq]);
    total += frame.size();
    ledger.OnWritten(frame);
    EXPECT_EQ(ledger.kept_frames(), seq + 1);
    EXPECT_EQ(ledger.kept_bytes(), total);
  }
  EXPECT_EQ(ledger.written(), 4u);
  EXPECT_EQ(ledger.acked(), 0u);

  // Each ACK frees exactly the frames below its count, first written first.
  size_t left = total;
  for (uint64_t n = 1; n <= sizes.size(); ++n) {
    ASSERT_EQ(ledger.OnAck(n), AckStatus::kOk);
    left -= wire::kHeaderSize + sizes[n - 1];
    EXPECT_EQ(ledger.acked(), n);
    EXPECT_EQ(ledger.kept_frames(), sizes.size() - n);
    EXPECT_EQ(ledger.kept_bytes(), left);
  }
  EXPECT_EQ(ledger.kept_bytes(), 0u);
}

TEST(LaneLedgerTest, AckCanCoverSeveralFramesOrNone) {
  LaneLedger ledger;
  for (uint64_t seq = 0; seq < 5; ++seq) ledger.OnWritten(DataFrame(seq));
  EXPECT_EQ(ledger.OnAck(0), AckStatus::kOk);  // nothing yet
  EXPECT_EQ(ledger.kept_frames(), 5u);
  EXPECT_EQ(ledger.OnAck(3), AckStatus::kOk);
  EXPECT_EQ(ledger.kept_frames(), 2u);
  EXPECT_EQ(ledger.OnAck(3), AckStatus::kOk);  // the same count again: allowed, no change
  EXPECT_EQ(ledger.kept_frames(), 2u);
  EXPECT_EQ(ledger.kept_bytes(), 2 * DataFrame(0).size());
  EXPECT_EQ(ledger.OnAck(5), AckStatus::kOk);
  EXPECT_EQ(ledger.kept_frames(), 0u);
  EXPECT_EQ(ledger.kept_bytes(), 0u);
  // Frames written after an ACK are numbered on from the count.
  ledger.OnWritten(DataFrame(5));
  EXPECT_EQ(ledger.written(), 6u);
  EXPECT_EQ(ledger.kept_frames(), 1u);
  EXPECT_EQ(ledger.OnAck(6), AckStatus::kOk);
  EXPECT_EQ(ledger.kept_frames(), 0u);
}

TEST(LaneLedgerTest, BadAcksChangeNothing) {
  LaneLedger ledger;
  for (uint64_t seq = 0; seq < 6; ++seq) ledger.OnWritten(DataFrame(seq));
  ASSERT_EQ(ledger.OnAck(3), AckStatus::kOk);
  const State before(ledger);

  struct Case {
    uint64_t count;
    AckStatus want;
  };
  const Case cases[] = {
      {7, AckStatus::kBeyondSent},
      {UINT64_MAX, AckStatus::kBeyondSent},
      {2, AckStatus::kBackwards},
      {0, AckStatus::kBackwards},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ledger.OnAck(c.count), c.want) << c.count;
    EXPECT_EQ(State(ledger), before) << c.count;
  }
  // And the frames it keeps are still the right ones.
  std::vector<std::string> out;
  ASSERT_EQ(ledger.TakeUnacked(3, &out), AckStatus::kOk);
  EXPECT_EQ(out, (std::vector<std::string>{DataFrame(3), DataFrame(4), DataFrame(5)}));
}

TEST(LaneLedgerTest, AckOnAnEmptyLedger) {
  LaneLedger ledger;
  EXPECT_EQ(ledger.OnAck(0), AckStatus::kOk);
  EXPECT_EQ(ledger.OnAck(1), AckStatus::kBeyondSent);
  std::vector<std::string> out;
  EXPECT_EQ(ledger.TakeUnacked(0, &out), AckStatus::kOk);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ledger.TakeUnacked(1, &out), AckStatus::kBeyondSent);
  EXPECT_TRUE(out.empty());
}

TEST(LaneLedgerTest, TakeUnackedReturnsExactlyTheRestInWriteOrder) {
  // For every ACK the sender had and every count the peer reports, the
  // frames returned are those numbered [count, written), in order.
  constexpr uint64_t kFrames = 8;
  std::vector<std::string> frames;
  for (uint64_t seq = 0; seq < kFrames; ++seq) {
    frames.push_back(seq % 3 == 2 ? MustEncode(wire::Credit{.flow_id = 1, .byte_limit = seq, .seq_limit = seq})
                                  : DataFrame(seq, 1 + seq * 300));
  }
  for (uint64_t acked = 0; acked <= kFrames; ++acked) {
    for (uint64_t count = acked; count <= kFrames; ++count) {
      LaneLedger ledger;
      for (const std::string& f : frames) ledger.OnWritten(f);
      ASSERT_EQ(ledger.OnAck(acked), AckStatus::kOk);
      std::vector<std::string> out = {"before"};  // appended to, not replaced
      ASSERT_EQ(ledger.TakeUnacked(count, &out), AckStatus::kOk) << acked << " " << count;
      std::vector<std::string> want = {"before"};
      want.insert(want.end(), frames.begin() + static_cast<ptrdiff_t>(count), frames.end());
      EXPECT_EQ(out, want) << acked << " " << count;
      // The send side is empty: everything written is accounted for.
      EXPECT_EQ(ledger.kept_frames(), 0u);
      EXPECT_EQ(ledger.kept_bytes(), 0u);
      EXPECT_EQ(ledger.acked(), ledger.written());
      EXPECT_EQ(ledger.written(), kFrames);
    }
  }
}

TEST(LaneLedgerTest, TakeUnackedWithABadCountAppendsNothing) {
  LaneLedger ledger;
  for (uint64_t seq = 0; seq < 4; ++seq) ledger.OnWritten(DataFrame(seq));
  ASSERT_EQ(ledger.OnAck(2), AckStatus::kOk);
  const State before(ledger);

  std::vector<std::string> out = {"before"};
  EXPECT_EQ(ledger.TakeUnacked(5, &out), AckStatus::kBeyondSent);
  EXPECT_EQ(out, std::vector<std::string>{"before"});
  EXPECT_EQ(State(ledger), before);
  EXPECT_EQ(ledger.TakeUnacked(1, &out), AckStatus::kBackwards);
  EXPECT_EQ(out, std::vector<std::string>{"before"});
  EXPECT_EQ(State(ledger), before);

  // A good count afterwards still gets every frame kept.
  ASSERT_EQ(ledger.TakeUnacked(2, &out), AckStatus::kOk);
  EXPECT_EQ(out, (std::vector<std::string>{"before", DataFrame(2), DataFrame(3)}));
}

TEST(LaneLedgerTest, KeptFramesAreMovedNotCopied) {
  // A full DATA frame is on the heap; the ledger keeps and returns that
  // same buffer.
  std::string frame = DataFrame(0, wire::kMaxPayload);
  const char* const buffer = frame.data();
  LaneLedger ledger;
  ledger.OnWritten(std::move(frame));
  std::vector<std::string> out;
  ASSERT_EQ(ledger.TakeUnacked(0, &out), AckStatus::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data(), buffer);
  EXPECT_EQ(out[0], DataFrame(0, wire::kMaxPayload));
}

TEST(LaneLedgerTest, AckDueThresholds) {
  LaneLedger ledger;
  EXPECT_FALSE(ledger.AckDue(1));
  EXPECT_FALSE(ledger.AckDue());
  ledger.OnReceived();
  EXPECT_TRUE(ledger.AckDue(1));
  EXPECT_FALSE(ledger.AckDue());
  for (uint64_t i = 2; i < LaneLedger::kAckEveryFrames; ++i) ledger.OnReceived();
  EXPECT_FALSE(ledger.AckDue());  // kAckEveryFrames - 1 received
  ledger.OnReceived();
  EXPECT_TRUE(ledger.AckDue());
  EXPECT_TRUE(ledger.AckDue(LaneLedger::kAckEveryFrames));
  EXPECT_FALSE(ledger.AckDue(LaneLedger::kAckEveryFrames + 1));

  // The ACK is cumulative, and being sent restarts the threshold.
  EXPECT_EQ(ledger.TakeAck(), LaneLedger::kAckEveryFrames);
  EXPECT_FALSE(ledger.AckDue(1));
  EXPECT_FALSE(ledger.AckDue());
  ledger.OnReceived();
  EXPECT_TRUE(ledger.AckDue(1));
  EXPECT_EQ(ledger.TakeAck(), LaneLedger::kAckEveryFrames + 1);
  EXPECT_EQ(ledger.received(), LaneLedger::kAckEveryFrames + 1);
  // An ACK with nothing new is allowed (a keepalive tick with AckDue(1)
  // false sends none, but the count would still be right).
  EXPECT_EQ(ledger.TakeAck(), LaneLedger::kAckEveryFrames + 1);
}

TEST(LaneLedgerTest, SendAndReceiveSidesAreIndependent) {
  LaneLedger ledger;
  for (int i = 0; i < 3; ++i) ledger.OnReceived();
  EXPECT_EQ(ledger.written(), 0u);
  EXPECT_EQ(ledger.OnAck(1), AckStatus::kBeyondSent);  // received frames are not written ones
  ledger.OnWritten(DataFrame(0));
  EXPECT_EQ(ledger.received(), 3u);
  EXPECT_EQ(ledger.TakeAck(), 3u);
  std::vector<std::string> out;
  ASSERT_EQ(ledger.TakeUnacked(0, &out), AckStatus::kOk);
  EXPECT_EQ(out.size(), 1u);
  // Taking the send side leaves the receive side's count, which LANE_LOST
  // reports.
  EXPECT_EQ(ledger.received(), 3u);
}

TEST(LaneLedgerTest, AckStatusNames) {
  EXPECT_EQ(AckStatusName(AckStatus::kOk), "ok");
  EXPECT_NE(AckStatusName(AckStatus::kBeyondSent), AckStatusName(AckStatus::kBackwards));
  EXPECT_FALSE(AckStatusName(AckStatus::kBeyondSent).empty());
  EXPECT_FALSE(AckStatusName(AckStatus::kBackwards).empty());
}

}  // namespace
}  // namespace braid::proxy
