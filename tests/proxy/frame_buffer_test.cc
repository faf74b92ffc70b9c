#include "proxy/wire/frame_buffer.h"

#include <algorithm>
#include <string>

#include "braid/wire.h"
#include "gtest/gtest.h"

namespace braid::proxy {
namespace {

// Every size a frame can have, from every starting state a frame buffer is
// in: empty (moved from, or new), holding a shorter frame, holding a longer
// one. The size must be exactly the one asked for (GCC 12's
// resize_and_overwrite alone gives 30 bytes for 24 on an empty string).
TEST(FrameBufferTest, SizeIsExactlyWhatWasAskedFromAnyStart) {
  for (size_t start : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{40}, wire::kMaxFrameSize}) {
    for (size_t size = 0; size <= wire::kMaxFrameSize; size += (size < 64 ? 1 : 509)) {
      std::string buffer(start, 'x');
      ResizeForOverwrite(buffer, size);
      ASSERT_EQ(buffer.size(), size) << "from " << start;
      ASSERT_EQ(buffer.c_str()[size], '\0') << "from " << start << " to " << size;
      // Bytes kept from before are still there.
      for (size_t i = 0; i < std::min(start, size); ++i) ASSERT_EQ(buffer[i], 'x') << i;
    }
  }
}

}  // namespace
}  // namespace braid::proxy
