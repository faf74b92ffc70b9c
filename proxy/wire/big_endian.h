// Big-endian loads and stores for the wire codec. Callers check lengths
// first; these functions never do.
#ifndef BRAID_PROXY_WIRE_BIG_ENDIAN_H_
#define BRAID_PROXY_WIRE_BIG_ENDIAN_H_

#include <cstdint>
#include <string>

namespace braid::proxy::be {

inline uint16_t Load16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
inline uint32_t Load32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
inline uint64_t Load64(const char* p) {
  return (uint64_t{Load32(p)} << 32) | Load32(p + 4);
}

inline void Store16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void Store32(char* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}
inline void Store64(char* p, uint64_t v) {
  Store32(p, static_cast<uint32_t>(v >> 32));
  Store32(p + 4, static_cast<uint32_t>(v));
}

inline void Append8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void Append16(std::string* out, uint16_t v) {
  char b[2];
  Store16(b, v);
  out->append(b, 2);
}
inline void Append32(std::string* out, uint32_t v) {
  char b[4];
  Store32(b, v);
  out->append(b, 4);
}
inline void Append64(std::string* out, uint64_t v) {
  char b[8];
  Store64(b, v);
  out->append(b, 8);
}

}  // namespace braid::proxy::be

#endif  // BRAID_PROXY_WIRE_BIG_ENDIAN_H_
