// ConfigReader: typed, error-collecting access to a strictly parsed JSON
// config. Internal to proxy/config.
//
// A config is validated in one pass that never stops at the first problem:
// every read either stores a value or records an error, and the caller goes
// on with the next key, so that an operator fixes a file in one round. Each
// error is one line, `SOURCE: KEY.PATH: what is wrong` (just
// `SOURCE: what is wrong` at the top level). The reader is single-use and
// not thread-safe; it lives for one parse.
//
// Expected use:
//   ConfigReader r("gw.json", std::move(doc));
//   if (r.Object(r.root(), {}, {"name", "tunnel"})) {
//     if (const json* v = r.Require(r.root(), {}, "name")) r.ReadString(*v, JsonPath().Key("name"), &name);
//   }
//   absl::Status status = r.Finish();
#ifndef BRAID_PROXY_CONFIG_CONFIG_READER_H_
#define BRAID_PROXY_CONFIG_CONFIG_READER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "proxy/config/gateway_config.h"
#include "sft/json_document.h"

namespace braid::proxy {

// JsonPath names one value two ways: as an operator reads it in an error
// ("services[1].target") and as the JSON pointer ("/services/1/target") that
// sft::JsonDocument uses for duplicate keys. Default-constructed: the root.
struct JsonPath {
  std::string dotted;
  std::string pointer;

  JsonPath Key(const std::string& key) const;
  JsonPath Index(size_t i) const;
};

// What an endpoint key accepts.
struct EndpointRule {
  bool allow_name = false;       // a DNS name as host (resolved later), else an IP literal only
  bool allow_port_zero = false;  // port 0: "any free port", for listeners in tests
};

class ConfigReader {
 public:
  using json = nlohmann::json;

  ConfigReader(std::string source, sft::JsonDocument document);

  const json& root() const { return document_.root; }

  // Error records `SOURCE: AT: message`.
  void Error(const JsonPath& at, const std::string& message);
  // WrongType records "expected EXPECTED, got TYPE".
  void WrongType(const JsonPath& at, const std::string& expected, const json& got);

  // Object returns true if `value` is an object, after recording its
  // duplicate keys and every key not in `known_keys`. Returns false (and
  // records a type error) otherwise.
  bool Object(const json& value, const JsonPath& at, std::initializer_list<const char*> known_keys);
  // List returns true if `value` is a list; records a type error otherwise.
  bool List(const json& value, const JsonPath& at);

  // Find returns member `key` of `object`, or nullptr when it is absent.
  static const json* Find(const json& object, const std::string& key);
  // Require is Find that records "KEY: required" when the key is absent.
  const json* Require(const json& object, const JsonPath& at, const std::string& key);

  // The Read functions store a valid value in *out and return true, or
  // record one error and return false, leaving *out as it was.
  bool ReadString(const json& value, const JsonPath& at, std::string* out);  // any string
  bool ReadBool(const json& value, const JsonPath& at, bool* out);
  // ReadInteger accepts a JSON integer in [min, max]; `range` (e.g. "64 KiB
  // - 1 GiB") is added to the message for ranges that read better in units.
  bool ReadInteger(const json& value, const JsonPath& at, uint64_t min, uint64_t max, uint64_t* out,
                   const std::string& range = "");
  // ReadTimeout accepts a ParseDuration string greater than zero.
  bool ReadTimeout(const json& value, const JsonPath& at, Duration* out);
  bool ReadEndpoint(const json& value, const JsonPath& at, EndpointRule rule, Endpoint* out);
  // ReadPath accepts a non-empty string and stores it resolved against
  // `base_dir` (an absolute directory), lexically normalized.
  bool ReadPath(const json& value, const JsonPath& at, const std::filesystem::path& base_dir, std::string* out);

  size_t error_count() const { return errors_.size(); }

  // Finish records the duplicate keys of objects no Object call visited
  // (inside unknown keys, say), then returns OK if no error was recorded, or
  // InvalidArgument with every error, one per line.
  absl::Status Finish();

  // Quoted renders a JSON value as JSON text for an error message.
  static std::string Quoted(const json& value);

 private:
  std::string PointerToDotted(const std::string& pointer) const;

  std::string source_;
  sft::JsonDocument document_;
  std::vector<std::string> errors_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_CONFIG_CONFIG_READER_H_
