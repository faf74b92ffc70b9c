// Helpers shared by the fuzz targets in this directory: a broken invariant
// prints what broke (and the text it broke on) and aborts, which libFuzzer
// reports as a crash and the replay test as a failure.
#ifndef BRAID_TESTS_FUZZ_FUZZ_CHECK_H_
#define BRAID_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::fuzz {

[[noreturn]] inline void Fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz: invariant broken: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void Check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

inline std::string_view View(const absl::Status& status) {
  // absl::string_view is not std::string_view in every absl build.
  return std::string_view(status.message().data(), status.message().size());
}

// CheckRejection checks a parser's refusal: InvalidArgument, and every line
// of the message starts with `prefix` (errors are one per line, each naming
// the source), so no input can forge or split a line of its own.
inline void CheckRejection(const absl::Status& status, std::string_view prefix) {
  Check(status.code() == absl::StatusCode::kInvalidArgument, "rejection is not InvalidArgument", status.ToString());
  const std::string_view message = View(status);
  Check(!message.empty(), "empty error message");
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    Check(message.substr(start, end - start).starts_with(prefix),
          "an error line does not start with \"" + std::string(prefix) + "\"", message);
    start = end + 1;
  }
}

// CheckPath checks that a path the parser resolved is absolute and
// lexically normal.
inline void CheckPath(const std::string& path) {
  const std::filesystem::path p(path);
  Check(p.is_absolute() && p.lexically_normal() == p, "a path is not absolute and normal", path);
}

// CheckWrittenBack checks that `value`, written as JSON by `to_json`, parses
// back with `parse` to a value that writes the same JSON.
template <typename T, typename ToJson, typename Parse>
void CheckWrittenBack(const T& value, ToJson to_json, Parse parse) {
  const std::string text = to_json(value).dump(1);
  absl::StatusOr<T> again = parse(text);
  Check(again.ok(), "written back as JSON, it does not parse: " + again.status().ToString(), text);
  Check(to_json(*again) == to_json(value), "written back as JSON, it parses to another value", text);
}

}  // namespace braid::fuzz

#endif  // BRAID_TESTS_FUZZ_FUZZ_CHECK_H_
