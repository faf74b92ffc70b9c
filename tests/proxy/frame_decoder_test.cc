#include "proxy/wire/frame_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/wire/frame_codec.h"
#include "proxy/wire_test_util.h"

namespace braid::proxy {
namespace {

using testing::RawFrame;
using testing::SampleFrames;
using Result = FrameDecoder::Result;

std::string EncodeAll(const std::vector<wire::Frame>& frames) {
  std::string out;
  for (const wire::Frame& f : frames) EXPECT_TRUE(EncodeFrame(f, &out));
  return out;
}

// Drains the decoder, re-encoding each frame at once (views die at the next
// feed) and appending it to *out.
Result Drain(FrameDecoder* decoder, std::string* out, int* count) {
  wire::Frame frame;
  Result r;
  while ((r = decoder->Next(&frame)) == Result::kFrame) {
    EXPECT_TRUE(EncodeFrame(frame, out));
    ++*count;
  }
  return r;
}

TEST(FrameDecoderTest, ManyFramesInOneChunk) {
  const std::vector<wire::Frame> frames = SampleFrames();
  const std::string stream = EncodeAll(frames);
  FrameDecoder decoder;
  decoder.Feed(stream);
  wire::Frame frame;
  for (const wire::Frame& want : frames) {
    ASSERT_EQ(decoder.Next(&frame), Result::kFrame);
    EXPECT_EQ(frame, want);  // views valid: no feed in between
  }
  EXPECT_EQ(decoder.Next(&frame), Result::kNeedMore);
  EXPECT_EQ(decoder.frames_decoded(), frames.size());
  EXPECT_EQ(decoder.stream_offset(), stream.size());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoderTest, ByteAtATime) {
  const std::vector<wire::Frame> frames = SampleFrames();
  const std::string stream = EncodeAll(frames);
  FrameDecoder decoder;
  std::string reencoded;
  int count = 0;
  for (char c : stream) {
    decoder.Feed(std::string_view(&c, 1));
    ASSERT_EQ(Drain(&decoder, &reencoded, &count), Result::kNeedMore);
  }
  EXPECT_EQ(count, static_cast<int>(frames.size()));
  EXPECT_EQ(reencoded, stream);
}

TEST(FrameDecoderTest, RandomChunksThroughPrepareWrite) {
  std::mt19937 rng(7);
  std::vector<wire::Frame> frames;
  std::vector<std::string> payloads;
  payloads.reserve(2000);
  for (int i = 0; i < 2000; ++i) {
    const size_t len = 1 + rng() % (i % 10 == 0 ? wire::kMaxPayload : 300);
    payloads.push_back(std::string(len, static_cast<char>('a' + i % 26)));
  }
  for (int i = 0; i < 2000; ++i) {
    frames.push_back(wire::Data{.flow_id = 1u + i % 5, .seq = static_cast<uint64_t>(i),
                                .payload = payloads[i]});
    if (i % 100 == 0) frames.push_back(wire::Ping{.opaque = static_cast<uint64_t>(i)});
  }
  const std::string stream = EncodeAll(frames);
  FrameDecoder decoder({.local_role = wire::Role::kAcceptor});
  std::string reencoded;
  int count = 0;
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t want = 1 + rng() % 40000;
    std::span<char> space = decoder.PrepareWrite(want);
    ASSERT_EQ(space.size(), want);
    const size_t n = std::min(want, stream.size() - pos);
    std::copy_n(stream.data() + pos, n, space.data());
    decoder.CommitWrite(n);
    pos += n;
    ASSERT_EQ(Drain(&decoder, &reencoded, &count), Result::kNeedMore);
    // The memory bound: at most one partial frame stays buffered.
    EXPECT_LT(decoder.buffered_bytes(), wire::kMaxFrameSize);
  }
  EXPECT_EQ(count, static_cast<int>(frames.size()));
  EXPECT_EQ(reencoded, stream);
}

TEST(FrameDecoderTest, CommitWriteIsClampedAndOptional) {
  FrameDecoder decoder;
  const std::string ping = EncodeAll({wire::Ping{.opaque = 5}});
  std::span<char> space = decoder.PrepareWrite(4);
  std::copy_n(ping.data(), 4, space.data());
  decoder.CommitWrite(100);  // more than prepared: only 4 count
  EXPECT_EQ(decoder.buffered_bytes(), 4u);
  decoder.PrepareWrite(64);  // never committed: appends nothing
  decoder.Feed(std::string_view(ping).substr(4));
  wire::Frame frame;
  ASSERT_EQ(decoder.Next(&frame), Result::kFrame);
  EXPECT_EQ(std::get<wire::Ping>(frame).opaque, 5u);
}

TEST(FrameDecoderTest, ErrorAfterGoodFramesIsStickyAndLocated) {
  const std::string good = EncodeAll({wire::Ping{.opaque = 1}, wire::Data{.flow_id = 3,
                                                                          .payload = "abc"}});
  FrameDecoder decoder;
  decoder.Feed(good + RawFrame(0x05, 0, 0, 0, "x") + good);
  wire::Frame frame;
  EXPECT_EQ(decoder.Next(&frame), Result::kFrame);
  EXPECT_EQ(decoder.Next(&frame), Result::kFrame);
  EXPECT_EQ(decoder.Next(&frame), Result::kError);
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.error(), DecodeError::kFlowIdZero);
  EXPECT_EQ(decoder.error_offset(), good.size());
  EXPECT_NE(decoder.error_detail().find("DATA"), std::string::npos) << decoder.error_detail();
  EXPECT_NE(decoder.error_detail().find(std::to_string(good.size())), std::string::npos);
  // Sticky: more bytes change nothing.
  decoder.Feed(good);
  EXPECT_EQ(decoder.Next(&frame), Result::kError);
  EXPECT_EQ(decoder.error(), DecodeError::kFlowIdZero);
}

TEST(FrameDecoderTest, BadHeaderFailsBeforeItsPayloadArrives) {
  struct Case {
    std::string header;
    DecodeError want;
  };
  const std::vector<Case> cases = {
      {RawFrame(0x05, 0, 1, 0, "", 16369), DecodeError::kPayloadTooLarge},
      {RawFrame(0x42, 0, 1, 0, "", 100), DecodeError::kUnknownType},
      {RawFrame(0x05, 4, 1, 0, "", 100), DecodeError::kReservedFlags},
      {RawFrame(0x08, 0, 1, 0, "", 100), DecodeError::kBadLength},
  };
  for (const Case& c : cases) {
    FrameDecoder decoder;
    decoder.Feed(c.header.substr(0, 15));
    wire::Frame frame;
    EXPECT_EQ(decoder.Next(&frame), Result::kNeedMore);
    decoder.Feed(c.header.substr(15));
    EXPECT_EQ(decoder.Next(&frame), Result::kError);
    EXPECT_EQ(decoder.error(), c.want) << DecodeErrorName(decoder.error());
    EXPECT_FALSE(decoder.error_detail().empty());
  }
}

TEST(FrameDecoderTest, BadPayloadFailsOnceComplete) {
  FrameDecoder decoder;
  // OPEN with a bad protocol byte: the header is fine, the payload is not.
  std::string payload(wire::kOpenFixedPayloadSize, '\0');
  payload[4] = 99;
  const std::string bytes = RawFrame(0x02, 0, 1, 0, payload);
  decoder.Feed(bytes.substr(0, 30));
  wire::Frame frame;
  EXPECT_EQ(decoder.Next(&frame), Result::kNeedMore);
  decoder.Feed(bytes.substr(30));
  EXPECT_EQ(decoder.Next(&frame), Result::kError);
  EXPECT_EQ(decoder.error(), DecodeError::kBadProtocol);
}

TEST(FrameDecoderTest, RoleChecksParity) {
  const std::string open = EncodeAll({wire::Open{.flow_id = 1, .target_port = 1}});
  FrameDecoder dialer({.local_role = wire::Role::kDialer});
  dialer.Feed(open);
  wire::Frame frame;
  EXPECT_EQ(dialer.Next(&frame), Result::kError);
  EXPECT_EQ(dialer.error(), DecodeError::kFlowIdParity);
  FrameDecoder acceptor({.local_role = wire::Role::kAcceptor});
  acceptor.Feed(open);
  EXPECT_EQ(acceptor.Next(&frame), Result::kFrame);
}

}  // namespace
}  // namespace braid::proxy
