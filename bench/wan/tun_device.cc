#include "bench/wan/tun_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace braid::bench {
namespace {

std::string Errno() { return std::strerror(errno); }

// SetMtu sets the interface's MTU through an ordinary socket, the way `ip
// link set mtu` does.
absl::Status SetMtu(const std::string& name, int mtu) {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return absl::InternalError(absl::StrCat("socket: ", Errno()));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_mtu = mtu;
  const int rc = ::ioctl(sock, SIOCSIFMTU, &ifr);
  const std::string error = rc < 0 ? Errno() : "";
  ::close(sock);
  if (rc < 0) return absl::InvalidArgumentError(absl::StrCat("cannot set the MTU of ", name, " to ", mtu, ": ", error));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TunDevice> TunDevice::Create(const std::string& name, int mtu) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("TUN name '", name, "' must have 1 to ", IFNAMSIZ - 1, " characters"));
  }
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open /dev/net/tun: ", Errno(),
        " (the kernel needs the tun module, and creating a TUN device needs root or CAP_NET_ADMIN)"));
  }
  TunDevice device(fd, name);  // closes fd on every error below
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create TUN device ", name, ": ", std::strerror(err),
        err == EBUSY || err == EINVAL ? " (is the name already taken by another interface?)" : ""));
  }
  if (absl::Status s = SetMtu(name, mtu); !s.ok()) return s;
  return device;
}

TunDevice::TunDevice(TunDevice&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)) {}

TunDevice& TunDevice::operator=(TunDevice&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
  }
  return *this;
}

TunDevice::~TunDevice() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace braid::bench
