// Fuzz target: one lane's byte stream through FrameReader, read as
// Lane::ReadLoop reads it, each frame through ParsePayload as the tunnel
// parses it, and the DATA/FIN/RST frames through one ReassemblyBuffer per
// flow.
//
// Input: byte 0 picks the reader's role (bits 0-1: 1 dialer, 2 acceptor,
// else none) and how many record-size bytes follow (bits 2-7: 0..63). The
// stream arrives in TLS records of those sizes, used in turn (a size byte b
// is 1 + b bytes for b < 128, else (b - 127) * 128, up to 16 KiB, one whole
// record); with none, the whole stream is one record. As SSL_read does, each
// read returns what is left of the current record, at most the WriteSpace
// offered, and is committed at once. The rest of the input is the stream.
//
// Checked, beside the sanitizers' own checks:
//   - a frame completes exactly at the byte that ends it, its payload is the
//     stream's bytes and was read into the string returned (no copy);
//   - ParsePayload on what the reader took agrees with ParseFrame on the
//     frame's bytes, and a parsed frame re-encodes to exactly those bytes;
//   - an error is reported as soon as the bad header is in, at the offset of
//     its frame, agrees with ParseHeader on those bytes, and is final;
//   - the memory bound: at most one partial frame is held;
//   - a refused DATA or FIN changes nothing in the reassembly buffer, which
//     stays within its window; the bytes read out are exactly the accepted
//     DATA payloads, in sequence order, and the buffer is finished only when
//     it should be.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "braid/wire.h"
#include "proxy/stripe/reassembly_buffer.h"
#include "proxy/wire/frame_codec.h"
#include "proxy/wire/frame_reader.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::proxy {
namespace {

using fuzz::Check;

constexpr size_t kMaxFlows = 8;
constexpr ReassemblyBuffer::Limits kLimits{.window_bytes = 64 * 1024, .window_frames = 16};

struct FlowModel {
  ReassemblyBuffer rx{kLimits};
  std::map<uint64_t, std::string> accepted;
  std::string output;
};

void CheckBounds(const ReassemblyBuffer& rx) {
  Check(rx.buffered_bytes() <= kLimits.window_bytes, "reassembly: buffered bytes over the window");
  Check(rx.pending_frames() < kLimits.window_frames, "reassembly: pending frames over the window");
  Check(rx.next_seq() <= rx.advertised_seq_limit(), "reassembly: next seq beyond the advertised limit");
  Check(rx.received_bytes() <= rx.advertised_byte_limit(), "reassembly: bytes beyond the advertised limit");
  Check(rx.received_bytes() == rx.consumed_bytes() + rx.buffered_bytes(), "reassembly: bytes unaccounted for");
  if (rx.IsFinished()) {
    Check(rx.readable_bytes() == 0 && rx.pending_frames() == 0, "reassembly: finished with bytes left");
  }
}

// Reads some of what is readable (how much depends on `hint`), then lets the
// window move.
void ReadSome(FlowModel* flow, uint64_t hint) {
  ReassemblyBuffer& rx = flow->rx;
  size_t want = rx.readable_bytes();
  if (hint % 3 == 1) want /= 2;
  if (hint % 3 == 2) want = std::min<size_t>(want, hint % 5000);
  std::string chunk(want, '\0');
  Check(rx.Read(chunk) == want, "reassembly: Read returned less than readable");
  flow->output += chunk;
  uint64_t bytes, seq;
  const uint64_t old_bytes = rx.advertised_byte_limit(), old_seq = rx.advertised_seq_limit();
  if (rx.MaybeGrantCredit(&bytes, &seq)) {
    Check(bytes >= old_bytes && seq >= old_seq, "reassembly: a credit grant shrank a limit");
  }
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

// Harness: what the tunnel does with DATA, FIN and RST, on a model of the
// flows that checks the reassembly buffer's promises.
class Harness {
 public:
  // `payload` is the string the reader returned, which the frame's views
  // point into; DATA of even seq hands it over as the tunnel does (after
  // the last use of the views: a short string's bytes move with it).
  void Handle(const wire::Frame& frame, std::string&& payload) {
    if (const auto* data = std::get_if<wire::Data>(&frame)) {
      FlowModel* flow = Flow(data->flow_id);
      if (flow == nullptr) return;
      const Snapshot before(flow->rx);
      const uint64_t seq = data->seq;
      std::string bytes(data->payload);
      const auto status = seq % 2 ? flow->rx.OnData(seq, bytes) : flow->rx.OnDataOwned(seq, std::move(payload));
      if (status == ReassemblyBuffer::Status::kOk) {
        Check(!flow->accepted.contains(seq), "reassembly: accepted a seq twice");
        flow->accepted.emplace(seq, std::move(bytes));
      } else {
        Check(Snapshot(flow->rx) == before, "reassembly: a refused DATA changed the buffer");
        if (flow->accepted.contains(seq)) {
          Check(status == ReassemblyBuffer::Status::kDuplicate || status == ReassemblyBuffer::Status::kAfterFin,
                "reassembly: a repeated seq refused for another reason");
        }
      }
      CheckBounds(flow->rx);
      ReadSome(flow, seq ^ flow->accepted.size());
      CheckBounds(flow->rx);
    } else if (const auto* fin = std::get_if<wire::Fin>(&frame)) {
      FlowModel* flow = Flow(fin->flow_id);
      if (flow == nullptr) return;
      const Snapshot before(flow->rx);
      if (flow->rx.OnFin(fin->final_seq) == ReassemblyBuffer::Status::kOk) {
        Check(flow->accepted.empty() || flow->accepted.rbegin()->first < fin->final_seq,
              "reassembly: a FIN below an accepted seq");
      } else {
        Check(Snapshot(flow->rx) == before, "reassembly: a refused FIN changed the buffer");
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
      Check(flow->rx.next_seq() <= flow->accepted.size(), "reassembly: next seq beyond what was accepted");
      Check(flow->output == want, "reassembly: the bytes out are not the accepted DATA in order");
      const bool finished = flow->rx.fin_received() && flow->rx.next_seq() == flow->rx.final_seq();
      Check(flow->rx.IsFinished() == finished, "reassembly: IsFinished disagrees with FIN and next seq");
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

std::span<const char, wire::kHeaderSize> HeaderAt(std::string_view stream, size_t offset) {
  return std::span<const char, wire::kHeaderSize>(stream.data() + offset, wire::kHeaderSize);
}

// CheckError checks a reader that failed on the header of the frame at
// `frame_start`, right after the read that ended at `pos`.
void CheckError(FrameReader& reader, std::string_view stream, uint64_t frame_start, size_t pos,
                std::optional<wire::Role> role) {
  Check(reader.failed() && reader.error() != DecodeError::kNone, "kError from a reader that has not failed");
  Check(reader.error_offset() == frame_start && reader.stream_offset() == frame_start,
        "error not at the offset of the bad frame", reader.error_detail());
  Check(pos == frame_start + wire::kHeaderSize, "error not reported as soon as the header was in",
        reader.error_detail());
  wire::FrameHeader header;
  Check(ParseHeader(HeaderAt(stream, frame_start), role, &header) == reader.error(),
        "the reader's error is not ParseHeader's", reader.error_detail());
  Check(reader.error_detail().starts_with(DecodeErrorName(reader.error())) &&
            reader.error_detail().ends_with(" at stream offset " + std::to_string(frame_start)),
        "error detail does not say what and where", reader.error_detail());
  Check(reader.WriteSpace().empty() && reader.Commit(0) == FrameReader::Result::kError,
        "a failed reader reads on", reader.error_detail());
}

// RecordSize: the size of the `index`th TLS record of the stream.
size_t RecordSize(std::string_view sizes, size_t index) {
  if (sizes.empty()) return SIZE_MAX;
  const uint8_t b = static_cast<uint8_t>(sizes[index % sizes.size()]);
  return b < 128 ? 1 + b : (b - 127) * size_t{128};
}

// HandleFrame checks the frame the reader just completed, at
// stream[frame_start, pos), after the read `written` (where the last bytes
// went), and parses it as the tunnel does. Returns false when its payload
// is malformed (the tunnel's protocol error: nothing more is read).
bool HandleFrame(FrameReader& reader, std::string_view stream, uint64_t frame_start, size_t pos,
                 std::span<const char> written, std::optional<wire::Role> role, Harness* harness) {
  Check(reader.stream_offset() == pos, "a frame did not complete at the byte that ends it");
  Check(reader.WriteSpace().empty(), "space offered before the frame was taken");
  wire::FrameHeader header;
  std::string payload;
  reader.TakeFrame(&header, &payload);
  const std::string_view original = stream.substr(frame_start, pos - frame_start);
  Check(original.size() == wire::kHeaderSize + payload.size(), "a frame's size is not its header's length");
  Check(payload == original.substr(wire::kHeaderSize), "a payload is not the stream's bytes");
  // A payload longer than std::string keeps inline is on the heap, and
  // moves out without a copy: the bytes read last are its last bytes.
  if (payload.size() > std::string().capacity()) {
    Check(payload.data() + payload.size() == written.data() + written.size(),
          "the payload was not read into the string returned");
  }
  wire::FrameHeader want_header;
  Check(ParseHeader(HeaderAt(stream, frame_start), role, &want_header) == DecodeError::kNone &&
            header == want_header,
        "a frame's header is not ParseHeader's");

  wire::Frame frame, whole;
  const DecodeError error = ParsePayload(header, payload, &frame);
  Check(ParseFrame(original, role, &whole) == error, "ParsePayload disagrees with ParseFrame",
        DecodeErrorName(error));
  if (error != DecodeError::kNone) return false;
  Check(frame == whole, "ParsePayload and ParseFrame give different frames");
  std::string reencoded;
  Check(EncodeFrame(frame, &reencoded), "a decoded frame does not encode");
  Check(reencoded == original, "a decoded frame does not re-encode to its bytes");
  harness->Handle(frame, std::move(payload));
  return true;
}

}  // namespace
}  // namespace braid::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid;
  using namespace braid::proxy;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t mode = data[0];
  std::optional<wire::Role> role;
  if ((mode & 3) == 1) role = wire::Role::kDialer;
  if ((mode & 3) == 2) role = wire::Role::kAcceptor;
  const std::string_view sizes = input.substr(1, mode >> 2);
  const std::string_view stream = input.substr(1 + sizes.size());

  FrameReader reader(role);
  Harness harness;
  size_t pos = 0;
  bool stopped = false;  // the reader failed, or a payload did not parse
  for (size_t index = 0; pos < stream.size() && !stopped; ++index) {
    size_t record = std::min(RecordSize(sizes, index), stream.size() - pos);
    while (record > 0 && !stopped) {
      const uint64_t frame_start = reader.stream_offset();
      const std::span<char> space = reader.WriteSpace();
      Check(!space.empty(), "no space offered to read into");
      Check(space.size() <= std::max(wire::kHeaderSize, wire::kMaxPayload), "space beyond one frame");
      const size_t n = std::min(space.size(), record);
      std::memcpy(space.data(), stream.data() + pos, n);
      pos += n;
      record -= n;
      switch (reader.Commit(n)) {
        case FrameReader::Result::kNeedMore:
          Check(reader.stream_offset() == frame_start, "the stream offset moved with no frame");
          Check(pos - frame_start < wire::kMaxFrameSize, "more than one partial frame held");
          break;
        case FrameReader::Result::kError:
          CheckError(reader, stream, frame_start, pos, role);
          stopped = true;
          break;
        case FrameReader::Result::kFrame:
          stopped = !HandleFrame(reader, stream, frame_start, pos, space.first(n), role, &harness);
          break;
      }
    }
  }
  if (!stopped) {
    // The stream ended inside a frame, or between two: nothing failed, and
    // a partial frame's header, if it is all in, was accepted.
    Check(!reader.failed(), "the reader failed with no kError");
    const uint64_t start = reader.stream_offset();
    wire::FrameHeader header;
    if (pos - start >= wire::kHeaderSize) {
      Check(ParseHeader(HeaderAt(stream, start), role, &header) == DecodeError::kNone,
            "a bad header was accepted");
    }
  }
  harness.Finish();
  return 0;
}
