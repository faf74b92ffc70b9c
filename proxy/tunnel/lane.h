// Lane: one TLS 1.3 connection of a tunnel, owned by one worker.
//
// A lane only moves bytes: it encrypts the frames the tunnel hands it and
// writes them to its socket, and it decrypts what it reads, cuts it into
// frames and hands them to the tunnel. Of flows it knows only the id in a
// frame's header, by which its send queue (LaneQueue) shares the lane
// fairly: a small flow's frame goes ahead of a bulk flow's backlog. Every
// method runs on the lane's own worker (its executor); the tunnel posts
// Send() there, and the lane posts frames and events back to the tunnel's
// worker through LaneOwner.
//
// Batching (the reason a lane is cheap per byte): the write loop seals
// everything queued, up to kMaxFlushBytes, into one buffer of TLS records
// and writes it with one system call; small frames (control frames, short
// DATA) share records. The read loop reads up to 256 KiB of records per
// system call and decrypts each frame straight into its own buffer, which
// then moves, uncopied, through the tunnel into the flow's reassembly buffer.
//
// Memory: the TLS connection's buffers are fixed (kInputBufferSize in,
// about kMaxFlushBytes out); the send queue holds what the tunnel posted and
// is bounded by the flows' credit. The lane reports every write back
// (OnLaneWritten) so the tunnel can steer around a lane whose queue grows.
//
// Frames survive the lane (LaneLedger): the lane numbers the flow frames it
// writes and keeps them until the peer's ACK covers them, counts the flow
// frames it receives and acknowledges them (every
// LaneLedger::kAckEveryFrames, and on every keepalive tick). When the
// connection is lost, the owner takes the ledger and the frames never
// written (TakeRemains) and resends what the peer did not get on the other
// lanes (docs/protocol.md, "Lane loss").
//
// Keys: before the connection's write key has sealed `key_update_records`
// TLS records, the lane sends a TLS KeyUpdate (TlsConnection counts them).
//
// Liveness: a lane that has written nothing for `keepalive_interval` sends a
// PING (the peer answers PONG on the same lane), and a lane that has read
// nothing for `keepalive_timeout` is dead: a frozen peer gateway is noticed
// even though its TCP connections stay open.
//
// TCP statistics: the lane samples its socket's TCP_INFO when it starts and
// then every kTcpSampleInterval (round trip, congestion window,
// retransmissions, delivery rate), into atomics that any thread may read:
// the tunnel sizes flow windows from the round trip, and the admin endpoint
// shows them so that an operator can see why a flow is slow.
#ifndef BRAID_PROXY_TUNNEL_LANE_H_
#define BRAID_PROXY_TUNNEL_LANE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "braid/wire.h"
#include "proxy/admin/metrics.h"
#include "proxy/runtime/asio.h"
#include "proxy/stripe/lane_queue.h"
#include "proxy/tunnel/lane_ledger.h"
#include "proxy/tunnel/tcp_stats.h"
#include "proxy/tunnel/tls_connection.h"

namespace braid::proxy {

// One frame as a lane received it: the header, already checked by
// ParseHeader (for this gateway's role), and the payload, not yet parsed.
struct InboundFrame {
  wire::FrameHeader header;
  std::string payload;
};

// LaneOwner receives a lane's events, always on the owner's own executor.
// `generation` tells a lane's connections apart: a lane lost and redialed
// keeps its index, and events of the lost connection may still be on their
// way.
class LaneOwner {
 public:
  virtual ~LaneOwner() = default;
  // One or more frames, in the order the lane received them. ACK frames are
  // the lane's own business and never reach the owner.
  virtual void OnLaneFrames(uint16_t lane, std::vector<InboundFrame> frames) = 0;
  // `bytes` of what was sent have been written to the socket.
  virtual void OnLaneWritten(uint16_t lane, uint16_t generation, size_t bytes) = 0;
  // The peer broke the protocol on the lane (a malformed frame header, a
  // bad ACK): the lane reads no more, but still sends what is queued, so
  // the owner can answer with GOAWAY and then Finish() it.
  virtual void OnLaneProtocolError(uint16_t lane, std::string detail) = 0;
  // The lane's connection is gone (peer closed, error, Kill, retired). Never
  // called twice. Every frame the lane received was handed over before.
  virtual void OnLaneClosed(uint16_t lane, uint16_t generation, std::string reason) = 0;
  // Half of the key usage limit is used (Options::rotate_at_key_limit):
  // the owner should replace the connection. Called once.
  virtual void OnLaneKeyLimit(uint16_t lane, uint16_t generation) = 0;
};

// What a lost lane leaves: its ledger (what it received, what it wrote and
// the peer has not acknowledged) and the frames it never wrote, in the
// order they would have been written.
struct LaneRemains {
  LaneLedger ledger;
  std::vector<std::string> unwritten;
};

class Lane : public std::enable_shared_from_this<Lane> {
 public:
  // At most this much plaintext is sealed for one write to the socket.
  static constexpr size_t kMaxFlushBytes = 256 * 1024;
  // The reason OnLaneClosed gives when the peer closed the connection
  // cleanly (TLS close_notify or TCP end of stream).
  static constexpr std::string_view kClosedByPeer = "closed by peer";
  // At most this many frames are handed to the tunnel at once.
  static constexpr size_t kMaxFramesPerBatch = 64;
  // How often TCP_INFO is sampled: often enough that a flow window sized
  // from the round trip follows a path that changes, rare enough to cost
  // nothing (one getsockopt).
  static constexpr std::chrono::milliseconds kTcpSampleInterval{250};

  struct Options {
    wire::Role role;  // this gateway's role in the tunnel, for frame checks
    uint64_t key_update_records;
    // tunnel.key_limit "rotate": no KeyUpdate; at half of
    // key_update_records the owner is asked to replace the connection
    // (OnLaneKeyLimit), and at the limit it fails.
    bool rotate_at_key_limit = false;
    std::chrono::milliseconds keepalive_interval;
    std::chrono::milliseconds keepalive_timeout;
    // Which connection of this lane index it is (LANE_HELLO's generation).
    uint16_t generation = 0;
    // Where the lane counts what it carries (admin/gateway_metrics.h); the
    // series outlive the lane.
    Counter* bytes_sent;
    Counter* bytes_received;
    Counter* key_updates;
  };

  // `connection` has completed its handshake and the LANE_HELLO exchange.
  Lane(std::unique_ptr<TlsConnection> connection, uint16_t index, Options options);

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
  // Kill resets the connection now (what it had not sent is dropped) and
  // reports it closed (OnLaneClosed) with `reason`, as a failure would.
  // Call on the lane's executor.
  void Kill(std::string reason) {
    if (!closed_) connection_->Abort();
    Fail(std::move(reason));
  }
  // RetireWhenDrained closes the lane, reporting it closed as "retired",
  // once everything queued is written and acknowledged. The owner queues
  // nothing new on it meanwhile. Call on the lane's executor.
  void RetireWhenDrained();
  // TakeRemains hands over the ledger and the frames never written, after
  // the lane closed. Frames sent to a closed lane wait for this. Call on
  // the lane's executor.
  LaneRemains TakeRemains();

  asio::any_io_executor executor() { return connection_->get_executor(); }
  uint16_t index() const { return index_; }
  uint16_t generation() const { return options_.generation; }
  // Bytes of frames written and not yet acknowledged (LaneLedger); readable
  // from any thread.
  uint64_t unacked_bytes() const { return unacked_bytes_.load(std::memory_order_relaxed); }
  // Frame bytes this lane has written and read; readable from any thread.
  uint64_t bytes_sent() const { return bytes_sent_.load(std::memory_order_relaxed); }
  uint64_t bytes_received() const { return bytes_received_.load(std::memory_order_relaxed); }
  // The last TCP_INFO sample; readable from any thread (each field is read
  // on its own, so a sample may mix two consecutive ones).
  TcpStats tcp_stats() const;

 private:
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> KeepaliveLoop();
  // SealQueued encrypts queued frames, up to kMaxFlushBytes, and returns
  // how many frame bytes it took; false on a TLS error.
  bool SealQueued(size_t* frame_bytes);
  // Fail reports the lane closed once and closes the socket.
  void Fail(std::string reason);
  // HandleAck applies the peer's ACK; false (and the lane is failed) on a
  // bad count.
  bool HandleAck(uint64_t received);
  // QueueAck queues an ACK of everything received so far.
  void QueueAck();
  // SampleTcpInfo reads TCP_INFO into the tcp_* atomics.
  void SampleTcpInfo();
  template <typename F>
  void ToOwner(F&& f);

  std::unique_ptr<TlsConnection> connection_;
  const uint16_t index_;
  const Options options_;
  std::weak_ptr<LaneOwner> owner_;
  asio::any_io_executor owner_executor_;
  LaneQueue queue_;
  LaneLedger ledger_;
  std::string stage_;        // small frames gathered into one record
  asio::steady_timer wake_;  // signals WriteLoop that there is work
  asio::steady_timer keepalive_;
  std::chrono::steady_clock::time_point last_read_;
  // When the write in progress began; max() while none is. A peer that
  // keeps sending but stops reading would otherwise stall this lane's
  // writes, and grow its queue of answers (PONG), for ever.
  std::chrono::steady_clock::time_point write_started_ = std::chrono::steady_clock::time_point::max();
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, unacked_bytes_{0};
  std::atomic<uint32_t> tcp_rtt_us_{0}, tcp_min_rtt_us_{0}, tcp_cwnd_{0}, tcp_mss_{0};
  std::atomic<uint64_t> tcp_retransmits_{0}, tcp_delivery_rate_{0};
  bool closed_ = false;
  bool finishing_ = false;
  bool retiring_ = false;
  bool key_limit_told_ = false;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_LANE_H_
