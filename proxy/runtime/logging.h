// Logging: where braid-proxy's log lines go and how they look.
//
// Everything goes to stderr (systemd's journal takes it from there), through
// two spdlog loggers: the default logger for events, and
// "access" for the one line per finished flow (flow/access_log.h). With
// `log.json` every line is one JSON object: {"time", "level", "msg"} for
// events; access lines carry their fields as JSON members instead of a
// message, so a log pipeline can index them without parsing text.
#ifndef BRAID_PROXY_RUNTIME_LOGGING_H_
#define BRAID_PROXY_RUNTIME_LOGGING_H_

#include "spdlog/spdlog.h"

namespace braid::proxy {

// ConfigureLogging creates both loggers. Call once, in main.
void ConfigureLogging(spdlog::level::level_enum level, bool json);
// SetLogLevel changes the level of both (a reload).
void SetLogLevel(spdlog::level::level_enum level);
// JsonLogs: whether ConfigureLogging chose JSON lines.
bool JsonLogs();
// AccessLogger: the logger of flow lines; ConfigureLogging must have run.
spdlog::logger& AccessLogger();
// AppendJsonString appends `text` as a quoted JSON string.
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_LOGGING_H_
