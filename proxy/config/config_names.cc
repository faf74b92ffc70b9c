#include "proxy/config/config_names.h"

namespace braid::proxy {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IsGatewayName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    const size_t length = end - start;
    if (length == 0 || length > 63) return false;
    if (name[start] == '-' || name[end - 1] == '-') return false;
    start = end + 1;
  }
  return true;
}

bool IsHostName(const std::string& name) {
  if (!IsGatewayName(name)) return false;
  const size_t last_dot = name.rfind('.');
  return !IsDigits(last_dot == std::string::npos ? name : name.substr(last_dot + 1));
}

bool IsServiceName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

}  // namespace braid::proxy
