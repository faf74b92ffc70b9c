#include "proxy/flow/access_log.h"

#include <string>

#include "proxy/runtime/logging.h"

namespace braid::proxy {
namespace {

spdlog::level::level_enum LevelFor(CloseReason reason) {
  return reason == CloseReason::kCompleted ? spdlog::level::info : spdlog::level::warn;
}

void AppendMember(std::string_view name, std::string_view value, std::string* out) {
  if (!out->empty()) out->push_back(',');
  AppendJsonString(name, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

void AppendMember(std::string_view name, uint64_t value, std::string* out) {
  if (!out->empty()) out->push_back(',');
  AppendJsonString(name, out);
  out->push_back(':');
  out->append(std::to_string(value));
}

}  // namespace

void WriteAccessLog(const AccessRecord& r) {
  const std::string_view rule = r.rule.empty() ? std::string_view("(default)") : r.rule;
  if (JsonLogs()) {
    std::string m;
    AppendMember("flow", r.flow_id, &m);
    AppendMember("tunnel", r.tunnel_id, &m);
    AppendMember("side", r.side, &m);
    AppendMember("src", r.source, &m);
    AppendMember("target", r.target, &m);
    AppendMember("peer", r.peer, &m);
    AppendMember("sent", r.sent, &m);
    AppendMember("received", r.received, &m);
    AppendMember("duration_ms", static_cast<uint64_t>(r.duration.count()), &m);
    AppendMember("end", CloseReasonName(r.reason), &m);
    AppendMember("rule", rule, &m);
    if (!r.detail.empty()) AppendMember("detail", r.detail, &m);
    AccessLogger().log(LevelFor(r.reason), "{}", m);
    return;
  }
  AccessLogger().log(LevelFor(r.reason), "flow {} {} src={} target={} peer={} tunnel={} sent={} received={} duration={}ms end={} rule={}{}{}",
                     r.flow_id, r.side, r.source, r.target, r.peer, r.tunnel_id, r.sent, r.received, r.duration.count(),
                     CloseReasonName(r.reason), rule, r.detail.empty() ? "" : " detail=", r.detail);
}

}  // namespace braid::proxy
