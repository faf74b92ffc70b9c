#include "proxy/tunnel/lane_ledger.h"

#include "braid/wire.h"

namespace braid::proxy {

bool IsCountedFrame(std::string_view frame) {
  return !frame.empty() && wire::IsCounted(static_cast<wire::FrameType>(static_cast<uint8_t>(frame[0])));
}

void LaneLedger::OnWritten(std::string frame) {
  if (!IsCountedFrame(frame)) return;
  kept_bytes_ += frame.size();
  kept_.push_back(std::move(frame));
  ++written_;
}

LaneLedger::AckStatus LaneLedger::OnAck(uint64_t received) {
  if (received > written_) return AckStatus::kBeyondSent;
  if (received < acked_) return AckStatus::kBackwards;
  while (acked_ < received) {
    kept_bytes_ -= kept_.front().size();
    kept_.pop_front();
    ++acked_;
  }
  return AckStatus::kOk;
}

LaneLedger::AckStatus LaneLedger::TakeUnacked(uint64_t received, std::vector<std::string>* out) {
  if (AckStatus s = OnAck(received); s != AckStatus::kOk) return s;
  for (std::string& frame : kept_) out->push_back(std::move(frame));
  kept_.clear();
  kept_bytes_ = 0;
  acked_ = written_;
  return AckStatus::kOk;
}

std::string_view AckStatusName(LaneLedger::AckStatus status) {
  switch (status) {
    case LaneLedger::AckStatus::kOk: return "ok";
    case LaneLedger::AckStatus::kBeyondSent: return "acknowledges frames never sent";
    case LaneLedger::AckStatus::kBackwards: return "acknowledgement goes backwards";
  }
  return "unknown";
}

}  // namespace braid::proxy
