// Frame buffers. A frame travels through the gateway as a std::string that
// holds its header and payload; it is moved from the read that fills it to
// the write that empties it, never copied.
#ifndef BRAID_PROXY_WIRE_FRAME_BUFFER_H_
#define BRAID_PROXY_WIRE_FRAME_BUFFER_H_

#include <cstddef>
#include <string>

namespace braid::proxy {

// ResizeForOverwrite sets `buffer`'s size to exactly `size` without
// zero-filling the bytes it adds, for a buffer that a read is about to
// fill. std::string's resize() zero-fills them; on the data path that fill
// was 2-3% of each gateway's CPU (bench/RESULTS.md, the profile). The caller
// must write every added byte, or shrink the buffer to what it wrote, before
// reading any.
inline void ResizeForOverwrite(std::string& buffer, size_t size) {
  // GCC 12's resize_and_overwrite, when it must reallocate, rounds the size
  // up with the capacity (a 24-byte request on an empty string gives 30
  // bytes) and passes that to the operation: a frame read into it would take
  // bytes of the next one. Reserving first means it never reallocates, and
  // the operation answers with the size asked for, not the one it is given.
  buffer.reserve(size);
  buffer.resize_and_overwrite(size, [size](char*, size_t) { return size; });
}

}  // namespace braid::proxy

#endif  // BRAID_PROXY_WIRE_FRAME_BUFFER_H_
