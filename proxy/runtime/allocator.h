// The gateway's settings for glibc's allocator.
//
// Frames are 16 KiB heap blocks that one worker allocates (a lane decrypts
// into them) and another frees (a flow, once the host has them). By default
// glibc hands freed memory at the top of a heap back to the kernel as soon
// as more than 128 KiB of it is free (madvise, trimming), so at a few
// gigabits per second the gateway spent a fifth of its time faulting the
// same pages back in (bench/RESULTS.md, the profile). Keeping freed memory
// bounds nothing less: what the gateway holds is still bounded by its
// flows' windows, it only stops returning and re-faulting it.
#ifndef BRAID_PROXY_RUNTIME_ALLOCATOR_H_
#define BRAID_PROXY_RUNTIME_ALLOCATOR_H_

namespace braid::proxy {

// ConfigureAllocator applies the settings above. Call once, first thing in
// main, before any thread starts. GLIBC_TUNABLES set by an operator win.
void ConfigureAllocator();

// ReleaseFreeMemory gives the heaps' free pages back to the kernel
// (malloc_trim), so that memory a burst of flows took is returned once they
// have gone, without trimming at every free. The gateway calls it every
// kReleaseFreeMemoryIntervalSeconds on its control worker.
void ReleaseFreeMemory();
inline constexpr int kReleaseFreeMemoryIntervalSeconds = 30;

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_ALLOCATOR_H_
