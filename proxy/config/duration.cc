// ParseDuration: the one syntax for every duration in a gateway config.
//
// Deliberately small: one non-negative integer and one unit, nothing else.
// No fractions ("1.5s"), no compound values ("1m30s"), no signs and no
// spaces, so that a value reads the same to every operator and tool. A
// duration that would not fit in Duration's milliseconds is refused rather
// than wrapped around.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "proxy/config/gateway_config.h"

namespace braid::proxy {
namespace {

struct Unit {
  const char* suffix;
  int64_t millis;
};

// "ms" comes before "m" and "s" so that the longest suffix wins.
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}};

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::optional<Duration> ParseDuration(const std::string& text) {
  for (const Unit& unit : kUnits) {
    const std::string suffix = unit.suffix;
    if (!EndsWith(text, suffix)) continue;
    const std::string digits = text.substr(0, text.size() - suffix.size());
    if (digits.empty()) return std::nullopt;
    int64_t value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      const int64_t digit = c - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) return std::nullopt;
      value = value * 10 + digit;
    }
    if (value > std::numeric_limits<Duration::rep>::max() / unit.millis) return std::nullopt;
    return Duration(value * unit.millis);
  }
  return std::nullopt;
}

}  // namespace braid::proxy
