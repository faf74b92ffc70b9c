#include "proxy/runtime/worker_pool.h"

#include <pthread.h>

#include <string>

namespace braid::proxy {

WorkerPool::WorkerPool(size_t count) {
  if (count == 0) count = 1;
  for (size_t i = 0; i < count; ++i) {
    // Concurrency hint 1: each context is driven by exactly one thread, so
    // Asio can skip its internal locking.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    // Asio sets up a loop's backend (its io_uring ring) with the first
    // socket. Do it now, on this thread, so that a kernel without io_uring
    // fails the start with an error instead of a worker later.
    tcp::socket probe(*contexts_.back());
  }
}

WorkerPool::~WorkerPool() {
  Stop();
  Join();
}

void WorkerPool::Start() {
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      std::string name = "braid-w" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      contexts_[i]->run();
    });
  }
}

void WorkerPool::Stop() {
  for (auto& guard : guards_) guard.reset();
  for (auto& context : contexts_) context->stop();
}

void WorkerPool::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace braid::proxy
