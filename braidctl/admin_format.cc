#include "braidctl/admin_format.h"

#include <cstdio>
#include <span>

namespace braid::ctl {
namespace {

// Scaled shows `v` in the largest of `units` (each `step` times the one
// before) that keeps it at least 1.
std::string Scaled(double v, double step, std::span<const char* const> units) {
  size_t u = 0;
  while (v >= step && u + 1 < units.size()) {
    v /= step;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

std::string Bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return Scaled(static_cast<double>(n), 1024, kUnits);
}

std::string Rate(uint64_t bps) {
  static constexpr const char* kUnits[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
  return Scaled(static_cast<double>(bps), 1000, kUnits);
}

std::string Age(double seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.0fs", seconds);
  } else if (seconds < 3600) {
    const int s = static_cast<int>(seconds);
    std::snprintf(buf, sizeof(buf), "%dm%02ds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1fh", seconds / 3600);
  }
  return buf;
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fms", ms);
  return buf;
}

std::string Count(uint64_t n) { return std::to_string(n); }

}  // namespace braid::ctl
