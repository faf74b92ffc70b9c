// Turning BoringSSL's thread-local error queue into absl::Status values.
//
// BoringSSL reports failures by pushing entries on a per-thread queue. Every
// braid call into BoringSSL that fails is turned into a status right away, on
// the same thread, with these helpers; they empty the queue so a stale entry
// never leaks into the next, unrelated error message.
#ifndef BRAID_PKI_BORINGSSL_ERROR_H_
#define BRAID_PKI_BORINGSSL_ERROR_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace braid::pki {

// TakeBoringSslErrors returns the entries of this thread's BoringSSL error
// queue as one line ("lib:reason; lib:reason"), oldest first, and clears the
// queue. Returns an empty string when the queue is empty.
std::string TakeBoringSslErrors();

// BoringSslError returns a status with `code` and the message
// "WHAT: <queued errors>" (or just "WHAT" when the queue is empty), and clears
// the queue.
absl::Status BoringSslError(absl::StatusCode code, std::string_view what);

// BoringSslError is the common case: an internal error.
inline absl::Status BoringSslError(std::string_view what) {
  return BoringSslError(absl::StatusCode::kInternal, what);
}

}  // namespace braid::pki

#endif  // BRAID_PKI_BORINGSSL_ERROR_H_
