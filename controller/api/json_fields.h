// JsonFields: strict reading of the control API's JSON bodies.
//
// Every body the controller or a gateway accepts is an object with known
// members; anything else (a missing member, a wrong type, an unknown key, a
// duplicate key) is refused with a message that names the member, and the
// caller acts on nothing. The first error is kept; later reads return
// defaults and change nothing.
//
// Expected use:
//   JsonFields f(text, "report");
//   uint64_t v = f.Uint("policy_version");
//   std::string a = f.String("advertise", /*required=*/false);
//   if (absl::Status s = f.Finish(); !s.ok()) return s;
#ifndef BRAID_CONTROLLER_API_JSON_FIELDS_H_
#define BRAID_CONTROLLER_API_JSON_FIELDS_H_

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace braid::controller {

class JsonFields {
 public:
  using json = nlohmann::json;

  // Parses `text` (duplicate keys refused) and expects an object.
  JsonFields(std::string_view text, std::string what);
  // Reads an already parsed value, e.g. an element of an array; `value`
  // must outlive the reader.
  JsonFields(const json* value, std::string what);

  std::string String(const std::string& key, bool required = true);
  uint64_t Uint(const std::string& key, bool required = true);
  bool Bool(const std::string& key, bool required = true);
  // Array returns the member (an empty array when absent and not required).
  const json& Array(const std::string& key, bool required = true);
  const json& Object(const std::string& key, bool required = true);

  bool ok() const { return error_.ok(); }
  // Shown names a key from a body in an error message: as it is when it is
  // printable ASCII, else as a JSON string. A key may hold a newline, and
  // every message is one line (callers log them).
  static std::string Shown(const std::string& key);
  void Fail(const std::string& message);
  // Finish adds an error for any key that was not read, and returns the
  // first error or OK.
  absl::Status Finish();

 private:
  const json* Find(const std::string& key, bool required, json::value_t type, const char* type_name);

  json owned_;
  const json* value_ = nullptr;
  std::string what_;
  std::set<std::string> read_;
  absl::Status error_;
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_API_JSON_FIELDS_H_
