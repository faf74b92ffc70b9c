// EtcdStore: the controller's Store on an etcd cluster (etcd 3.4, the v3
// API through its JSON gateway, plain HTTP over Beast), so that the state
// outlives one machine.
//
// Every Store operation is one etcd request, and every write is one etcd
// transaction, so the guarantees of store.h hold across every controller
// that shares the cluster:
//   - Get       range read of the key;
//   - Put       txn: no key is a whole-segment prefix of the key, the key is
//               a prefix of no key; then put. Atomic: a clashing key
//               written at the same moment by another controller makes one
//               of the two fail with FailedPrecondition;
//   - Create    the same txn, and the key's create_revision is 0 (it does
//               not exist): exactly one of any number of concurrent Creates
//               of a key succeeds;
//   - Swap      txn: the key's value is the expected one; then put;
//   - Delete    delete-range of the key (NotFound when it deleted nothing);
//   - List      range read over the prefix, keys only, sorted.
// etcd answers a write once a majority of its members has it in their
// fsynced log: a Put that returned OK survives the loss of any minority of
// the cluster, and of any controller.
//
// Keys live under a namespace (`prefix`, "braid/" by default), so one etcd
// cluster may serve other tenants; a Store key "policy/current" is the etcd
// key "braid/policy/current".
//
// Endpoints: a list of etcd members' client addresses. A request goes to the
// member that answered last, and on a connection failure or timeout to the
// next, in order; only when none answers does the operation fail
// (Unavailable, naming each member and why). A write that timed out may
// still have been applied: the caller sees Unavailable and must not assume
// either outcome (the registries re-read before they retry).
//
// Plain HTTP carries the state (policies, gateway records) unencrypted and
// unauthenticated, so endpoints must be loopback addresses (an etcd member
// on the controller's own machine); the configuration refuses any other.
// TLS to etcd is not supported yet.
//
// Values: etcd refuses requests over its --max-request-bytes (1.5 MiB by
// default); braid's scripts start etcd with 32 MiB so that every value up to
// kMaxStoreValueBytes (base64 in the request) fits. A refusal is
// InvalidArgument naming the limit.
//
// Thread-safety: every method may be called from any thread; each request
// uses its own connection and event loop, and blocks the caller until the
// answer or the timeout.
#ifndef BRAID_CONTROLLER_STORE_ETCD_STORE_H_
#define BRAID_CONTROLLER_STORE_ETCD_STORE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"

namespace braid::controller {

struct EtcdEndpoint {
  std::string host;  // an IP literal
  uint16_t port = 0;
  std::string ToString() const;
};

struct EtcdOptions {
  std::vector<EtcdEndpoint> endpoints;  // at least one
  std::string prefix = "braid/";        // the namespace of every key; ends with '/'
  std::chrono::milliseconds timeout{5'000};  // one request to one member, connect to answer
};

class EtcdStore final : public Store {
 public:
  // Open checks the options and that some member answers (a read of the
  // namespace). InvalidArgument for bad options, Unavailable when no member
  // answers.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(EtcdOptions options);

  absl::StatusOr<std::string> Get(std::string_view key) override;
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status Create(std::string_view key, std::string_view value) override;
  absl::Status Swap(std::string_view key, std::string_view expected, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::vector<std::string>> List(std::string_view prefix) override;
  // One range read, with the values.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix) override;

  // Revision is the cluster's revision: it moves on every write (a write of
  // another controller sharing the cluster included), so a controller that
  // sees it move reads the state again.
  absl::StatusOr<uint64_t> Revision();

  // Where the state is, for logs: "etcd 127.0.0.1:2379,127.0.0.1:2381 under braid/".
  std::string Describe() const;

 private:
  explicit EtcdStore(EtcdOptions options) : options_(std::move(options)) {}

  // Call POSTs `body` to the v3 JSON gateway's `path` ("/v3/kv/range") on
  // the members in turn, and returns the answer of the first that gives
  // one: the parsed JSON of a 200, or an error naming what etcd said.
  absl::StatusOr<nlohmann::json> Call(std::string_view path, const nlohmann::json& body);
  // Range reads the keys starting with `prefix`, sorted, with their values
  // unless `keys_only` (then every value is ""): List and Scan.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Range(std::string_view prefix, bool keys_only);
  // Write is Put and Create: the txn described at the top of this file.
  absl::Status Write(std::string_view key, std::string_view value, bool create);
  // Clash finds a stored key that `key` clashes with (a whole-segment
  // prefix of it, or one it is a prefix of), "" if none, for the error of
  // a refused write.
  absl::StatusOr<std::string> Clash(const std::string& key);
  std::string Full(std::string_view key) const { return options_.prefix + std::string(key); }

  const EtcdOptions options_;
  std::atomic<size_t> preferred_{0};  // the member that answered last
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_STORE_ETCD_STORE_H_
