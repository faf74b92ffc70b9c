#include "controller/store/store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace braid::controller {
namespace {

bool IsKeyChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'; }

// CheckKeyText applies the key rules to `text`. With `partial_tail`, the
// text after the last '/' is the start of a segment, which may be empty or
// "." (".x" is a valid segment); every segment before it is checked whole.
absl::Status CheckKeyText(std::string_view text, bool partial_tail) {
  const char* what = partial_tail ? "key prefix" : "key";
  if (text.size() > kMaxStoreKeyLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", text.size(), " characters long; at most ", kMaxStoreKeyLength, " are allowed"));
  }
  if (text.empty() && !partial_tail) return absl::InvalidArgumentError("key is empty");
  size_t start = 0;  // of the current segment
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '/') {
      if (!IsKeyChar(text[i])) {
        return absl::InvalidArgumentError(absl::StrCat(what, " \"", absl::CHexEscape(std::string(text)), "\": character ", i + 1,
                                                       " is not one of a-z 0-9 . _ - /"));
      }
      continue;
    }
    if (i == text.size() && partial_tail) break;
    const std::string_view segment = text.substr(start, i - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return absl::InvalidArgumentError(absl::StrCat(what, " \"", std::string(text), "\": ",
                                                     segment.empty() ? "empty segment" : "segment \".\" or \"..\"",
                                                     " at character ", start + 1));
    }
    start = i + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateStoreKey(std::string_view key) { return CheckKeyText(key, /*partial_tail=*/false); }

absl::Status ValidateStoreKeyPrefix(std::string_view prefix) { return CheckKeyText(prefix, /*partial_tail=*/true); }

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::Scan(std::string_view prefix) {
  absl::StatusOr<std::vector<std::string>> keys = List(prefix);
  if (!keys.ok()) return keys.status();
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(keys->size());
  for (std::string& key : *keys) {
    absl::StatusOr<std::string> value = Get(key);
    if (absl::IsNotFound(value.status())) continue;
    if (!value.ok()) return value.status();
    out.emplace_back(std::move(key), *std::move(value));
  }
  return out;
}

}  // namespace braid::controller
