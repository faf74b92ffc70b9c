// PolicyRegistry: every version of the fleet's Security Filter Table.
//
// Versions are numbered from 1 and never change once stored: an apply adds
// the next version, and so does a rollback (a copy of the old version's
// text, so the history reads as what happened). The current policy is the
// highest version. Each version is one record in the Store
// ("policy/v0000000042"), written with Store::Create: an apply is a single
// atomic, durable write, so a crash leaves the registry with the old
// current version or the new one, and nothing else to repair.
//
// Every text is validated by the same engine as `braidctl policy check`
// (ParsePolicy, then Compile) before it is stored; a text that fails is
// refused with every error and nothing changes.
//
// Controllers sharing one store (etcd): each keeps the versions in memory
// and reads those the others add (Refresh). Two applies at once through two
// controllers both try to create the same next version; the store lets
// exactly one do so, and the other apply fails with Aborted (a conflict:
// nothing of it is stored) after reading the version that won.
//
// Thread-safety: none; the controller's single event loop owns it.
#ifndef BRAID_CONTROLLER_REGISTRY_POLICY_REGISTRY_H_
#define BRAID_CONTROLLER_REGISTRY_POLICY_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/policy.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"
#include "sft/policy_diff.h"

namespace braid::controller {

struct PolicyVersion {
  uint64_t version = 0;
  std::string text;        // the SFT as submitted
  std::string created_at;  // RFC 3339, UTC
  std::string created_by;  // the admin certificate's name
  std::string origin;      // "apply", or "rollback to N"
  size_t rules = 0;
};

struct ApplyResult {
  uint64_t version = 0;   // the new version (that would be, on a dry run)
  bool stored = false;
  sft::PolicyDiff diff;   // against the current version (an empty policy if none)
  std::string diff_text;
};

class PolicyRegistry {
 public:
  // Load reads every stored version. Returns DataLoss naming the record
  // that does not parse (the store never writes one, so it means the state
  // directory was edited or damaged).
  static absl::StatusOr<std::unique_ptr<PolicyRegistry>> Load(Store& store);

  // Current returns the highest version, or null when none is stored.
  const PolicyVersion* Current() const;
  // Find returns version `version`, or null.
  const PolicyVersion* Find(uint64_t version) const;
  const std::vector<PolicyVersion>& versions() const { return versions_; }

  // Apply validates `text` and, unless `dry_run`, stores it as the next
  // version. Returns InvalidArgument with every error of the text, Aborted
  // when another controller stored that version first, or the store's
  // error (nothing is then stored).
  absl::StatusOr<ApplyResult> Apply(const std::string& text, const std::string& by, bool dry_run);

  // Rollback stores version `version`'s text as the next version. Returns
  // NotFound for a version that does not exist.
  absl::StatusOr<ApplyResult> Rollback(uint64_t version, const std::string& by);

  // Refresh reads the versions stored since (by another controller sharing
  // the store). Returns whether there were any; DataLoss as Load.
  absl::StatusOr<bool> Refresh();

  static nlohmann::json VersionToJson(const PolicyVersion& v, bool with_text);

 private:
  explicit PolicyRegistry(Store& store) : store_(store) {}
  absl::StatusOr<ApplyResult> Commit(const std::string& text, const std::string& by, const std::string& origin,
                                    bool dry_run);

  controller::Store& store_;
  std::vector<PolicyVersion> versions_;  // ascending, versions_[i].version == i + 1
};

// NowRfc3339 returns the current UTC time as "2026-11-23T18:00:25Z".
std::string NowRfc3339();

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_REGISTRY_POLICY_REGISTRY_H_
