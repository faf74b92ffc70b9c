#include "proxy/runtime/allocator.h"

#include <malloc.h>

#include <cstdlib>

namespace braid::proxy {

void ConfigureAllocator() {
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  // Return free memory at the top of a heap only past 64 MiB.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // Setting the trim threshold also freezes the mmap threshold, which glibc
  // would otherwise raise on its own: keep the lane buffers (256 KiB) in
  // the heaps, where they are reused, rather than mapped and unmapped.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

void ReleaseFreeMemory() { malloc_trim(0); }

}  // namespace braid::proxy
