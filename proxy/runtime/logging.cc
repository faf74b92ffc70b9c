#include "proxy/runtime/logging.h"

#include <cstdio>
#include <memory>

#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace braid::proxy {
namespace {

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";
// %* is the message as a JSON string (JsonMessageFlag); %z the UTC offset,
// so the time is unambiguous.
constexpr char kJsonPattern[] = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%*})";
// Access lines: the message is already JSON members.
constexpr char kJsonAccessPattern[] = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","log":"access",%v})";

bool json_logs = false;
std::shared_ptr<spdlog::logger> access_logger;

class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string out;
    AppendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), &out);
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void ConfigureLogging(spdlog::level::level_enum level, bool json) {
  json_logs = json;
  // A sink holds its logger's formatter, so each logger has its own sink;
  // spdlog's console sinks share one lock, so lines never interleave.
  // Colors only make sense for a person at a terminal, never inside JSON.
  auto make_sink = [json]() -> spdlog::sink_ptr {
    if (json) return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    return std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  };
  auto events = std::make_shared<spdlog::logger>("braid", make_sink());
  access_logger = std::make_shared<spdlog::logger>("access", make_sink());
  if (json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(kJsonPattern);
    events->set_formatter(std::move(formatter));
    access_logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(kJsonAccessPattern));
  } else {
    events->set_pattern(kTextPattern);
    access_logger->set_pattern(kTextPattern);
  }
  spdlog::set_default_logger(events);
  SetLogLevel(level);
}

void SetLogLevel(spdlog::level::level_enum level) {
  spdlog::set_level(level);
  if (access_logger) access_logger->set_level(level);
}

bool JsonLogs() { return json_logs; }

spdlog::logger& AccessLogger() { return *access_logger; }

}  // namespace braid::proxy
