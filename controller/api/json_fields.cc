#include "controller/api/json_fields.h"

#include "absl/strings/str_cat.h"
#include "sft/json_document.h"

namespace braid::controller {
namespace {

const nlohmann::json& EmptyArray() {
  static const nlohmann::json* empty = new nlohmann::json(nlohmann::json::array());
  return *empty;
}

const nlohmann::json& EmptyObject() {
  static const nlohmann::json* empty = new nlohmann::json(nlohmann::json::object());
  return *empty;
}

std::string Quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string JsonFields::Shown(const std::string& key) {
  for (unsigned char c : key) {
    if (c < 0x20 || c >= 0x7f) return Quoted(key);
  }
  return key;
}

JsonFields::JsonFields(std::string_view text, std::string what) : what_(std::move(what)) {
  absl::StatusOr<sft::JsonDocument> doc = sft::ParseJsonDocument(text);
  if (!doc.ok()) {
    Fail(std::string(doc.status().message()));
    return;
  }
  if (!doc->duplicate_keys.empty()) {
    const auto& [pointer, keys] = *doc->duplicate_keys.begin();
    Fail(absl::StrCat("duplicate key ", Quoted(keys.front()), pointer.empty() ? "" : " in " + Shown(pointer)));
    return;
  }
  owned_ = std::move(doc->root);
  value_ = &owned_;
  if (!value_->is_object()) Fail(absl::StrCat("expected an object, got ", sft::JsonTypeName(*value_)));
}

JsonFields::JsonFields(const json* value, std::string what) : value_(value), what_(std::move(what)) {
  if (!value_->is_object()) Fail(absl::StrCat("expected an object, got ", sft::JsonTypeName(*value_)));
}

void JsonFields::Fail(const std::string& message) {
  if (error_.ok()) error_ = absl::InvalidArgumentError(absl::StrCat(what_, ": ", message));
}

const nlohmann::json* JsonFields::Find(const std::string& key, bool required, json::value_t type,
                                       const char* type_name) {
  if (!error_.ok()) return nullptr;
  read_.insert(key);
  auto it = value_->find(key);
  if (it == value_->end()) {
    if (required) Fail(absl::StrCat(key, ": required"));
    return nullptr;
  }
  const bool match = type == json::value_t::number_unsigned
                         ? it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0)
                         : it->type() == type;
  if (!match) {
    Fail(absl::StrCat(key, ": expected ", type_name, ", got ", sft::JsonTypeName(*it)));
    return nullptr;
  }
  return &*it;
}

std::string JsonFields::String(const std::string& key, bool required) {
  const json* v = Find(key, required, json::value_t::string, "a string");
  return v != nullptr ? v->get<std::string>() : std::string();
}

uint64_t JsonFields::Uint(const std::string& key, bool required) {
  const json* v = Find(key, required, json::value_t::number_unsigned, "a non-negative integer");
  return v != nullptr ? v->get<uint64_t>() : 0;
}

bool JsonFields::Bool(const std::string& key, bool required) {
  const json* v = Find(key, required, json::value_t::boolean, "true or false");
  return v != nullptr && v->get<bool>();
}

const nlohmann::json& JsonFields::Array(const std::string& key, bool required) {
  const json* v = Find(key, required, json::value_t::array, "an array");
  return v != nullptr ? *v : EmptyArray();
}

const nlohmann::json& JsonFields::Object(const std::string& key, bool required) {
  const json* v = Find(key, required, json::value_t::object, "an object");
  return v != nullptr ? *v : EmptyObject();
}

absl::Status JsonFields::Finish() {
  if (error_.ok() && value_ != nullptr) {
    for (const auto& [key, value] : value_->items()) {
      if (!read_.contains(key)) {
        Fail(absl::StrCat(Shown(key), ": unknown key"));
        break;
      }
    }
  }
  return error_;
}

}  // namespace braid::controller
