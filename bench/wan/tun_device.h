// TunDevice: one layer-3 TUN interface (IFF_TUN | IFF_NO_PI: each read or
// write is one bare IP packet), created by this process in the network
// namespace it runs in. It is not persistent: the interface disappears when
// the descriptor closes, wherever it has been moved since (`ip link set
// NAME netns NS` keeps the descriptor working), so an emulator that exits,
// or is killed, leaves no interface behind.
//
// Thread-safety: the descriptor may be read by one thread and written by
// another at the same time (the two directions of the emulator do that).
#ifndef BRAID_BENCH_WAN_TUN_DEVICE_H_
#define BRAID_BENCH_WAN_TUN_DEVICE_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace braid::bench {

class TunDevice {
 public:
  // Create makes the interface `name` with the given MTU; its descriptor is
  // non-blocking. Errors (with what to do about them): /dev/net/tun cannot
  // be opened (no tun module, not root), the name is too long or taken, the
  // MTU is refused.
  static absl::StatusOr<TunDevice> Create(const std::string& name, int mtu);

  TunDevice(TunDevice&& other) noexcept;
  TunDevice& operator=(TunDevice&& other) noexcept;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;
  ~TunDevice();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  TunDevice(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_WAN_TUN_DEVICE_H_
