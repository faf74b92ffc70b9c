#include "proxy/config/config_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::proxy {
namespace {

using nlohmann::json;

// EditDistance is the Levenshtein distance, for "did you mean" hints on
// unknown keys; keys are short, so the quadratic table is fine.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Join(const std::string& dotted, const std::string& part) {
  return dotted.empty() ? part : absl::StrCat(dotted, ".", part);
}

}  // namespace

JsonPath JsonPath::Key(const std::string& key) const {
  return {Join(dotted, key), absl::StrCat(pointer, "/", key)};
}

JsonPath JsonPath::Index(size_t i) const {
  return {absl::StrCat(dotted, "[", i, "]"), absl::StrCat(pointer, "/", i)};
}

ConfigReader::ConfigReader(std::string source, sft::JsonDocument document)
    : source_(std::move(source)), document_(std::move(document)) {}

std::string ConfigReader::Quoted(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void ConfigReader::Error(const JsonPath& at, const std::string& message) {
  if (at.dotted.empty()) {
    errors_.push_back(absl::StrCat(source_, ": ", message));
  } else {
    errors_.push_back(absl::StrCat(source_, ": ", at.dotted, ": ", message));
  }
}

void ConfigReader::WrongType(const JsonPath& at, const std::string& expected, const json& got) {
  Error(at, absl::StrCat("expected ", expected, ", got ", sft::JsonTypeName(got)));
}

bool ConfigReader::Object(const json& value, const JsonPath& at, std::initializer_list<const char*> known_keys) {
  if (!value.is_object()) {
    if (at.dotted.empty()) {
      Error(at, absl::StrCat("expected a JSON object at the top level, got ", sft::JsonTypeName(value)));
    } else {
      WrongType(at, "an object", value);
    }
    return false;
  }
  if (auto it = document_.duplicate_keys.find(at.pointer); it != document_.duplicate_keys.end()) {
    for (const std::string& key : it->second) Error(at, absl::StrCat("duplicate key ", Quoted(json(key))));
    document_.duplicate_keys.erase(it);
  }
  for (const auto& [key, member] : value.items()) {
    const char* best = nullptr;
    size_t best_distance = 0;
    bool known = false;
    for (const char* k : known_keys) {
      if (key == k) {
        known = true;
        break;
      }
      const size_t distance = EditDistance(key, k);
      if (best == nullptr || distance < best_distance) {
        best = k;
        best_distance = distance;
      }
    }
    if (known) continue;
    std::string message = absl::StrCat("unknown key ", Quoted(json(key)));
    // Only close misspellings get a hint; a wild guess would mislead.
    if (best != nullptr && best_distance <= 2 && best_distance < key.size()) {
      absl::StrAppend(&message, " (did you mean \"", best, "\"?)");
    }
    Error(at, message);
  }
  return true;
}

bool ConfigReader::List(const json& value, const JsonPath& at) {
  if (value.is_array()) return true;
  WrongType(at, "a list", value);
  return false;
}

const nlohmann::json* ConfigReader::Find(const json& object, const std::string& key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const nlohmann::json* ConfigReader::Require(const json& object, const JsonPath& at, const std::string& key) {
  const json* value = Find(object, key);
  if (value == nullptr) Error(at.Key(key), "required");
  return value;
}

bool ConfigReader::ReadString(const json& value, const JsonPath& at, std::string* out) {
  if (!value.is_string()) {
    WrongType(at, "a string", value);
    return false;
  }
  *out = value.get<std::string>();
  return true;
}

bool ConfigReader::ReadBool(const json& value, const JsonPath& at, bool* out) {
  if (!value.is_boolean()) {
    WrongType(at, "a boolean (true or false)", value);
    return false;
  }
  *out = value.get<bool>();
  return true;
}

bool ConfigReader::ReadInteger(const json& value, const JsonPath& at, uint64_t min, uint64_t max, uint64_t* out,
                               const std::string& range) {
  if (!value.is_number()) {
    WrongType(at, "a number", value);
    return false;
  }
  const std::string bounds = absl::StrCat(min, "-", max, range.empty() ? "" : absl::StrCat(", ", range));
  if (value.is_number_float()) {
    Error(at, absl::StrCat(value.dump(), " is not an integer (", bounds, ")"));
    return false;
  }
  // A negative number is never in range; nlohmann keeps it as a signed
  // integer, so it must not be read as uint64_t.
  if (value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0) {
    Error(at, absl::StrCat(value.dump(), " is out of range (", bounds, ")"));
    return false;
  }
  const uint64_t v = value.get<uint64_t>();
  if (v < min || v > max) {
    Error(at, absl::StrCat(value.dump(), " is out of range (", bounds, ")"));
    return false;
  }
  *out = v;
  return true;
}

bool ConfigReader::ReadTimeout(const json& value, const JsonPath& at, Duration* out) {
  if (!value.is_string()) {
    WrongType(at, "a duration string such as \"60s\"", value);
    return false;
  }
  std::optional<Duration> duration = ParseDuration(value.get<std::string>());
  if (!duration) {
    Error(at, absl::StrCat(Quoted(value), " is not a duration (an integer and a unit: ms, s, m or h, as in \"60s\")"));
    return false;
  }
  if (duration->count() == 0) {
    Error(at, absl::StrCat(Quoted(value), ": must be greater than zero"));
    return false;
  }
  *out = *duration;
  return true;
}

bool ConfigReader::ReadEndpoint(const json& value, const JsonPath& at, EndpointRule rule, Endpoint* out) {
  if (!value.is_string()) {
    WrongType(at, "a string \"host:port\"", value);
    return false;
  }
  const std::string text = value.get<std::string>();
  const char* form = rule.allow_name ? "host:port" : "IP:port";
  const char* ports = rule.allow_port_zero ? "port 0-65535" : "port 1-65535";
  std::optional<Endpoint> endpoint = ParseEndpoint(text, rule.allow_name);
  if (!endpoint) {
    // Say why when it is the one thing that is wrong: a name where only an
    // address will do.
    if (!rule.allow_name && ParseEndpoint(text, true)) {
      Error(at, absl::StrCat(Quoted(value), ": the host must be an IP address here, not a name"));
    } else {
      Error(at, absl::StrCat(Quoted(value), " is not ", form, " (", ports, "; IPv6 as [addr]:port)"));
    }
    return false;
  }
  if (endpoint->port == 0 && !rule.allow_port_zero) {
    Error(at, absl::StrCat(Quoted(value), " is not ", form, " (", ports, ")"));
    return false;
  }
  *out = std::move(*endpoint);
  return true;
}

bool ConfigReader::ReadPath(const json& value, const JsonPath& at, const std::filesystem::path& base_dir,
                            std::string* out) {
  std::string text;
  if (!ReadString(value, at, &text)) return false;
  if (text.empty()) {
    Error(at, "must not be empty");
    return false;
  }
  if (text.find('\0') != std::string::npos) {
    Error(at, "must not contain a NUL character");
    return false;
  }
  // operator/ keeps an absolute right-hand side as it is.
  *out = (base_dir / std::filesystem::path(text)).lexically_normal().string();
  return true;
}

std::string ConfigReader::PointerToDotted(const std::string& pointer) const {
  // Walk the document so that list indexes print as [i]; a key that itself
  // contains '/' derails the walk, and then the raw pointer is shown.
  std::string dotted;
  const json* node = &document_.root;
  size_t pos = 0;  // at the '/' that starts the next part
  while (pos < pointer.size()) {
    size_t next = pointer.find('/', pos + 1);
    if (next == std::string::npos) next = pointer.size();
    const std::string part = pointer.substr(pos + 1, next - pos - 1);
    pos = next;
    if (node->is_array()) {
      size_t i = 0;
      if (part.empty() || part.size() > 9) return pointer;
      for (char c : part) {
        if (c < '0' || c > '9') return pointer;
        i = i * 10 + static_cast<size_t>(c - '0');
      }
      if (i >= node->size()) return pointer;
      absl::StrAppend(&dotted, "[", part, "]");
      node = &(*node)[i];
    } else if (node->is_object() && node->contains(part)) {
      dotted = Join(dotted, part);
      node = &(*node)[part];
    } else {
      return pointer;
    }
  }
  return dotted;
}

absl::Status ConfigReader::Finish() {
  for (const auto& [pointer, keys] : document_.duplicate_keys) {
    // The path is made of keys as written, which may hold any character: a
    // newline would split the error in two lines, the second without the
    // source. Such a path is shown as the quoted JSON pointer instead.
    std::string dotted = PointerToDotted(pointer);
    if (std::any_of(dotted.begin(), dotted.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      dotted = Quoted(json(pointer));
    }
    const JsonPath at{std::move(dotted), pointer};
    for (const std::string& key : keys) Error(at, absl::StrCat("duplicate key ", Quoted(json(key))));
  }
  document_.duplicate_keys.clear();
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
}

}  // namespace braid::proxy
