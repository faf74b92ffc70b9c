// etcd for integration tests: one member of a cluster run by a test
// (EtcdServer), the etcd 3.4 of the Debian package, on loopback only.
//
// Each server has its data directory under the test's scratch directory,
// listens for clients and peers on two free loopback ports, and accepts
// requests up to 32 MiB (--max-request-bytes), as braid's scripts start it.
// A server can be killed (SIGKILL) and started again on the same data, to
// show what survives. Cluster() makes the members of one cluster of three
// (or any number), which start together.
//
// Main test thread only; not thread-safe.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_ETCD_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_ETCD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "integration/support/process.h"

namespace braid::integration {

// Where the Debian package installs etcd.
inline constexpr char kEtcdBinary[] = "/usr/bin/etcd";

class EtcdServer {
 public:
  // `dir` holds the member's data ("NAME.etcd") and its logs (NAME.N.log
  // for its Nth start). A cluster of this one member.
  EtcdServer(std::string name, std::string dir);
  ~EtcdServer() = default;
  // Cluster makes `members` members m0, m1, ... of one cluster, in `dir`.
  // Launch them all, then wait for each (quorum needs a majority up).
  static std::vector<std::unique_ptr<EtcdServer>> Cluster(int members, const std::string& dir);

  // Installed: whether the etcd binary is there (tests skip without it,
  // saying so).
  static bool Installed();

  // Start starts the member and waits until it answers /health; false,
  // with the reason (and the log's tail) in *error, if it does not within
  // 20 s.
  bool Start(std::string* error) { return Launch(error) && WaitHealthy(error); }
  // Launch starts the process; WaitHealthy waits (20 s at most) until it
  // answers /health, which a member of a cluster does once a majority is up.
  bool Launch(std::string* error);
  bool WaitHealthy(std::string* error);
  // Kill stops it with SIGKILL: what it had acknowledged is on disk.
  void Kill();
  bool running() { return process_ && process_->Running(); }

  uint16_t client_port() const { return client_port_; }
  // "127.0.0.1:PORT", as the controller's etcd.endpoints take it.
  std::string endpoint() const;

 private:
  std::string name_, dir_;
  uint16_t client_port_ = 0, peer_port_ = 0;
  std::string initial_cluster_;  // NAME=http://127.0.0.1:PEER,...
  std::string log_;              // of the current start
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_ETCD_H_
