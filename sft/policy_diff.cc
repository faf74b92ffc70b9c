#include "sft/policy_diff.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::sft {
namespace {

using nlohmann::json;

// IndexById maps each rule id to its first index.
absl::flat_hash_map<std::string, size_t> IndexById(const Policy& policy) {
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < policy.rules.size(); ++i) index.emplace(policy.rules[i].id, i);
  return index;
}

// LongestIncreasing returns flags marking one longest strictly increasing
// subsequence of `values` (patience sorting, O(n log n)).
std::vector<bool> LongestIncreasing(const std::vector<size_t>& values) {
  std::vector<size_t> tails;                              // tails[k]: index ending the best run of length k+1
  std::vector<size_t> previous(values.size(), SIZE_MAX);  // predecessor in that run
  for (size_t i = 0; i < values.size(); ++i) {
    auto it = std::lower_bound(tails.begin(), tails.end(), values[i],
                               [&](size_t tail, size_t value) { return values[tail] < value; });
    if (it != tails.begin()) previous[i] = *(it - 1);
    if (it == tails.end()) {
      tails.push_back(i);
    } else {
      *it = i;
    }
  }
  std::vector<bool> kept(values.size(), false);
  for (size_t i = tails.empty() ? SIZE_MAX : tails.back(); i != SIZE_MAX; i = previous[i]) kept[i] = true;
  return kept;
}

// ChangedFields names the fields in which two rules with the same id differ.
std::vector<std::string> ChangedFields(const Rule& a, const Rule& b) {
  std::vector<std::string> fields;
  if (a.action != b.action) fields.push_back("action");
  if (a.proto != b.proto) fields.push_back("proto");
  if (a.src != b.src) fields.push_back("src");
  if (a.dst != b.dst) fields.push_back("dst");
  if (a.src_ports != b.src_ports) fields.push_back("src_ports");
  if (a.dst_ports != b.dst_ports) fields.push_back("dst_ports");
  if (a.src_gateway != b.src_gateway) fields.push_back("src_gateway");
  if (a.dst_gateway != b.dst_gateway) fields.push_back("dst_gateway");
  if (a.comment != b.comment) fields.push_back("comment");
  return fields;
}

// Quoted renders a string as a JSON string, bad UTF-8 replaced.
std::string Quoted(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

bool PolicyDiff::empty() const {
  return added.empty() && removed.empty() && changed.empty() && moved.empty() && !default_action_changed &&
         !metadata_changed;
}

PolicyDiff DiffPolicies(const Policy& from, const Policy& to) {
  PolicyDiff diff;
  diff.default_action_changed = from.default_action != to.default_action;
  diff.metadata_changed = from.name != to.name || from.description != to.description;
  const absl::flat_hash_map<std::string, size_t> old_index = IndexById(from);
  const absl::flat_hash_map<std::string, size_t> new_index = IndexById(to);

  for (size_t i = 0; i < from.rules.size(); ++i) {
    const std::string& id = from.rules[i].id;
    if (old_index.at(id) == i && !new_index.contains(id)) diff.removed.push_back(id);
  }
  // The common ids in `to`'s order, with their index in `from`: a rule
  // outside the longest run of increasing old indexes is a moved one.
  std::vector<size_t> common_new;  // index in to.rules
  std::vector<size_t> common_old;  // index in from.rules
  for (size_t i = 0; i < to.rules.size(); ++i) {
    const Rule& rule = to.rules[i];
    if (new_index.at(rule.id) != i) continue;  // a repeated id
    auto old = old_index.find(rule.id);
    if (old == old_index.end()) {
      diff.added.push_back(rule.id);
      continue;
    }
    if (!(from.rules[old->second] == rule)) diff.changed.push_back(rule.id);
    common_new.push_back(i);
    common_old.push_back(old->second);
  }
  const std::vector<bool> in_order = LongestIncreasing(common_old);
  for (size_t k = 0; k < common_new.size(); ++k) {
    if (!in_order[k]) diff.moved.push_back({to.rules[common_new[k]].id, common_old[k], common_new[k]});
  }
  return diff;
}

std::string FormatPolicyDiff(const PolicyDiff& diff, const Policy& from, const Policy& to) {
  if (diff.empty()) return "no changes";
  std::vector<std::string> lines;
  if (from.name != to.name) lines.push_back(absl::StrCat("name ", Quoted(from.name), " -> ", Quoted(to.name)));
  if (from.description != to.description) lines.push_back("description changed");
  if (diff.default_action_changed) {
    lines.push_back(absl::StrCat("default ", ActionName(from.default_action), " -> ", ActionName(to.default_action)));
  }
  for (const std::string& id : diff.removed) lines.push_back(absl::StrCat("- rule ", id));
  for (const std::string& id : diff.added) lines.push_back(absl::StrCat("+ rule ", id));
  const absl::flat_hash_map<std::string, size_t> old_index = IndexById(from);
  const absl::flat_hash_map<std::string, size_t> new_index = IndexById(to);
  for (const std::string& id : diff.changed) {
    auto a = old_index.find(id);
    auto b = new_index.find(id);
    std::string line = absl::StrCat("~ rule ", id);
    if (a != old_index.end() && b != new_index.end()) {
      absl::StrAppend(&line, " (", absl::StrJoin(ChangedFields(from.rules[a->second], to.rules[b->second]), ", "),
                      ")");
    }
    lines.push_back(std::move(line));
  }
  for (const RuleMove& move : diff.moved) {
    lines.push_back(absl::StrCat("> rule ", move.id, " moved ", move.from + 1, " -> ", move.to + 1));
  }
  return absl::StrJoin(lines, "\n");
}

nlohmann::json PolicyDiffToJson(const PolicyDiff& diff) {
  json moved = json::array();
  for (const RuleMove& move : diff.moved) moved.push_back({{"id", move.id}, {"from", move.from}, {"to", move.to}});
  return {{"added", diff.added},
          {"removed", diff.removed},
          {"changed", diff.changed},
          {"moved", std::move(moved)},
          {"default_action_changed", diff.default_action_changed},
          {"metadata_changed", diff.metadata_changed}};
}

}  // namespace braid::sft
