// Lane: one TLS 1.3 connection of a tunnel, owned by one worker.
//
// A lane only moves bytes: it encrypts the frames the tunnel hands it and
// writes them to its socket, and it decrypts what it reads, cuts it at frame
// boundaries and hands whole frames to the tunnel. It knows nothing of flows.
// Every method runs on the lane's own worker (its executor); the tunnel posts
// Send() there, and the lane posts frames and events back to the tunnel's
// worker through LaneOwner.
//
// Memory: the read buffer is fixed (kReadBufferSize); the write queue holds
// what the tunnel posted and is bounded by the tunnel's flow-control credit.
// The lane reports every write back (OnLaneWritten) so the tunnel can steer
// around a lane whose queue is growing.
//
// Keys: before the connection's write key has sealed `key_update_records`
// TLS records, the lane sends a TLS KeyUpdate (counted conservatively).
//
// Liveness: a lane that has written nothing for `keepalive_interval` sends a
// PING (the peer answers PONG on the same lane), and a lane that has read
// nothing for `keepalive_timeout` is dead: a frozen peer gateway is noticed
// even though its TCP connections stay open.
#ifndef BRAID_PROXY_TUNNEL_LANE_H_
#define BRAID_PROXY_TUNNEL_LANE_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proxy/runtime/asio.h"

namespace braid::proxy {

// LaneOwner receives a lane's events, always on the owner's own executor.
class LaneOwner {
 public:
  virtual ~LaneOwner() = default;
  // A batch of one or more whole frames, already checked by ParseHeader.
  virtual void OnLaneFrames(uint16_t lane, std::string frames) = 0;
  // `bytes` of what was sent have been written to the socket.
  virtual void OnLaneWritten(uint16_t lane, size_t bytes) = 0;
  // The lane is gone (peer closed, error, protocol error). Never called twice.
  virtual void OnLaneClosed(uint16_t lane, std::string reason) = 0;
};

class Lane : public std::enable_shared_from_this<Lane> {
 public:
  static constexpr size_t kReadBufferSize = 64 * 1024;

  struct Options {
    uint64_t key_update_records;
    std::chrono::milliseconds keepalive_interval;
    std::chrono::milliseconds keepalive_timeout;
  };

  Lane(std::unique_ptr<TlsStream> stream, uint16_t index, Options options);

  // Start begins reading and writing; events go to `owner` on
  // `owner_executor`. Call on the lane's executor.
  void Start(std::weak_ptr<LaneOwner> owner, asio::any_io_executor owner_executor);
  // Send queues frames for writing. Call on the lane's executor.
  void Send(std::vector<std::string> frames);
  // Close shuts the connection down now. Call on the lane's executor;
  // idempotent.
  void Close();
  // Finish closes the connection once everything queued has been written
  // (a GOAWAY, the last frames). Call on the lane's executor.
  void Finish();

  asio::any_io_executor executor() { return stream_->get_executor(); }
  uint16_t index() const { return index_; }
  uint64_t key_updates() const { return key_updates_; }

 private:
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> KeepaliveLoop();
  // Fail reports the lane closed once and closes the socket.
  void Fail(std::string reason);
  template <typename F>
  void ToOwner(F&& f);

  std::unique_ptr<TlsStream> stream_;
  const uint16_t index_;
  const Options options_;
  std::weak_ptr<LaneOwner> owner_;
  asio::any_io_executor owner_executor_;
  std::deque<std::string> queue_;
  asio::steady_timer wake_;  // signals WriteLoop that queue_ has data
  asio::steady_timer keepalive_;
  std::chrono::steady_clock::time_point last_read_, last_write_;
  uint64_t records_since_key_update_ = 0;
  uint64_t key_updates_ = 0;
  bool closed_ = false;
  bool finishing_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_LANE_H_
