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
    : name_(std::move(name)), dir_(std::move(dir)), client_port_(FreePort()), peer_port_(FreePort()) {
  initial_cluster_ = name_ + "=http://127.0.0.1:" + std::to_string(peer_port_);
}

std::vector<std::unique_ptr<EtcdServer>> EtcdServer::Cluster(int members, const std::string& dir) {
  std::vector<std::unique_ptr<EtcdServer>> cluster;
  std::string initial;
  for (int i = 0; i < members; ++i) {
    cluster.push_back(std::make_unique<EtcdServer>("m" + std::to_string(i), dir));
    initial += (i == 0 ? "" : ",") + cluster.back()->initial_cluster_;
  }
  for (auto& member : cluster) member->initial_cluster_ = initial;
  return cluster;
}

bool EtcdServer::Installed() { return ::access(kEtcdBinary, X_OK) == 0; }

std::string EtcdServer::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

bool EtcdServer::Launch(std::string* error) {
  const std::string client = "http://" + endpoint();
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  log_ = dir_ + "/" + name_ + "." + std::to_string(++starts_) + ".log";
  process_ = Process::Start({kEtcdBinary, "--name", name_, "--data-dir", dir_ + "/" + name_ + ".etcd",
                             "--listen-client-urls", client, "--advertise-client-urls", client,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", initial_cluster_, "--max-request-bytes", "33554432",
                             "--log-outputs", "stderr"},
                            log_, log_, error);
  return process_ != nullptr;
}

bool EtcdServer::WaitHealthy(std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_ || !process_->Running()) {
      *error = name_ + " exited at start; its log ends:\n" + ReadFile(log_).substr(0, 4000);
      return false;
    }
    const HttpReply health = HttpGet(client_port_, "/health");
    if (health.status == 200 && health.body.find("\"true\"") != std::string::npos) return true;
    std::this_thread::sleep_for(Millis(50));
  }
  *error = name_ + " did not answer /health within 20 s; its log:\n" + ReadFile(log_).substr(0, 4000);
  return false;
}

void EtcdServer::Kill() {
  if (process_) process_->Kill();
  process_.reset();
}

}  // namespace braid::integration
