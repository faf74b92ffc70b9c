// ParseJsonDocument: strict JSON reading for the files braid accepts from
// operators (policies, configs).
//
// nlohmann::json on its own silently keeps the last of two equal keys in an
// object and recurses without bound on nested input. This reader builds the
// same DOM through the SAX interface, records every duplicate key with the
// JSON pointer of its object, and refuses nesting deeper than kMaxDepth.
#ifndef BRAID_SFT_JSON_DOCUMENT_H_
#define BRAID_SFT_JSON_DOCUMENT_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace braid::sft {

struct JsonDocument {
  nlohmann::json root;
  // JSON pointer of an object ("" for the root, "/rules/3" for the fourth
  // rule) to the keys that appeared in it more than once.
  std::map<std::string, std::vector<std::string>> duplicate_keys;
};

inline constexpr int kMaxJsonDepth = 64;

// ParseJsonDocument parses `text`. On a syntax error the status is
// InvalidArgument with the message `line L, column C: invalid JSON: WHAT`.
absl::StatusOr<JsonDocument> ParseJsonDocument(std::string_view text);

// JsonTypeName names a value's type as the error messages do: null,
// boolean, number, string, list or object.
const char* JsonTypeName(const nlohmann::json& value);

}  // namespace braid::sft

#endif  // BRAID_SFT_JSON_DOCUMENT_H_
