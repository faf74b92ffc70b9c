// Fuzz target for the controller API's JSON bodies. Every input goes
// through each reader a body meets:
//   - ParseGatewayState (what a gateway takes from the controller) and
//     ParseGatewayReport (what the controller takes from a gateway): a
//     refusal is InvalidArgument naming the message; an accepted value,
//     written back with GatewayStateToJson / GatewayReportToJson, parses
//     again to the same value;
//   - JsonFields, read the way controller/server/api_server.cc reads the
//     admin and enrollment bodies (token request, revoke, apply, rollback,
//     enroll): its verdict must agree with a model of the rule it promises
//     (an object without duplicate keys, every required member present,
//     every member read of the right type, no other member), the values it
//     returns must be the document's, and a body rebuilt from them must be
//     read back the same.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// controller_api_fuzz_replay, which replays the seed corpus as a test.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/api/gateway_api.h"
#include "controller/api/json_fields.h"
#include "nlohmann/json.hpp"
#include "sft/json_document.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::controller {
namespace {

using fuzz::Check;
using nlohmann::json;

constexpr size_t kMaxInput = 64 * 1024;

bool SameState(const GatewayState& a, const GatewayState& b) {
  return a.etag == b.etag && a.policy_version == b.policy_version && a.policy_text == b.policy_text &&
         a.peers == b.peers && a.revoked == b.revoked;
}

bool SameReport(const GatewayReport& a, const GatewayReport& b) {
  return a.tunnel_port == b.tunnel_port && a.advertise == b.advertise && a.policy_version == b.policy_version &&
         a.policy_error == b.policy_error && a.tunnels == b.tunnels && a.flows == b.flows &&
         a.bytes_sent == b.bytes_sent && a.bytes_received == b.bytes_received && a.rule_hits == b.rule_hits;
}

void FuzzState(std::string_view text) {
  absl::StatusOr<GatewayState> state = ParseGatewayState(text);
  if (!state.ok()) return fuzz::CheckRejection(state.status(), "gateway state");
  Check(state->policy_version != 0 || state->policy_text.empty(), "accepted a policy without a version");
  const std::string again_text = GatewayStateToJson(*state).dump();
  absl::StatusOr<GatewayState> again = ParseGatewayState(again_text);
  Check(again.ok(), "GatewayStateToJson output does not parse: " + again.status().ToString(), again_text);
  Check(SameState(*again, *state), "GatewayStateToJson round trip changed the state", again_text);
}

void FuzzReport(std::string_view text) {
  absl::StatusOr<GatewayReport> report = ParseGatewayReport(text);
  if (!report.ok()) return fuzz::CheckRejection(report.status(), "gateway report");
  const std::string again_text = GatewayReportToJson(*report).dump();
  absl::StatusOr<GatewayReport> again = ParseGatewayReport(again_text);
  Check(again.ok(), "GatewayReportToJson output does not parse: " + again.status().ToString(), again_text);
  Check(SameReport(*again, *report), "GatewayReportToJson round trip changed the report", again_text);
}

// The admin and enrollment bodies, as api_server.cc reads them.
enum class Type { kString, kUint, kBool };
struct Field {
  const char* key;
  Type type;
  bool required;
};
struct Body {
  const char* what;
  std::vector<Field> fields;
};

const std::vector<Body>& Bodies() {
  static const std::vector<Body>* bodies = new std::vector<Body>{
      {"token request", {{"name", Type::kString, true}, {"ttl", Type::kString, false}}},
      {"revoke request", {{"name", Type::kString, true}}},
      {"apply request", {{"text", Type::kString, true}, {"dry_run", Type::kBool, false}}},
      {"rollback request", {{"version", Type::kUint, true}}},
      {"enroll", {{"token", Type::kString, true}, {"csr", Type::kString, true}}},
  };
  return *bodies;
}

bool HasType(const json& v, Type type) {
  switch (type) {
    case Type::kString: return v.is_string();
    case Type::kBool: return v.is_boolean();
    case Type::kUint:
      // "a non-negative integer": JSON has one number type, so -0 and
      // integers written with a sign are integers too.
      return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  }
  return false;
}

// Read reads `body` from `f` in the order api_server.cc does, each value
// as JSON (absent: null), and returns Finish's status.
absl::Status Read(JsonFields& f, const Body& body, std::vector<json>* values) {
  for (const Field& field : body.fields) {
    switch (field.type) {
      case Type::kString: values->push_back(f.String(field.key, field.required)); break;
      case Type::kUint: values->push_back(f.Uint(field.key, field.required)); break;
      case Type::kBool: values->push_back(f.Bool(field.key, field.required)); break;
    }
  }
  return f.Finish();
}

void FuzzBody(std::string_view text, const absl::StatusOr<sft::JsonDocument>& doc, const Body& body) {
  JsonFields f(text, body.what);
  std::vector<json> values;
  const absl::Status status = Read(f, body, &values);

  // The model: what JsonFields promises to accept, and what it returns.
  bool want_ok = doc.ok() && doc->duplicate_keys.empty() && doc->root.is_object();
  std::vector<json> want_values;
  for (const Field& field : body.fields) {
    if (!want_ok) break;
    auto it = doc->root.find(field.key);
    if (it == doc->root.end()) {
      want_ok = !field.required;
      want_values.push_back(field.type == Type::kString ? json("") : field.type == Type::kBool ? json(false) : json(0));
      continue;
    }
    want_ok = HasType(*it, field.type);
    want_values.push_back(*it);
  }
  if (want_ok) {
    for (const auto& [key, value] : doc->root.items()) {
      bool known = false;
      for (const Field& field : body.fields) known = known || key == field.key;
      want_ok = want_ok && known;
    }
  }

  if (!status.ok()) {
    fuzz::CheckRejection(status, std::string(body.what) + ": ");
    Check(!want_ok, std::string(body.what) + ": refused a body the model accepts: " + status.ToString(), text);
    return;
  }
  Check(want_ok, std::string(body.what) + ": accepted a body the model refuses", text);
  Check(values == want_values, std::string(body.what) + ": read values are not the document's", text);

  // A body rebuilt from the values read (absent optional members left out)
  // reads back the same.
  json rebuilt = json::object();
  for (size_t i = 0; i < body.fields.size(); ++i) {
    if (doc->root.contains(body.fields[i].key)) rebuilt[body.fields[i].key] = values[i];
  }
  const std::string rebuilt_text = rebuilt.dump();
  JsonFields again(rebuilt_text, body.what);
  std::vector<json> again_values;
  const absl::Status again_status = Read(again, body, &again_values);
  Check(again_status.ok() && again_values == values, std::string(body.what) + ": rebuilt body reads differently",
        rebuilt_text);
}

}  // namespace
}  // namespace braid::controller

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::controller;
  if (size > kMaxInput) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FuzzState(text);
  FuzzReport(text);
  const absl::StatusOr<braid::sft::JsonDocument> doc = braid::sft::ParseJsonDocument(text);
  for (const Body& body : Bodies()) FuzzBody(text, doc, body);
  return 0;
}
