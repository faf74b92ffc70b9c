#include "sft/json_document.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace braid::sft {
namespace {

using nlohmann::json;

// DomBuilder is a SAX handler that builds a json value like nlohmann's own
// DOM parser, but notices duplicate keys and bounds the depth.
class DomBuilder : public nlohmann::json_sax<json> {
 public:
  explicit DomBuilder(JsonDocument* out) : out_(out) {}

  bool null() override { return Put(json(nullptr)); }
  bool boolean(bool v) override { return Put(json(v)); }
  bool number_integer(number_integer_t v) override { return Put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Put(json(v)); }
  bool string(string_t& v) override { return Put(json(std::move(v))); }
  bool binary(binary_t& v) override { return Put(json::binary(std::move(v))); }

  bool start_object(std::size_t) override { return Open(json::object()); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_array() override { return Close(); }

  bool key(string_t& k) override {
    json& object = *stack_.back().value;
    if (object.contains(k)) out_->duplicate_keys[stack_.back().pointer].push_back(k);
    pending_key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error_ = ex.what();
    return false;
  }

  const std::string& error() const { return error_; }
  bool too_deep() const { return too_deep_; }

 private:
  struct Frame {
    json* value;
    std::string pointer;  // JSON pointer of this container
  };

  // Slot returns where the next value goes, and its JSON pointer.
  std::pair<json*, std::string> Slot() {
    if (stack_.empty()) return {&out_->root, ""};
    Frame& top = stack_.back();
    if (top.value->is_array()) {
      std::string pointer = absl::StrCat(top.pointer, "/", top.value->size());
      top.value->push_back(nullptr);
      return {&top.value->back(), std::move(pointer)};
    }
    return {&(*top.value)[pending_key_], absl::StrCat(top.pointer, "/", pending_key_)};
  }

  bool Put(json v) {
    *Slot().first = std::move(v);
    return true;
  }

  bool Open(json container) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      too_deep_ = true;
      return false;
    }
    auto [slot, pointer] = Slot();
    *slot = std::move(container);
    stack_.push_back({slot, std::move(pointer)});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  JsonDocument* out_;
  std::vector<Frame> stack_;
  std::string pending_key_;
  std::string error_;
  bool too_deep_ = false;
};

// Position of a 1-based byte offset as a line and column, both from 1.
std::pair<size_t, size_t> LineColumn(std::string_view text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

absl::StatusOr<JsonDocument> ParseJsonDocument(std::string_view text) {
  // nlohmann's reader stops at a NUL byte as if the input ended there, which
  // would silently ignore whatever follows: refuse it instead.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    auto [line, column] = LineColumn(text, nul + 1);
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ", column ", column, ": invalid JSON: NUL byte in the input"));
  }
  JsonDocument doc;
  DomBuilder builder(&doc);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const json::exception& e) {
    // sax_parse reports errors through parse_error; anything thrown is an
    // input the lexer could not represent.
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (ok) return doc;
  if (builder.too_deep()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: nested deeper than ", kMaxJsonDepth, " levels"));
  }
  // nlohmann's message reads "[json.exception.parse_error.101] parse error
  // at line 3, column 7: syntax error ..."; keep the position and the reason.
  std::string what = builder.error();
  size_t at = what.find(" at line ");
  size_t colon = what.find(": ", at == std::string::npos ? 0 : at);
  if (at != std::string::npos && colon != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what.substr(at + 4, colon - at - 4),
                                                   ": invalid JSON: ", what.substr(colon + 2)));
  }
  auto [line, column] = LineColumn(text, text.size() + 1);
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ", column ", column, ": invalid JSON: ", what));
}

const char* JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "object";
    default:
      return "binary";
  }
}

}  // namespace braid::sft
