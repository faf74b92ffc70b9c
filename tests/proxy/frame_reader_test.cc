#include "proxy/wire/frame_reader.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/wire/frame_codec.h"
#include "proxy/wire_test_util.h"

namespace braid::proxy {
namespace {

using testing::RawFrame;
using testing::SampleFrames;
using Result = FrameReader::Result;

std::string EncodeAll(const std::vector<wire::Frame>& frames) {
  std::string out;
  for (const wire::Frame& f : frames) EXPECT_TRUE(EncodeFrame(f, &out));
  return out;
}

// One frame as the reader handed it out, and where it began in the stream.
struct Taken {
  wire::FrameHeader header;
  std::string payload;
  uint64_t offset = 0;
};

// Pump runs `stream` through `reader` as Lane::ReadLoop does: the stream
// arrives in TLS records of the sizes `record_size` gives, and each read
// (SSL_read into WriteSpace) returns what is left of the record, at most
// the space offered. Completed frames are taken at once and appended to
// *out. Returns kError as soon as the reader fails, else kNeedMore.
Result Pump(FrameReader& reader, std::string_view stream, const std::function<size_t()>& record_size,
            std::vector<Taken>* out) {
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t record = std::min(std::max<size_t>(record_size(), 1), stream.size() - pos);
    while (record > 0) {
      const std::span<char> space = reader.WriteSpace();
      EXPECT_FALSE(space.empty());
      const size_t n = std::min(space.size(), record);
      std::memcpy(space.data(), stream.data() + pos, n);
      pos += n;
      record -= n;
      const Result r = reader.Commit(n);
      if (r == Result::kError) return r;
      if (r == Result::kFrame) {
        Taken t;
        reader.TakeFrame(&t.header, &t.payload);
        t.offset = reader.stream_offset() - wire::kHeaderSize - t.payload.size();
        out->push_back(std::move(t));
      }
      EXPECT_LT(pos - reader.stream_offset(), wire::kMaxFrameSize);  // one partial frame at most
    }
  }
  return Result::kNeedMore;
}

std::function<size_t()> Fixed(size_t n) {
  return [n] { return n; };
}

// ExpectWholeFrameParsing checks every frame taken against parsing its
// bytes of the stream as one whole frame (ParseFrame), and that the frames
// re-encode to the whole stream.
void ExpectWholeFrameParsing(std::string_view stream, const std::vector<Taken>& taken,
                             std::optional<wire::Role> role) {
  std::string reencoded;
  uint64_t offset = 0;
  for (const Taken& t : taken) {
    ASSERT_EQ(t.offset, offset);
    const std::string_view bytes = stream.substr(offset, wire::kHeaderSize + t.payload.size());
    offset += bytes.size();
    wire::Frame want, got;
    ASSERT_EQ(ParseFrame(bytes, role, &want), DecodeError::kNone) << "at offset " << t.offset;
    ASSERT_EQ(ParsePayload(t.header, t.payload, &got), DecodeError::kNone) << "at offset " << t.offset;
    EXPECT_EQ(got, want) << "at offset " << t.offset;
    EXPECT_TRUE(EncodeFrame(got, &reencoded));
  }
  EXPECT_EQ(offset, stream.size());
  EXPECT_TRUE(reencoded == stream);  // not EXPECT_EQ: a mismatch would print megabytes
}

TEST(FrameReaderTest, ManyFramesInOneRecord) {
  const std::vector<wire::Frame> frames = SampleFrames();
  const std::string stream = EncodeAll(frames);
  FrameReader reader;
  std::vector<Taken> taken;
  ASSERT_EQ(Pump(reader, stream, Fixed(stream.size()), &taken), Result::kNeedMore);
  ASSERT_EQ(taken.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    wire::Frame frame;
    ASSERT_EQ(ParsePayload(taken[i].header, taken[i].payload, &frame), DecodeError::kNone);
    EXPECT_EQ(frame, frames[i]) << "frame " << i;
  }
  EXPECT_EQ(reader.frames_read(), frames.size());
  EXPECT_EQ(reader.stream_offset(), stream.size());
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.WriteSpace().size(), wire::kHeaderSize);  // ready for the next header
}

TEST(FrameReaderTest, ByteAtATime) {
  const std::string stream = EncodeAll(SampleFrames());
  FrameReader reader;
  std::vector<Taken> taken;
  ASSERT_EQ(Pump(reader, stream, Fixed(1), &taken), Result::kNeedMore);
  ExpectWholeFrameParsing(stream, taken, std::nullopt);
}

TEST(FrameReaderTest, KFrameOnlyOnTheLastByteOfEachFrame) {
  const std::string stream = EncodeAll({wire::Ping{.opaque = 1}, wire::Data{.flow_id = 3, .payload = "abc"},
                                        wire::Ack{.received = 9}});
  const std::vector<size_t> ends = {16, 16 + 19, 16 + 19 + 16};
  FrameReader reader;
  for (size_t i = 0; i < stream.size(); ++i) {
    const std::span<char> space = reader.WriteSpace();
    ASSERT_FALSE(space.empty());
    space[0] = stream[i];
    const bool last = std::find(ends.begin(), ends.end(), i + 1) != ends.end();
    ASSERT_EQ(reader.Commit(1), last ? Result::kFrame : Result::kNeedMore) << "byte " << i;
    if (last) {
      wire::FrameHeader header;
      std::string payload;
      reader.TakeFrame(&header, &payload);
      EXPECT_EQ(reader.stream_offset(), i + 1);
    }
  }
  EXPECT_EQ(reader.frames_read(), 3u);
}

TEST(FrameReaderTest, FramesSplitAnywhere) {
  // Every frame of the samples but the largest, so that every cut is tried
  // in reasonable time; the two records meet at every offset.
  std::vector<wire::Frame> frames;
  for (const wire::Frame& f : SampleFrames()) {
    std::string one;
    ASSERT_TRUE(EncodeFrame(f, &one));
    if (one.size() < 1024) frames.push_back(f);
  }
  const std::string stream = EncodeAll(frames);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    FrameReader reader;
    std::vector<Taken> taken;
    bool first = true;
    auto record = [&] {
      const size_t n = first ? cut : stream.size();
      first = false;
      return n;
    };
    ASSERT_EQ(Pump(reader, stream, record, &taken), Result::kNeedMore) << "cut " << cut;
    ASSERT_EQ(taken.size(), frames.size()) << "cut " << cut;
    ExpectWholeFrameParsing(stream, taken, std::nullopt);
    if (HasFailure()) FAIL() << "cut " << cut;
  }
}

// A long stream with every kind of frame a lane carries, cut into records of
// random sizes (from 1 byte to more than a whole frame), must give exactly
// what parsing each frame whole gives.
TEST(FrameReaderTest, RandomRecordsMatchWholeFrameParsing) {
  for (uint32_t seed : {7u, 8u, 9u}) {
    std::mt19937 rng(seed);
    std::vector<std::string> payloads;
    payloads.reserve(2000);
    for (int i = 0; i < 2000; ++i) {
      const size_t len = 1 + rng() % (i % 10 == 0 ? wire::kMaxPayload : 300);
      payloads.push_back(std::string(len, static_cast<char>('a' + i % 26)));
    }
    std::vector<wire::Frame> frames;
    for (int i = 0; i < 2000; ++i) {
      const uint32_t flow = 1u + i % 5;
      frames.push_back(wire::Data{.flow_id = flow, .seq = static_cast<uint64_t>(i), .payload = payloads[i]});
      switch (rng() % 8) {
        case 0: frames.push_back(wire::Ping{.opaque = static_cast<uint64_t>(i)}); break;
        case 1: frames.push_back(wire::Ack{.received = static_cast<uint64_t>(i)}); break;
        case 2: frames.push_back(wire::Credit{.flow_id = flow, .byte_limit = 1u << 20, .seq_limit = 64}); break;
        case 3:
          frames.push_back(wire::LaneLost{.lane_index = static_cast<uint16_t>(i % 8),
                                          .generation = static_cast<uint16_t>(i),
                                          .received = static_cast<uint64_t>(i)});
          break;
        case 4: frames.push_back(wire::Fin{.flow_id = flow, .final_seq = static_cast<uint64_t>(i)}); break;
        default: break;
      }
    }
    const std::string stream = EncodeAll(frames);
    FrameReader reader(wire::Role::kAcceptor);
    std::vector<Taken> taken;
    auto record = [&] { return rng() % 3 == 0 ? 1 + rng() % 40 : 1 + rng() % 40000; };
    ASSERT_EQ(Pump(reader, stream, record, &taken), Result::kNeedMore);
    ASSERT_EQ(taken.size(), frames.size());
    ExpectWholeFrameParsing(stream, taken, wire::Role::kAcceptor);
    EXPECT_EQ(reader.frames_read(), frames.size());
  }
}

TEST(FrameReaderTest, PayloadIsReadIntoTheStringReturned) {
  const std::string payload(1000, 'p');
  const std::string stream = EncodeAll({wire::Data{.flow_id = 1, .seq = 4, .payload = payload}});
  FrameReader reader;
  std::span<char> space = reader.WriteSpace();
  std::memcpy(space.data(), stream.data(), wire::kHeaderSize);
  ASSERT_EQ(reader.Commit(wire::kHeaderSize), Result::kNeedMore);
  // The payload goes where the header says, in two reads.
  space = reader.WriteSpace();
  ASSERT_EQ(space.size(), payload.size());
  const char* const first = space.data();
  std::memcpy(space.data(), stream.data() + wire::kHeaderSize, 300);
  ASSERT_EQ(reader.Commit(300), Result::kNeedMore);
  space = reader.WriteSpace();
  ASSERT_EQ(space.size(), payload.size() - 300);
  EXPECT_EQ(space.data(), first + 300);
  std::memcpy(space.data(), stream.data() + wire::kHeaderSize + 300, space.size());
  ASSERT_EQ(reader.Commit(space.size()), Result::kFrame);
  wire::FrameHeader header;
  std::string out;
  reader.TakeFrame(&header, &out);
  EXPECT_EQ(out.data(), first);  // no copy: the bytes stayed where they were read
  EXPECT_EQ(out, payload);
  EXPECT_EQ(header.type, wire::FrameType::kData);
  EXPECT_EQ(header.value, 4u);
  // The next frame's payload gets a string of its own.
  space = reader.WriteSpace();
  std::memcpy(space.data(), stream.data(), wire::kHeaderSize);
  ASSERT_EQ(reader.Commit(wire::kHeaderSize), Result::kNeedMore);
  EXPECT_NE(reader.WriteSpace().data(), out.data());
  EXPECT_EQ(out, payload);
}

TEST(FrameReaderTest, ZeroLengthFramesCompleteWithTheirHeader) {
  for (const wire::Frame& f : std::vector<wire::Frame>{wire::Ping{.opaque = 5}, wire::Pong{.opaque = 6},
                                                       wire::Fin{.flow_id = 2, .final_seq = 3},
                                                       wire::Ack{.received = 7}, wire::Rst{.flow_id = 4},
                                                       wire::Goaway{}}) {
    const std::string bytes = EncodeAll({f});
    ASSERT_EQ(bytes.size(), wire::kHeaderSize);
    FrameReader reader;
    std::span<char> space = reader.WriteSpace();
    std::memcpy(space.data(), bytes.data(), 15);
    ASSERT_EQ(reader.Commit(15), Result::kNeedMore);
    space = reader.WriteSpace();
    ASSERT_EQ(space.size(), 1u);
    space[0] = bytes[15];
    ASSERT_EQ(reader.Commit(1), Result::kFrame);
    // Until it is taken, nothing more is read.
    EXPECT_TRUE(reader.WriteSpace().empty());
    EXPECT_EQ(reader.Commit(0), Result::kFrame);
    EXPECT_EQ(reader.frames_read(), 1u);
    EXPECT_EQ(reader.stream_offset(), wire::kHeaderSize);
    wire::FrameHeader header;
    std::string payload = "left over";
    reader.TakeFrame(&header, &payload);
    EXPECT_TRUE(payload.empty());
    wire::Frame got;
    ASSERT_EQ(ParsePayload(header, payload, &got), DecodeError::kNone);
    EXPECT_EQ(got, f);
    EXPECT_EQ(reader.WriteSpace().size(), wire::kHeaderSize);
  }
}

TEST(FrameReaderTest, MaxSizeFrame) {
  const std::string payload(wire::kMaxPayload, 'm');
  const std::string stream = EncodeAll({wire::Data{.flow_id = 7, .seq = 1, .payload = payload}});
  ASSERT_EQ(stream.size(), wire::kMaxFrameSize);
  FrameReader reader;
  std::memcpy(reader.WriteSpace().data(), stream.data(), wire::kHeaderSize);
  ASSERT_EQ(reader.Commit(wire::kHeaderSize), Result::kNeedMore);
  const std::span<char> space = reader.WriteSpace();
  ASSERT_EQ(space.size(), wire::kMaxPayload);
  std::memcpy(space.data(), stream.data() + wire::kHeaderSize, space.size());
  ASSERT_EQ(reader.Commit(space.size()), Result::kFrame);
  wire::FrameHeader header;
  std::string out;
  reader.TakeFrame(&header, &out);
  EXPECT_EQ(out, payload);
  // One byte more is refused at the header.
  FrameReader over;
  const std::string big = RawFrame(0x05, 0, 7, 1, "", wire::kMaxPayload + 1);
  std::memcpy(over.WriteSpace().data(), big.data(), wire::kHeaderSize);
  EXPECT_EQ(over.Commit(wire::kHeaderSize), Result::kError);
  EXPECT_EQ(over.error(), DecodeError::kPayloadTooLarge);
}

TEST(FrameReaderTest, CommitIsClampedToTheSpace) {
  const std::string stream = EncodeAll({wire::Data{.flow_id = 1, .payload = "xyz"}, wire::Ping{.opaque = 2}});
  FrameReader reader;
  std::memcpy(reader.WriteSpace().data(), stream.data(), wire::kHeaderSize);
  ASSERT_EQ(reader.Commit(100), Result::kNeedMore);  // only the 16 header bytes count
  std::span<char> space = reader.WriteSpace();
  ASSERT_EQ(space.size(), 3u);
  std::memcpy(space.data(), stream.data() + wire::kHeaderSize, 3);
  ASSERT_EQ(reader.Commit(100), Result::kFrame);
  EXPECT_EQ(reader.stream_offset(), wire::kHeaderSize + 3);
}

TEST(FrameReaderTest, ErrorAfterGoodFramesIsStickyAndLocated) {
  const std::string good = EncodeAll({wire::Ping{.opaque = 1}, wire::Data{.flow_id = 3, .payload = "abc"}});
  const std::string stream = good + RawFrame(0x05, 0, 0, 0, "x") + good;
  FrameReader reader;
  std::vector<Taken> taken;
  ASSERT_EQ(Pump(reader, stream, Fixed(stream.size()), &taken), Result::kError);
  EXPECT_EQ(taken.size(), 2u);
  EXPECT_TRUE(reader.failed());
  EXPECT_EQ(reader.error(), DecodeError::kFlowIdZero);
  EXPECT_EQ(reader.error_offset(), good.size());
  EXPECT_EQ(reader.stream_offset(), good.size());
  EXPECT_EQ(reader.error_detail(),
            "flow id 0 on a flow frame in DATA frame (flow 0, length 1) at stream offset " +
                std::to_string(good.size()));
  // Sticky: nothing more is read, and every Commit says so.
  EXPECT_TRUE(reader.WriteSpace().empty());
  EXPECT_EQ(reader.Commit(0), Result::kError);
  EXPECT_EQ(reader.Commit(16), Result::kError);
  EXPECT_EQ(reader.error(), DecodeError::kFlowIdZero);
  EXPECT_EQ(reader.frames_read(), 2u);
}

TEST(FrameReaderTest, UnknownTypeDetailNamesTheTypeByte) {
  const std::string bytes = RawFrame(0x42, 0, 1, 0, "", 100);
  FrameReader reader;
  std::memcpy(reader.WriteSpace().data(), bytes.data(), wire::kHeaderSize);
  ASSERT_EQ(reader.Commit(wire::kHeaderSize), Result::kError);
  EXPECT_EQ(reader.error_detail(), "unknown frame type (type byte 66) at stream offset 0");
}

// Every error ParseHeader can find fails the reader on the header's last
// byte, before any payload byte: an oversized or unknown frame does not make
// the reader wait (or make room) for it.
TEST(FrameReaderTest, EveryHeaderErrorFailsAtTheHeader) {
  struct Case {
    std::string name;
    std::string bytes;
    std::optional<wire::Role> role;
    DecodeError want;
  };
  const std::vector<Case> cases = {
      {"type 0", RawFrame(0x00, 0, 0, 0, "", 0), {}, DecodeError::kUnknownType},
      {"type after ROTATE", RawFrame(0x0f, 0, 0, 0, "", 8), {}, DecodeError::kUnknownType},
      {"type 0x42", RawFrame(0x42, 0, 1, 0, "", 100), {}, DecodeError::kUnknownType},
      {"flags", RawFrame(0x05, 4, 1, 0, "", 100), {}, DecodeError::kReservedFlags},
      {"flags on ACK", RawFrame(0x0c, 0x80, 0, 0, "", 0), {}, DecodeError::kReservedFlags},
      {"over max payload", RawFrame(0x05, 0, 1, 0, "", 16369), {}, DecodeError::kPayloadTooLarge},
      {"length 0xffff", RawFrame(0x05, 0, 1, 0, "", 0xffff), {}, DecodeError::kPayloadTooLarge},
      {"PING with a flow", RawFrame(0x09, 0, 1, 0, ""), {}, DecodeError::kFlowIdNotZero},
      {"ACK with a flow", RawFrame(0x0c, 0, 2, 0, ""), {}, DecodeError::kFlowIdNotZero},
      {"LANE_LOST with a flow", RawFrame(0x0d, 0, 2, 0, "", 8), {}, DecodeError::kFlowIdNotZero},
      {"DATA flow 0", RawFrame(0x05, 0, 0, 0, "", 10), {}, DecodeError::kFlowIdZero},
      {"OPEN from our side", RawFrame(0x02, 0, 1, 0, "", 44), wire::Role::kDialer, DecodeError::kFlowIdParity},
      {"OPEN_OK for the peer's flow", RawFrame(0x03, 0, 2, 0, "", 4), wire::Role::kDialer,
       DecodeError::kFlowIdParity},
      {"GOAWAY naming the peer's flow", RawFrame(0x0b, 0, 2, 0, ""), wire::Role::kDialer,
       DecodeError::kFlowIdParity},
      {"empty DATA", RawFrame(0x05, 0, 1, 0, "", 0), {}, DecodeError::kEmptyData},
      {"CREDIT length 100", RawFrame(0x08, 0, 1, 0, "", 100), {}, DecodeError::kBadLength},
      {"ACK with a payload", RawFrame(0x0c, 0, 0, 0, "", 1), {}, DecodeError::kBadLength},
      {"LANE_LOST length 4", RawFrame(0x0d, 0, 0, 0, "", 4), {}, DecodeError::kBadLength},
      {"LANE_HELLO length 39", RawFrame(0x01, 0, 0, 1, "", 39), {}, DecodeError::kBadLength},
      {"RST reason 0", RawFrame(0x07, 0, 1, 0, "", 0), {}, DecodeError::kBadReason},
      {"GOAWAY reason 255", RawFrame(0x0b, 0, 0, 255, "", 0), {}, DecodeError::kBadReason},
  };
  const std::string prefix = EncodeAll({wire::Ping{.opaque = 1}});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.bytes.size(), wire::kHeaderSize);
    FrameReader reader(c.role);
    std::vector<Taken> taken;
    ASSERT_EQ(Pump(reader, prefix + c.bytes.substr(0, 15), Fixed(1000), &taken), Result::kNeedMore);
    ASSERT_EQ(Pump(reader, c.bytes.substr(15), Fixed(1), &taken), Result::kError);
    EXPECT_EQ(reader.error(), c.want) << DecodeErrorName(reader.error());
    EXPECT_EQ(reader.error_offset(), prefix.size());
    EXPECT_TRUE(reader.error_detail().starts_with(DecodeErrorName(c.want))) << reader.error_detail();
    EXPECT_TRUE(reader.error_detail().ends_with("at stream offset " + std::to_string(prefix.size())))
        << reader.error_detail();
    // The reader agrees with parsing the header alone.
    wire::FrameHeader header;
    EXPECT_EQ(ParseHeader(std::span<const char, wire::kHeaderSize>(c.bytes.data(), wire::kHeaderSize), c.role,
                          &header),
              c.want);
  }
}

TEST(FrameReaderTest, PayloadIsLeftToParsePayload) {
  // OPEN with a bad protocol byte: the header is fine, the payload is not.
  std::string payload(wire::kOpenFixedPayloadSize, '\0');
  payload[4] = 99;
  const std::string bytes = RawFrame(0x02, 0, 1, 0, payload);
  FrameReader reader;
  std::vector<Taken> taken;
  ASSERT_EQ(Pump(reader, bytes, Fixed(30), &taken), Result::kNeedMore);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_FALSE(reader.failed());
  wire::Frame frame;
  EXPECT_EQ(ParsePayload(taken[0].header, taken[0].payload, &frame), DecodeError::kBadProtocol);
  EXPECT_EQ(ParseFrame(bytes, std::nullopt, &frame), DecodeError::kBadProtocol);
}

TEST(FrameReaderTest, RoleChecksParity) {
  const std::string open = EncodeAll({wire::Open{.flow_id = 1, .target_port = 1}});
  FrameReader dialer(wire::Role::kDialer);
  std::vector<Taken> taken;
  EXPECT_EQ(Pump(dialer, open, Fixed(open.size()), &taken), Result::kError);
  EXPECT_EQ(dialer.error(), DecodeError::kFlowIdParity);
  FrameReader acceptor(wire::Role::kAcceptor);
  EXPECT_EQ(Pump(acceptor, open, Fixed(open.size()), &taken), Result::kNeedMore);
  EXPECT_EQ(taken.size(), 1u);
}

}  // namespace
}  // namespace braid::proxy
