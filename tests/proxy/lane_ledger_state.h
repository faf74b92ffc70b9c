// LedgerState: what a test can see of a LaneLedger, so that the unit tests
// and the lane recovery fuzzer can check that a refused count changes
// nothing.
#ifndef BRAID_TESTS_PROXY_LANE_LEDGER_STATE_H_
#define BRAID_TESTS_PROXY_LANE_LEDGER_STATE_H_

#include <cstddef>
#include <cstdint>

#include "proxy/tunnel/lane_ledger.h"

namespace braid::proxy::testing {

struct LedgerState {
  uint64_t written, acked, received;
  size_t kept_frames, kept_bytes;
  explicit LedgerState(const LaneLedger& l)
      : written(l.written()), acked(l.acked()), received(l.received()), kept_frames(l.kept_frames()),
        kept_bytes(l.kept_bytes()) {}
  bool operator==(const LedgerState&) const = default;
};

}  // namespace braid::proxy::testing

#endif  // BRAID_TESTS_PROXY_LANE_LEDGER_STATE_H_
