// Store: the controller's durable state as a small key-value map.
//
// Everything the controller must not forget across a restart lives here:
// policy versions, the current policy pointer, enrolled gateways, the ids of
// unused join tokens. The state is small (a few hundred keys, values from a
// few bytes to a few MiB for a policy document) and written rarely (an
// operator's command, a gateway's enrollment), so the interface is kept as
// narrow as a key-value store can be: Get, Put, Create, Swap (compare and
// swap), Delete and a prefix List. That is deliberate. FileStore keeps the map in a directory on one
// machine; an etcd backend is planned for controllers that must outlive one
// machine, and every operation here maps onto one etcd request (Create is a
// transaction on create_revision == 0, List a range read). Nothing above
// this interface may depend on files, directories or rename semantics.
//
// Keys: '/'-separated segments of [a-z0-9._-] (see ValidateStoreKey), such
// as "policy/v000001" or "gateways/gw-onprem". A key that is a whole-segment
// prefix of another ("a" and "a/b") cannot be stored beside it: FileStore
// refuses the second with FailedPrecondition, so key schemes keep values at
// the leaves.
//
// Durability and atomicity: a write that returns OK has reached stable
// storage and survives a crash of the process or of the machine. A crash at
// any moment leaves every key with its old value or its new one, never a mix,
// and never loses a key that was not being written. There are no
// multi-key transactions: where two keys must agree (a policy version and the
// pointer to the current one), write the one that is referred to first
// (Create the version, then Put the pointer), so that a crash between the
// two leaves an unreferenced record, never a dangling reference.
//
// Errors: every method returns InvalidArgument for a key ValidateStoreKey
// rejects, and for an I/O failure a status whose message names the backend
// object (for FileStore, the path) and the cause.
//
// Thread-safety: implementations are internally synchronized; every method
// may be called from any thread at any time.
#ifndef BRAID_CONTROLLER_STORE_STORE_H_
#define BRAID_CONTROLLER_STORE_STORE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::controller {

inline constexpr size_t kMaxStoreKeyLength = 200;
// kMaxStoreValueBytes bounds one value, and so the memory one Get can take.
// Policies are the largest values and stay far below it.
inline constexpr size_t kMaxStoreValueBytes = size_t{16} << 20;

class Store {
 public:
  virtual ~Store() = default;

  // Get returns the value of `key`. Returns NotFound if there is none,
  // InvalidArgument for a bad key, another error for an I/O failure.
  virtual absl::StatusOr<std::string> Get(std::string_view key) = 0;

  // Put replaces `key`'s value atomically and durably: when it returns OK
  // the value survives a crash (kill -9, power loss); after a crash at any
  // moment the key holds the old value or the new one, never a mix. Returns
  // InvalidArgument for a bad key or a value over kMaxStoreValueBytes,
  // FailedPrecondition when `key` clashes with a key that is a prefix of it
  // or that it is a prefix of, another error for an I/O failure.
  virtual absl::Status Put(std::string_view key, std::string_view value) = 0;

  // Create is Put that fails with AlreadyExists if `key` exists, atomically
  // against any concurrent Create or Put of the same key (used for
  // append-only records such as policy versions). Other errors as for Put.
  virtual absl::Status Create(std::string_view key, std::string_view value) = 0;

  // Swap replaces `key`'s value with `value` only if it is `expected` now,
  // atomically against every other write: a compare-and-swap, for records
  // that several controllers sharing the store read, change and write
  // back. Returns Aborted if the value is another (someone changed it:
  // read it again and retry), NotFound if the key is absent; other errors
  // as for Put.
  virtual absl::Status Swap(std::string_view key, std::string_view expected, std::string_view value) = 0;

  // Delete removes `key` durably. Returns NotFound if absent,
  // InvalidArgument for a bad key, another error for an I/O failure.
  virtual absl::Status Delete(std::string_view key) = 0;

  // List returns the keys that start with `prefix` (a plain string prefix:
  // "policy/v" lists "policy/v000001"), sorted; "" lists every key. Returns
  // InvalidArgument for a prefix no key could start with (a character keys
  // cannot hold, an empty, "." or ".." segment), another error for an I/O
  // failure.
  virtual absl::StatusOr<std::vector<std::string>> List(std::string_view prefix) = 0;

  // Scan returns the keys that start with `prefix` with their values,
  // sorted by key: List, then Get of each (a key deleted in between is left
  // out). A backend that can read them in one request overrides it (etcd:
  // a controller following a fleet of a thousand gateways would otherwise
  // make a thousand requests per change). Errors as for List and Get.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix);
};

// ValidateStoreKey returns OK for a valid key: '/'-separated segments of
// [a-z0-9._-], no empty segment, no segment "." or "..", at most
// kMaxStoreKeyLength characters. InvalidArgument otherwise, saying what is
// wrong and where.
absl::Status ValidateStoreKey(std::string_view key);

// ValidateStoreKeyPrefix returns OK for a prefix that some valid key could
// start with ("" included): the rules of ValidateStoreKey, except that the
// last segment may be empty or partial. InvalidArgument otherwise. Backends
// check List's prefix with it.
absl::Status ValidateStoreKeyPrefix(std::string_view prefix);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_STORE_STORE_H_
