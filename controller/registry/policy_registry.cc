#include "controller/registry/policy_registry.h"

#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/api/json_fields.h"
#include "sft/compile.h"

namespace braid::controller {
namespace {

constexpr char kPrefix[] = "policy/v";

std::string VersionKey(uint64_t version) { return absl::StrFormat("policy/v%010d", version); }

// Validate runs the engine `braidctl policy check` runs. Returns the parsed
// policy, or InvalidArgument with every error.
absl::StatusOr<Policy> Validate(const std::string& text) {
  absl::StatusOr<Policy> policy = ParsePolicy(text, "policy");
  if (!policy.ok()) return policy.status();
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::Compile(*policy);
  if (!table.ok()) return table.status();
  return policy;
}

}  // namespace

std::string NowRfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<std::unique_ptr<PolicyRegistry>> PolicyRegistry::Load(controller::Store& store) {
  std::unique_ptr<PolicyRegistry> registry(new PolicyRegistry(store));
  if (absl::StatusOr<bool> read = registry->Refresh(); !read.ok()) return read.status();
  return registry;
}

absl::StatusOr<bool> PolicyRegistry::Refresh() {
  absl::StatusOr<std::vector<std::string>> keys = store_.List(kPrefix);
  if (!keys.ok()) return keys.status();
  // Versions are numbered without gaps and never change: the first
  // versions_.size() keys are those already read.
  const size_t before = versions_.size();
  for (size_t i = before; i < keys->size(); ++i) {
    const std::string& key = (*keys)[i];
    absl::StatusOr<std::string> record = store_.Get(key);
    if (!record.ok()) return record.status();
    PolicyVersion v;
    JsonFields f(std::string_view(*record), key);
    v.version = f.Uint("version");
    v.text = f.String("text");
    v.created_at = f.String("created_at");
    v.created_by = f.String("created_by");
    v.origin = f.String("origin");
    if (absl::Status s = f.Finish(); !s.ok()) return absl::DataLossError(s.message());
    if (key != VersionKey(v.version) || v.version != versions_.size() + 1) {
      return absl::DataLossError(absl::StrCat(key, ": version ", v.version, " out of sequence"));
    }
    absl::StatusOr<Policy> policy = ParsePolicy(v.text, key);
    if (!policy.ok()) return absl::DataLossError(policy.status().message());
    v.rules = policy->rules.size();
    versions_.push_back(std::move(v));
  }
  return versions_.size() != before;
}

const PolicyVersion* PolicyRegistry::Current() const { return versions_.empty() ? nullptr : &versions_.back(); }

const PolicyVersion* PolicyRegistry::Find(uint64_t version) const {
  if (version == 0 || version > versions_.size()) return nullptr;
  return &versions_[version - 1];
}

absl::StatusOr<ApplyResult> PolicyRegistry::Apply(const std::string& text, const std::string& by, bool dry_run) {
  return Commit(text, by, "apply", dry_run);
}

absl::StatusOr<ApplyResult> PolicyRegistry::Rollback(uint64_t version, const std::string& by) {
  const PolicyVersion* old = Find(version);
  if (old == nullptr) {
    return absl::NotFoundError(absl::StrCat("no policy version ", version, " (versions 1 to ", versions_.size(), ")"));
  }
  return Commit(old->text, by, absl::StrCat("rollback to ", version), false);
}

absl::StatusOr<ApplyResult> PolicyRegistry::Commit(const std::string& text, const std::string& by,
                                                   const std::string& origin, bool dry_run) {
  absl::StatusOr<Policy> next = Validate(text);
  if (!next.ok()) return next.status();
  // Up to date first (another controller sharing the store may have stored
  // versions since), so that the diff is against the real current version
  // and only a true race ends in a conflict.
  if (absl::StatusOr<bool> read = Refresh(); !read.ok()) return read.status();
  Policy current;
  if (const PolicyVersion* cur = Current()) {
    absl::StatusOr<Policy> parsed = ParsePolicy(cur->text, "current policy");
    if (parsed.ok()) current = *std::move(parsed);
  }
  ApplyResult result;
  result.version = versions_.size() + 1;
  result.diff = sft::DiffPolicies(current, *next);
  result.diff_text = sft::FormatPolicyDiff(result.diff, current, *next);
  if (dry_run) return result;

  PolicyVersion v{result.version, text, NowRfc3339(), by, origin, next->rules.size()};
  nlohmann::json record = {{"version", v.version},       {"text", v.text},   {"created_at", v.created_at},
                           {"created_by", v.created_by}, {"origin", origin}};
  if (absl::Status s = store_.Create(VersionKey(v.version), record.dump()); !s.ok()) {
    if (!absl::IsAlreadyExists(s)) return s;
    // Another controller sharing the store took this version number.
    (void)Refresh();
    return absl::AbortedError(absl::StrCat("policy version ", v.version,
                                           " was stored meanwhile through another controller; yours was not "
                                           "stored: see `braidctl policy get`, then apply again"));
  }
  versions_.push_back(std::move(v));
  result.stored = true;
  return result;
}

nlohmann::json PolicyRegistry::VersionToJson(const PolicyVersion& v, bool with_text) {
  nlohmann::json out = {{"version", v.version},       {"created_at", v.created_at}, {"created_by", v.created_by},
                        {"origin", v.origin},         {"rules", v.rules}};
  if (with_text) out["text"] = v.text;
  return out;
}

}  // namespace braid::controller
