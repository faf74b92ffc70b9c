#include "integration/support/etcd.h"

#include <unistd.h>

#include <csignal>
#include <thread>

#include "integration/support/net.h"
#include "integration/support/scratch_dir.h"

namespace braid::integration {
namespace {

constexpr Millis kStartTimeout{20'000};

}  // namespace

EtcdServer::EtcdServer(std::string name, std::string dir)
    : name_(std::move(name)), dir_(std::move(dir)), client_port_(FreePort()), peer_port_(FreePort()) {}

bool EtcdServer::Installed() { return ::access(kEtcdBinary, X_OK) == 0; }

std::string EtcdServer::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

bool EtcdServer::Start(std::string* error) {
  const std::string client = "http://" + endpoint();
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  const std::string log = dir_ + "/" + name_ + "." + std::to_string(++starts_) + ".log";
  process_ = Process::Start({kEtcdBinary, "--name", name_, "--data-dir", dir_ + "/" + name_ + ".etcd",
                             "--listen-client-urls", client, "--advertise-client-urls", client,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", name_ + "=" + peer, "--max-request-bytes", "33554432",
                             "--log-outputs", "stderr"},
                            log, log, error);
  if (!process_) return false;
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->Running()) {
      *error = "etcd exited at start; its log ends:\n" + ReadFile(log).substr(0, 4000);
      return false;
    }
    const HttpReply health = HttpGet(client_port_, "/health");
    if (health.status == 200 && health.body.find("\"true\"") != std::string::npos) return true;
    std::this_thread::sleep_for(Millis(50));
  }
  *error = "etcd did not answer /health within 20 s; its log:\n" + ReadFile(log).substr(0, 4000);
  return false;
}

void EtcdServer::Kill() {
  if (process_) process_->Kill();
  process_.reset();
}

}  // namespace braid::integration
