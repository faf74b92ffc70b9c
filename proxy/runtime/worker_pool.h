// WorkerPool: the gateway's threads. One worker = one thread = one event
// loop (an io_context; see proxy/runtime/asio.h for the backend).
//
// Workers share no mutable state. Work moves between them only by posting a
// function to another worker's io_context: that queue is the hand-off. Each
// object of the data plane says which worker owns it and is touched only
// there (tunnels and their flows on the control worker, each lane on its own
// worker).
#ifndef BRAID_PROXY_RUNTIME_WORKER_POOL_H_
#define BRAID_PROXY_RUNTIME_WORKER_POOL_H_

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "proxy/runtime/asio.h"

namespace braid::proxy {

class WorkerPool {
 public:
  // Creates `count` workers (at least 1); threads start with Start().
  // Throws boost::system::system_error if the event loop backend cannot be
  // set up (io_uring disabled in the kernel, no memory for its rings).
  explicit WorkerPool(size_t count);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  size_t size() const { return contexts_.size(); }
  asio::io_context& context(size_t index) { return *contexts_[index % contexts_.size()]; }
  // The worker that owns tunnels, flows and the tunnel registry.
  asio::io_context& control() { return *contexts_[0]; }

  void Start();
  // Stop lets every loop return once its current handlers finish.
  void Stop();
  void Join();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::optional<WorkGuard>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_RUNTIME_WORKER_POOL_H_
