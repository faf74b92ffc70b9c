// Fuzz target: one lane's byte stream through FrameDecoder, and the decoded
// DATA/FIN/RST frames through one ReassemblyBuffer per flow.
//
// Input: byte 0 picks the decoder role (bits 0-1: 1 dialer, 2 acceptor,
// else none) and how the rest is cut into feeds (bits 2-7: 0 = one feed,
// otherwise a pattern of 1..1008-byte chunks, fed alternately by copy and
// through PrepareWrite/CommitWrite). The rest is the stream.
//
// Checked, beside the sanitizers' own checks:
//   - every decoded frame re-encodes to exactly the bytes it came from;
//   - an error is reported at the offset of the bad frame, and agrees with
//     ParseHeader/ParseFrame on those bytes;
//   - a refused DATA or FIN changes nothing in the buffer;
//   - the memory bound: buffered bytes <= window, pending frames < window;
//   - the bytes read out are exactly the accepted DATA payloads, in
//     sequence order, and the buffer is finished only when it should be.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "braid/wire.h"
#include "proxy/stripe/reassembly_buffer.h"
#include "proxy/wire/frame_codec.h"

namespace braid::proxy {
namespace {

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

constexpr size_t kMaxFlows = 8;
constexpr ReassemblyBuffer::Limits kLimits{.window_bytes = 64 * 1024, .window_frames = 16};

struct FlowModel {
  ReassemblyBuffer rx{kLimits};
  std::map<uint64_t, std::string> accepted;
  std::string output;
};

void CheckBounds(const ReassemblyBuffer& rx) {
  FUZZ_CHECK(rx.buffered_bytes() <= kLimits.window_bytes);
  FUZZ_CHECK(rx.pending_frames() < kLimits.window_frames);
  FUZZ_CHECK(rx.next_seq() <= rx.advertised_seq_limit());
  FUZZ_CHECK(rx.received_bytes() <= rx.advertised_byte_limit());
  FUZZ_CHECK(rx.received_bytes() == rx.consumed_bytes() + rx.buffered_bytes());
  if (rx.IsFinished()) FUZZ_CHECK(rx.readable_bytes() == 0 && rx.pending_frames() == 0);
}

// Reads some of what is readable (how much depends on `hint`), then lets the
// window move.
void ReadSome(FlowModel* flow, uint64_t hint) {
  ReassemblyBuffer& rx = flow->rx;
  size_t want = rx.readable_bytes();
  if (hint % 3 == 1) want /= 2;
  if (hint % 3 == 2) want = std::min<size_t>(want, hint % 5000);
  std::string chunk(want, '\0');
  FUZZ_CHECK(rx.Read(chunk) == want);
  flow->output += chunk;
  uint64_t bytes, seq;
  const uint64_t old_bytes = rx.advertised_byte_limit(), old_seq = rx.advertised_seq_limit();
  if (rx.MaybeGrantCredit(&bytes, &seq)) FUZZ_CHECK(bytes >= old_bytes && seq >= old_seq);
}

struct Snapshot {
  uint64_t next_seq, received, final_seq;
  size_t buffered, pending;
  bool fin;
  explicit Snapshot(const ReassemblyBuffer& rx)
      : next_seq(rx.next_seq()), received(rx.received_bytes()), final_seq(rx.final_seq()),
        buffered(rx.buffered_bytes()), pending(rx.pending_frames()), fin(rx.fin_received()) {}
  bool operator==(const Snapshot&) const = default;
};

class Harness {
 public:
  void Handle(const wire::Frame& frame) {
    if (const auto* data = std::get_if<wire::Data>(&frame)) {
      FlowModel* flow = Flow(data->flow_id);
      if (flow == nullptr) return;
      const Snapshot before(flow->rx);
      const auto status = data->seq % 2 ? flow->rx.OnData(data->seq, data->payload)
                                        : flow->rx.OnDataOwned(data->seq, std::string(data->payload));
      if (status == ReassemblyBuffer::Status::kOk) {
        FUZZ_CHECK(!flow->accepted.contains(data->seq));
        flow->accepted.emplace(data->seq, std::string(data->payload));
      } else {
        FUZZ_CHECK(Snapshot(flow->rx) == before);
        if (flow->accepted.contains(data->seq)) {
          FUZZ_CHECK(status == ReassemblyBuffer::Status::kDuplicate ||
                     status == ReassemblyBuffer::Status::kAfterFin);
        }
      }
      CheckBounds(flow->rx);
      ReadSome(flow, data->seq ^ data->payload.size());
      CheckBounds(flow->rx);
    } else if (const auto* fin = std::get_if<wire::Fin>(&frame)) {
      FlowModel* flow = Flow(fin->flow_id);
      if (flow == nullptr) return;
      const Snapshot before(flow->rx);
      if (flow->rx.OnFin(fin->final_seq) == ReassemblyBuffer::Status::kOk) {
        FUZZ_CHECK(flow->accepted.empty() || flow->accepted.rbegin()->first < fin->final_seq);
      } else {
        FUZZ_CHECK(Snapshot(flow->rx) == before);
      }
      CheckBounds(flow->rx);
    } else if (const auto* rst = std::get_if<wire::Rst>(&frame)) {
      flows_.erase(rst->flow_id);  // abort: the buffered bytes are dropped
    }
  }

  void Finish() {
    for (auto& [id, flow] : flows_) {
      ReadSome(flow.get(), 0);
      std::string want;
      for (uint64_t seq = 0; flow->accepted.contains(seq); ++seq) want += flow->accepted[seq];
      FUZZ_CHECK(flow->rx.next_seq() <= flow->accepted.size());
      FUZZ_CHECK(flow->output == want);
      const bool finished = flow->rx.fin_received() &&
                            flow->rx.next_seq() == flow->rx.final_seq();
      FUZZ_CHECK(flow->rx.IsFinished() == finished);
    }
  }

 private:
  FlowModel* Flow(uint32_t id) {
    auto it = flows_.find(id);
    if (it != flows_.end()) return it->second.get();
    if (flows_.size() >= kMaxFlows) return nullptr;
    return flows_.emplace(id, std::make_unique<FlowModel>()).first->second.get();
  }

  std::map<uint32_t, std::unique_ptr<FlowModel>> flows_;
};

void CheckError(const FrameDecoder& decoder, std::string_view stream, uint64_t frame_start,
                std::optional<wire::Role> role) {
  FUZZ_CHECK(decoder.error() != DecodeError::kNone);
  FUZZ_CHECK(!decoder.error_detail().empty());
  FUZZ_CHECK(decoder.error_offset() == frame_start);
  const std::string_view rest = stream.substr(frame_start);
  FUZZ_CHECK(rest.size() >= wire::kHeaderSize);
  wire::FrameHeader header;
  const DecodeError header_error = ParseHeader(
      std::span<const char, wire::kHeaderSize>(rest.data(), wire::kHeaderSize), role, &header);
  if (header_error != DecodeError::kNone) {
    FUZZ_CHECK(header_error == decoder.error());
    return;
  }
  FUZZ_CHECK(rest.size() >= wire::kHeaderSize + header.length);
  wire::Frame frame;
  FUZZ_CHECK(ParseFrame(rest.substr(0, wire::kHeaderSize + header.length), role, &frame) ==
             decoder.error());
}

}  // namespace
}  // namespace braid::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid;
  using namespace braid::proxy;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::optional<wire::Role> role;
  if ((mode & 3) == 1) role = wire::Role::kDialer;
  if ((mode & 3) == 2) role = wire::Role::kAcceptor;
  const size_t pattern = mode >> 2;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  FrameDecoder decoder({.local_role = role});
  Harness harness;
  size_t pos = 0;
  bool failed = false;
  for (size_t i = 0; pos < stream.size() && !failed; ++i) {
    size_t chunk = pattern == 0 ? stream.size() : 1 + (i * 7919 + pattern * 31) % (pattern * 16);
    chunk = std::min(chunk, stream.size() - pos);
    if (i % 2 == 0) {
      decoder.Feed(stream.substr(pos, chunk));
    } else {
      std::span<char> space = decoder.PrepareWrite(chunk + i % 7);
      std::copy_n(stream.data() + pos, chunk, space.data());
      decoder.CommitWrite(chunk);
    }
    pos += chunk;
    for (;;) {
      const uint64_t start = decoder.stream_offset();
      wire::Frame frame;
      const FrameDecoder::Result r = decoder.Next(&frame);
      if (r == FrameDecoder::Result::kNeedMore) break;
      if (r == FrameDecoder::Result::kError) {
        CheckError(decoder, stream.substr(0, pos), start, role);
        failed = true;
        break;
      }
      const std::string_view original = stream.substr(start, decoder.stream_offset() - start);
      std::string reencoded;
      FUZZ_CHECK(EncodeFrame(frame, &reencoded));
      FUZZ_CHECK(reencoded == original);
      harness.Handle(frame);
    }
    FUZZ_CHECK(failed || decoder.buffered_bytes() == pos - decoder.stream_offset());
  }
  harness.Finish();
  return 0;
}
