#include "proxy/stripe/reassembly_buffer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace braid::proxy {
namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

ReassemblyBuffer::ReassemblyBuffer(Limits limits) : limits_(limits) {
  limits_.window_bytes = std::max<uint32_t>(limits_.window_bytes, 1);
  limits_.window_frames = std::max<uint32_t>(limits_.window_frames, 1);
  advertised_bytes_ = limits_.window_bytes;
  advertised_seq_ = limits_.window_frames;
}

ReassemblyBuffer::Status ReassemblyBuffer::Check(uint64_t seq, std::string_view payload) const {
  if (payload.empty()) return Status::kEmptyPayload;
  if (fin_received_ && seq >= final_seq_) return Status::kAfterFin;
  // Duplicates before the windows: a copy costs no credit.
  if (seq < next_seq_) return Status::kDuplicate;
  if (seq != next_seq_) {
    if (auto it = pending_.find(seq); it != pending_.end()) {
      return it->second == payload ? Status::kDuplicate : Status::kInconsistentDuplicate;
    }
  }
  if (seq >= advertised_seq_) return Status::kBeyondSeqWindow;
  // received_bytes_ <= advertised_bytes_ always holds, so this cannot wrap.
  if (payload.size() > advertised_bytes_ - received_bytes_) return Status::kBeyondByteWindow;
  return Status::kOk;
}

ReassemblyBuffer::Status ReassemblyBuffer::OnData(uint64_t seq, std::string_view payload) {
  if (Status s = Check(seq, payload); s != Status::kOk) return s;
  received_bytes_ += payload.size();
  if (seq == next_seq_) {
    // Fast path: in order. No map insertion; usually no allocation either
    // for small frames.
    AppendReady(payload);
    ++next_seq_;
    if (!pending_.empty()) DrainPending();
  } else {
    pending_.emplace(seq, std::string(payload));
    pending_bytes_ += static_cast<uint32_t>(payload.size());
  }
  return Status::kOk;
}

ReassemblyBuffer::Status ReassemblyBuffer::OnDataOwned(uint64_t seq, std::string&& payload) {
  if (Status s = Check(seq, payload); s != Status::kOk) return s;
  received_bytes_ += payload.size();
  if (seq == next_seq_) {
    AppendReady(std::move(payload));
    ++next_seq_;
    if (!pending_.empty()) DrainPending();
  } else {
    pending_bytes_ += static_cast<uint32_t>(payload.size());
    pending_.emplace(seq, std::move(payload));
  }
  return Status::kOk;
}

ReassemblyBuffer::Status ReassemblyBuffer::OnFin(uint64_t final_seq) {
  if (fin_received_) return Status::kDuplicateFin;
  if (final_seq < next_seq_ || final_seq > advertised_seq_) return Status::kFinInconsistent;
  if (!pending_.empty() && pending_.rbegin()->first >= final_seq) {
    return Status::kFinInconsistent;
  }
  fin_received_ = true;
  final_seq_ = final_seq;
  return Status::kOk;
}

void ReassemblyBuffer::AppendReady(std::string_view bytes) {
  ready_bytes_ += static_cast<uint32_t>(bytes.size());
  if (ready_head_ < ready_.size() && ready_.back().size() + bytes.size() <= kCoalesceBytes) {
    ready_.back().append(bytes);
    return;
  }
  ready_.emplace_back(bytes);
}

void ReassemblyBuffer::AppendReady(std::string&& bytes) {
  ready_bytes_ += static_cast<uint32_t>(bytes.size());
  if (ready_head_ < ready_.size() && ready_.back().size() + bytes.size() <= kCoalesceBytes) {
    ready_.back().append(bytes);
    return;
  }
  ready_.push_back(std::move(bytes));
}

void ReassemblyBuffer::DrainPending() {
  auto it = pending_.begin();
  while (it != pending_.end() && it->first == next_seq_) {
    pending_bytes_ -= static_cast<uint32_t>(it->second.size());
    AppendReady(std::move(it->second));
    ++next_seq_;
    ++it;
  }
  pending_.erase(pending_.begin(), it);
}

size_t ReassemblyBuffer::GetReadableRegions(std::span<std::string_view> out) const {
  size_t filled = 0;
  for (size_t i = ready_head_; i < ready_.size() && filled < out.size(); ++i) {
    std::string_view chunk = ready_[i];
    if (i == ready_head_) chunk.remove_prefix(read_offset_);
    out[filled++] = chunk;
  }
  return filled;
}

void ReassemblyBuffer::MarkConsumed(size_t bytes) {
  bytes = std::min<size_t>(bytes, ready_bytes_);
  ready_bytes_ -= static_cast<uint32_t>(bytes);
  consumed_bytes_ += bytes;
  while (bytes > 0) {
    const size_t left_in_head = ready_[ready_head_].size() - read_offset_;
    if (bytes < left_in_head) {
      read_offset_ += static_cast<uint32_t>(bytes);
      break;
    }
    bytes -= left_in_head;
    // Free the chunk now rather than when the vector is compacted.
    std::string().swap(ready_[ready_head_]);
    ++ready_head_;
    read_offset_ = 0;
  }
  CompactReady();
}

void ReassemblyBuffer::CompactReady() {
  if (ready_head_ == ready_.size()) {
    ready_.clear();
    ready_head_ = 0;
    if (ready_.capacity() > 64) ready_.shrink_to_fit();
  } else if (ready_head_ >= 32 && ready_head_ * 2 >= ready_.size()) {
    ready_.erase(ready_.begin(), ready_.begin() + ready_head_);
    ready_head_ = 0;
  }
}

size_t ReassemblyBuffer::TakeReady(std::vector<std::string>* out, size_t max_bytes) {
  size_t taken = 0;
  while (ready_head_ < ready_.size() && taken < max_bytes) {
    std::string& chunk = ready_[ready_head_];
    if (read_offset_ > 0) {
      chunk.erase(0, read_offset_);  // only after a partial Read or MarkConsumed
      read_offset_ = 0;
    }
    taken += chunk.size();
    out->push_back(std::move(chunk));
    ++ready_head_;
  }
  ready_bytes_ -= static_cast<uint32_t>(taken);
  consumed_bytes_ += taken;
  CompactReady();
  return taken;
}

size_t ReassemblyBuffer::Read(std::span<char> out) {
  size_t copied = 0;
  for (size_t i = ready_head_; i < ready_.size() && copied < out.size(); ++i) {
    std::string_view chunk = ready_[i];
    if (i == ready_head_) chunk.remove_prefix(read_offset_);
    const size_t n = std::min(chunk.size(), out.size() - copied);
    std::memcpy(out.data() + copied, chunk.data(), n);
    copied += n;
  }
  MarkConsumed(copied);
  return copied;
}

bool ReassemblyBuffer::CreditDue() const {
  if (fin_received_) return false;
  const uint64_t bytes = SaturatingAdd(consumed_bytes_, limits_.window_bytes);
  const uint64_t seq = SaturatingAdd(next_seq_, limits_.window_frames);
  // A window that shrank (SetWindow) can put the new limit below the one
  // advertised: no growth, nothing due.
  const uint64_t byte_growth = bytes > advertised_bytes_ ? bytes - advertised_bytes_ : 0;
  const uint64_t seq_growth = seq > advertised_seq_ ? seq - advertised_seq_ : 0;
  return (byte_growth > 0 && byte_growth >= std::max<uint64_t>(1, limits_.window_bytes / 2)) ||
         (seq_growth > 0 && seq_growth >= std::max<uint64_t>(1, limits_.window_frames / 2));
}

bool ReassemblyBuffer::MaybeGrantCredit(uint64_t* byte_limit, uint64_t* seq_limit) {
  if (!CreditDue()) return false;
  // Limits never go down: after a shrink one of them may not have grown.
  const uint64_t bytes = std::max(advertised_bytes_, SaturatingAdd(consumed_bytes_, limits_.window_bytes));
  const uint64_t seq = std::max(advertised_seq_, SaturatingAdd(next_seq_, limits_.window_frames));
  advertised_bytes_ = bytes;
  advertised_seq_ = seq;
  *byte_limit = bytes;
  *seq_limit = seq;
  return true;
}

std::string_view ReassemblyStatusName(ReassemblyBuffer::Status status) {
  using Status = ReassemblyBuffer::Status;
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kEmptyPayload: return "empty DATA";
    case Status::kDuplicate: return "duplicate (dropped)";
    case Status::kInconsistentDuplicate: return "a second frame with a pending sequence number and other bytes";
    case Status::kBeyondSeqWindow: return "sequence number beyond the window";
    case Status::kBeyondByteWindow: return "bytes beyond the credit granted";
    case Status::kAfterFin: return "DATA at or after the FIN's final sequence";
    case Status::kDuplicateFin: return "second FIN";
    case Status::kFinInconsistent: return "FIN inconsistent with the frames received";
  }
  return "unknown";
}

}  // namespace braid::proxy
