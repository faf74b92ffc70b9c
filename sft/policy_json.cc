// PolicyToJson: the canonical text of a policy. The controller stores and
// diffs this form, so it is stable: keys in a fixed order, single ports as
// numbers, ranges as "lo-hi", CIDRs with their length.
#include "absl/strings/str_cat.h"
#include "braid/policy.h"
#include "nlohmann/json.hpp"

namespace braid {
namespace {

using ordered_json = nlohmann::ordered_json;

template <typename T, typename F>
void PutList(ordered_json& object, const char* key, const std::optional<std::vector<T>>& list, F render) {
  if (!list) return;
  ordered_json array = ordered_json::array();
  for (const T& item : *list) array.push_back(render(item));
  object[key] = std::move(array);
}

ordered_json RenderPort(const PortRange& r) {
  if (r.lo == r.hi) return r.lo;
  return absl::StrCat(r.lo, "-", r.hi);
}

ordered_json RenderRule(const Rule& rule) {
  ordered_json out = ordered_json::object();
  out["id"] = rule.id;
  out["action"] = ActionName(rule.action);
  if (rule.proto != ProtoMatch::kAny) out["proto"] = rule.proto == ProtoMatch::kTcp ? "tcp" : "udp";
  auto cidr = [](const Cidr& c) { return c.ToString(); };
  auto name = [](const std::string& s) { return s; };
  PutList(out, "src", rule.src, cidr);
  PutList(out, "dst", rule.dst, cidr);
  PutList(out, "src_ports", rule.src_ports, RenderPort);
  PutList(out, "dst_ports", rule.dst_ports, RenderPort);
  PutList(out, "src_gateway", rule.src_gateway, name);
  PutList(out, "dst_gateway", rule.dst_gateway, name);
  if (!rule.comment.empty()) out["comment"] = rule.comment;
  return out;
}

}  // namespace

std::string PolicyToJson(const Policy& policy, int indent) {
  ordered_json out = ordered_json::object();
  if (!policy.name.empty()) out["name"] = policy.name;
  if (!policy.description.empty()) out["description"] = policy.description;
  out["default"] = ActionName(policy.default_action);
  ordered_json rules = ordered_json::array();
  for (const Rule& rule : policy.rules) rules.push_back(RenderRule(rule));
  out["rules"] = std::move(rules);
  return out.dump(indent, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace braid
