// ParsePolicy: JSON text to a validated Policy, reporting every error.
//
// Validation never stops at the first problem: each rule and each field is
// checked on its own and every error is collected, so an operator fixes a
// file in one pass. The policy is returned only when there are none: a
// policy is applied whole or not at all.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "braid/policy.h"
#include "sft/json_document.h"

namespace braid {
namespace {

using nlohmann::json;

constexpr size_t kMaxPolicyFileBytes = 64u << 20;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsName(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// ParseDecimal16 parses 1-5 decimal digits into a port; false on anything
// else (signs, spaces, empty, leading zeros, > 65535).
bool ParseDecimal16(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

// Quoted renders a string value as JSON would, for error messages.
std::string Quoted(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

class PolicyParser {
 public:
  explicit PolicyParser(std::string_view source) : source_(source) {}

  absl::StatusOr<Policy> Parse(std::string_view text) {
    absl::StatusOr<sft::JsonDocument> doc = sft::ParseJsonDocument(text);
    if (!doc.ok()) return absl::InvalidArgumentError(absl::StrCat(source_, ": ", doc.status().message()));
    duplicate_keys_ = std::move(doc->duplicate_keys);

    Policy policy;
    ParseTopLevel(doc->root, &policy);
    for (const auto& [pointer, keys] : duplicate_keys_) {
      for (const std::string& key : keys) {
        errors_.push_back(absl::StrCat(source_, ": ", Quoted(json(pointer)), ": duplicate key ", Quoted(json(key))));
      }
    }
    if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
    return policy;
  }

 private:
  // Error records `context: field: message`, each part only when non-empty.
  void Error(const std::string& context, const std::string& field, const std::string& message) {
    std::string line = absl::StrCat(source_, ": ");
    if (!context.empty()) absl::StrAppend(&line, context, ": ");
    if (!field.empty()) absl::StrAppend(&line, field, ": ");
    absl::StrAppend(&line, message);
    errors_.push_back(std::move(line));
  }

  void WrongType(const std::string& context, const std::string& field, const std::string& expected,
                 const json& got) {
    Error(context, field, absl::StrCat("expected ", expected, ", got ", sft::JsonTypeName(got)));
  }

  // TakeDuplicates reports the duplicate keys of the object at `pointer`
  // under `context`, and forgets them so they are not reported twice.
  void TakeDuplicates(const std::string& pointer, const std::string& context) {
    auto it = duplicate_keys_.find(pointer);
    if (it == duplicate_keys_.end()) return;
    for (const std::string& key : it->second) Error(context, "", absl::StrCat("duplicate key ", Quoted(json(key))));
    duplicate_keys_.erase(it);
  }

  void CheckKeys(const json& object, std::initializer_list<std::string_view> allowed,
                 const std::string& context) {
    for (const auto& [key, value] : object.items()) {
      bool known = false;
      for (std::string_view a : allowed) known = known || key == a;
      if (!known) Error(context, "", absl::StrCat("unknown key ", Quoted(json(key))));
    }
  }

  bool ParseAction(const json& value, const std::string& context, const std::string& field, Action* out) {
    if (!value.is_string()) {
      WrongType(context, field, "a string", value);
      return false;
    }
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "permit" || s == "deny") {
      *out = s == "permit" ? Action::kPermit : Action::kDeny;
      return true;
    }
    Error(context, field, absl::StrCat(Quoted(value), " must be \"permit\" or \"deny\""));
    return false;
  }

  void ParseString(const json& object, const std::string& key, const std::string& context, std::string* out) {
    auto it = object.find(key);
    if (it == object.end()) return;
    if (!it->is_string()) return WrongType(context, key, "a string", *it);
    *out = it->get<std::string>();
  }

  void ParseTopLevel(const json& root, Policy* policy) {
    if (!root.is_object()) {
      return Error("", "", absl::StrCat("expected a JSON object at the top level, got ", sft::JsonTypeName(root)));
    }
    TakeDuplicates("", "");
    CheckKeys(root, {"name", "description", "default", "rules"}, "");
    ParseString(root, "name", "", &policy->name);
    ParseString(root, "description", "", &policy->description);
    if (auto it = root.find("default"); it != root.end()) {
      ParseAction(*it, "", "default", &policy->default_action);
    }
    auto rules = root.find("rules");
    if (rules == root.end()) return Error("", "rules", "required");
    if (!rules->is_array()) return WrongType("", "rules", "a list", *rules);
    if (rules->empty()) return Error("", "rules", "must not be empty (a policy needs at least one rule)");

    std::map<std::string, size_t> first_index_of_id;
    policy->rules.reserve(rules->size());
    for (size_t i = 0; i < rules->size(); ++i) {
      Rule rule;
      if (ParseRule((*rules)[i], i, &first_index_of_id, &rule)) policy->rules.push_back(std::move(rule));
    }
  }

  // ParseRule validates rule number i. Returns false when it had errors.
  bool ParseRule(const json& object, size_t i, std::map<std::string, size_t>* ids, Rule* rule) {
    const size_t errors_before = errors_.size();
    std::string context = absl::StrCat("rule #", i + 1);
    if (!object.is_object()) {
      WrongType(context, "", "an object", object);
      return false;
    }
    // The id goes into the context of every later message, so read it first.
    auto id = object.find("id");
    if (id == object.end()) {
      Error(context, "id", "required");
    } else if (!id->is_string()) {
      WrongType(context, "id", "a string", *id);
    } else if (!IsName(id->get_ref<const std::string&>(), 64)) {
      Error(context, "id", absl::StrCat(Quoted(*id), " must be 1-64 characters of A-Za-z0-9_.-"));
    } else {
      rule->id = id->get<std::string>();
      absl::StrAppend(&context, " (id ", Quoted(*id), ")");
      auto [it, inserted] = ids->emplace(rule->id, i);
      if (!inserted) Error(context, "id", absl::StrCat("duplicate of rule #", it->second + 1));
    }

    TakeDuplicates(absl::StrCat("/rules/", i), context);
    CheckKeys(object,
              {"id", "action", "proto", "src", "dst", "src_ports", "dst_ports", "src_gateway",
               "dst_gateway", "comment"},
              context);

    if (auto it = object.find("action"); it == object.end()) {
      Error(context, "action", "required");
    } else {
      ParseAction(*it, context, "action", &rule->action);
    }
    if (auto it = object.find("proto"); it != object.end()) ParseProto(*it, context, &rule->proto);
    ParseList(object, "src", context, &rule->src, &PolicyParser::ParseCidr);
    ParseList(object, "dst", context, &rule->dst, &PolicyParser::ParseCidr);
    ParseList(object, "src_ports", context, &rule->src_ports, &PolicyParser::ParsePort);
    ParseList(object, "dst_ports", context, &rule->dst_ports, &PolicyParser::ParsePort);
    ParseList(object, "src_gateway", context, &rule->src_gateway, &PolicyParser::ParseGateway);
    ParseList(object, "dst_gateway", context, &rule->dst_gateway, &PolicyParser::ParseGateway);
    ParseString(object, "comment", context, &rule->comment);
    return errors_.size() == errors_before;
  }

  void ParseProto(const json& value, const std::string& context, ProtoMatch* out) {
    if (!value.is_string()) return WrongType(context, "proto", "a string", value);
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "tcp") {
      *out = ProtoMatch::kTcp;
    } else if (s == "udp") {
      *out = ProtoMatch::kUdp;
    } else if (s == "any") {
      *out = ProtoMatch::kAny;
    } else {
      Error(context, "proto", absl::StrCat(Quoted(value), " must be \"tcp\", \"udp\" or \"any\""));
    }
  }

  // ParseList validates a list field element by element with `parse`.
  template <typename T>
  void ParseList(const json& object, const std::string& key, const std::string& context,
                 std::optional<std::vector<T>>* out,
                 bool (PolicyParser::*parse)(const json&, const std::string&, const std::string&, T*)) {
    auto it = object.find(key);
    if (it == object.end()) return;
    if (!it->is_array()) return WrongType(context, key, "a list", *it);
    if (it->empty()) return Error(context, key, "must not be empty (leave the field out to match any)");
    std::vector<T> items;
    items.reserve(it->size());
    bool ok = true;
    for (size_t i = 0; i < it->size(); ++i) {
      T item;
      if ((this->*parse)((*it)[i], context, absl::StrCat(key, "[", i, "]"), &item)) {
        items.push_back(std::move(item));
      } else {
        ok = false;
      }
    }
    if (ok) *out = std::move(items);
  }

  bool ParseCidr(const json& value, const std::string& context, const std::string& field, Cidr* out) {
    if (!value.is_string()) {
      WrongType(context, field, "a string", value);
      return false;
    }
    std::optional<Cidr> cidr = Cidr::Parse(value.get_ref<const std::string&>());
    if (!cidr) {
      Error(context, field, absl::StrCat(Quoted(value), " is not a CIDR"));
      return false;
    }
    *out = *cidr;
    return true;
  }

  bool ParsePort(const json& value, const std::string& context, const std::string& field, PortRange* out) {
    if (value.is_number()) {
      if (value.is_number_unsigned() && value.get<uint64_t>() <= 65535) {
        out->lo = out->hi = static_cast<uint16_t>(value.get<uint64_t>());
        return true;
      }
      if (value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() <= 65535) {
        out->lo = out->hi = static_cast<uint16_t>(value.get<int64_t>());
        return true;
      }
      Error(context, field, absl::StrCat(value.dump(), " is not a port (0-65535)"));
      return false;
    }
    if (!value.is_string()) {
      WrongType(context, field, "a number or string", value);
      return false;
    }
    std::string_view s = value.get_ref<const std::string&>();
    size_t dash = s.find('-');
    if (dash == std::string_view::npos || !ParseDecimal16(s.substr(0, dash), &out->lo) ||
        !ParseDecimal16(s.substr(dash + 1), &out->hi)) {
      Error(context, field, absl::StrCat(Quoted(value), " is not a port or \"lo-hi\" range"));
      return false;
    }
    if (out->lo > out->hi) {
      Error(context, field, absl::StrCat(Quoted(value), " is a range with lo > hi"));
      return false;
    }
    return true;
  }

  bool ParseGateway(const json& value, const std::string& context, const std::string& field, std::string* out) {
    if (!value.is_string()) {
      WrongType(context, field, "a string", value);
      return false;
    }
    if (!IsName(value.get_ref<const std::string&>(), 253)) {
      Error(context, field, absl::StrCat(Quoted(value), " is not a gateway name"));
      return false;
    }
    *out = value.get<std::string>();
    return true;
  }

  std::string source_;
  std::map<std::string, std::vector<std::string>> duplicate_keys_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<Policy> ParsePolicy(std::string_view json_text, std::string_view source) {
  return PolicyParser(source).Parse(json_text);
}

absl::StatusOr<Policy> LoadPolicyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  std::string text = std::move(buffer).str();
  if (text.size() > kMaxPolicyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxPolicyFileBytes >> 20, " MiB; refusing to parse"));
  }
  return ParsePolicy(text, path);
}

}  // namespace braid
