// How braidctl shows the admin endpoint's numbers in its tables (`braidctl
// status`, `braidctl lanes list`): sizes in binary units, link rates in
// decimal bits per second, ages and round trips, and "-" for a value the
// gateway has not measured (null) or does not report (an older gateway).
#ifndef BRAID_BRAIDCTL_ADMIN_FORMAT_H_
#define BRAID_BRAIDCTL_ADMIN_FORMAT_H_

#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"

namespace braid::ctl {

// Bytes: "512 B", "1.5 MiB".
std::string Bytes(uint64_t n);
// Rate shows bits per second as links are rated: "940.0 Mbit/s".
std::string Rate(uint64_t bps);
// Age: "42s", "3m07s", "1.5h".
std::string Age(double seconds);
// Ms: a round trip in milliseconds, "0.25ms".
std::string Ms(double ms);
// Count: a plain integer.
std::string Count(uint64_t n);

// Cell formats field `key` of `object` as T with `format`; "-" when it is
// null (not measured yet, or the lane is down) or absent (a gateway older
// than the field).
template <typename T, typename F>
std::string Cell(const nlohmann::json& object, const char* key, F format) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  return format(it->template get<T>());
}

}  // namespace braid::ctl

#endif  // BRAID_BRAIDCTL_ADMIN_FORMAT_H_
