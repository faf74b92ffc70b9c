#include "pki/boringssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace braid::pki {

std::string TakeBoringSslErrors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  while (uint32_t packed = ERR_get_error_line(&file, &line)) {
    const char* lib = ERR_lib_error_string(packed);
    const char* reason = ERR_reason_error_string(packed);
    if (!out.empty()) out += "; ";
    absl::StrAppend(&out, lib != nullptr ? lib : "unknown library", ":",
                    reason != nullptr ? reason : absl::StrCat("error ", ERR_GET_REASON(packed)));
  }
  return out;
}

absl::Status BoringSslError(absl::StatusCode code, std::string_view what) {
  std::string errors = TakeBoringSslErrors();
  std::string message(what);
  if (!errors.empty()) absl::StrAppend(&message, ": ", errors);
  return absl::Status(code, message);
}

}  // namespace braid::pki
