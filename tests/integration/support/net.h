// Plain-socket tools for integration tests: the hosts on either side of a
// gateway pair. Everything is IPv4 loopback, blocking-free (every wait is a
// poll() with a deadline, so a stuck gateway fails a test instead of hanging
// it) and close-on-exec (no test socket leaks into a gateway process).
//
// Data is a deterministic pattern: a position-dependent pseudo-random stream
// per seed (PatternStream), so a receiver can check each byte where it lands
// (a dropped, duplicated, reordered or corrupted frame shows at its offset)
// and both ends also compare SHA-256 digests of what was sent and received.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_NET_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_NET_H_

#include <openssl/sha.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace braid::integration {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline Deadline After(std::chrono::milliseconds d) { return Clock::now() + d; }

// FreePort binds 127.0.0.1:0, reads the port the kernel chose and closes the
// socket. Prefer port 0 in the config and reading the port from the log;
// this is for tests that need a number before anything listens.
uint16_t FreePort();

// Socket owns one file descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { Close(); }
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket& operator=(Socket&& other) noexcept;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Close();
  // Reset closes with SO_LINGER 0: the peer gets an RST, not a FIN.
  void Reset();
  // ShutdownWrite sends FIN (half-close); reading goes on.
  bool ShutdownWrite();

 private:
  int fd_ = -1;
};

// Connect opens a TCP connection to 127.0.0.1:port. Returns an invalid
// Socket (and sets *error to errno) on failure or at the deadline.
Socket Connect(uint16_t port, Deadline deadline, int* error = nullptr);
// ConnectFrom is Connect from a given local IPv4 address: any address of
// 127.0.0.0/8 is on the loopback interface, so "127.0.0.2" plays a second
// host as far as a gateway can tell. EADDRNOTAVAIL if `source` is not local;
// nullptr leaves the choice to the kernel, as Connect does.
Socket ConnectFrom(const char* source, uint16_t port, Deadline deadline, int* error = nullptr);

// Sha256 is a running SHA-256 digest.
class Sha256 {
 public:
  Sha256() { SHA256_Init(&ctx_); }
  void Update(const char* data, size_t n) { SHA256_Update(&ctx_, data, n); }
  // Hex finishes the digest (call once).
  std::string Hex();

 private:
  SHA256_CTX ctx_;
};

// PatternStream is the byte stream for one seed: byte i is a fixed function
// of (seed, i). Fill continues where the last call stopped.
class PatternStream {
 public:
  explicit PatternStream(uint64_t seed) : seed_(seed) {}
  void Fill(char* out, size_t n);
  uint64_t position() const { return pos_; }

 private:
  uint64_t Word(uint64_t index) const;
  uint64_t seed_;
  uint64_t pos_ = 0;
};

// PatternDigest is the SHA-256 of the first `size` bytes of seed's pattern.
std::string PatternDigest(uint64_t seed, uint64_t size);

// How a receiving end saw its stream stop.
enum class StreamEnd { kEof, kReset, kError, kTimeout, kStopped };
const char* StreamEndName(StreamEnd end);
// For GoogleTest messages.
inline void PrintTo(StreamEnd end, std::ostream* os) { *os << StreamEndName(end); }

struct SendResult {
  uint64_t bytes = 0;  // accepted by the kernel
  std::string sha256;  // of those bytes
  int error = 0;       // errno of the failed send; 0 if all sent
  bool timed_out = false;
  bool peer_eof = false;  // the peer half-closed while we were sending
};

struct ReceiveResult {
  uint64_t bytes = 0;
  std::string sha256;
  StreamEnd end = StreamEnd::kTimeout;
  int error = 0;          // errno when end is kReset or kError
  bool pattern_ok = true;  // every byte matched the expected pattern (if checked)
  uint64_t first_bad = 0;  // offset of the first mismatch
};

// SendOptions tune SendPattern.
struct SendOptions {
  uint64_t seed = 1;
  uint64_t size = 0;  // UINT64_MAX: until an error, the deadline or `stop`
  bool shutdown_write = false;  // half-close after the last byte
  const std::atomic<bool>* stop = nullptr;  // ends the send early (not an error)
  // Called after each successful send with the running total.
  std::function<void(uint64_t)> progress;
};

// SawReset: the sender saw its connection reset, the way a source host sees
// an aborted flow: ECONNRESET on read or write (EPIPE once the reset was
// already reported), with no clean EOF before it.
inline bool SawReset(const SendResult& sent) {
  return !sent.peer_eof && (sent.error == ECONNRESET || sent.error == EPIPE);
}

// SendPattern sends `size` bytes of seed's pattern. It watches the socket
// for reads too: a reset shows as soon as the peer sends it, not only at the
// next write.
SendResult SendPattern(const Socket& s, const SendOptions& options, Deadline deadline);

// ReceiveAll reads until EOF, a reset, an error or the deadline, hashing
// everything; with `expect_seed` it checks every byte against that pattern.
// `progress` (may be null) is updated with the running byte count.
ReceiveResult ReceiveAll(const Socket& s, Deadline deadline, const uint64_t* expect_seed = nullptr,
                         std::atomic<uint64_t>* progress = nullptr);

// ReceiveExact reads exactly `n` bytes; false on EOF, error or deadline.
bool ReceiveExact(const Socket& s, char* out, size_t n, Deadline deadline);

// WaitReadable waits for data, EOF or an error on `s`; false at the deadline.
bool WaitReadable(const Socket& s, Deadline deadline);

// HttpReply is what HttpGet got back.
struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// HttpGet sends one HTTP/1.0 GET to 127.0.0.1:port (the server closes
// after answering) and returns the status and body, within 5 s.
HttpReply HttpGet(uint16_t port, const std::string& path);
// HttpPost sends a POST with an empty body, as HttpGet does a GET.
HttpReply HttpPost(uint16_t port, const std::string& path);
HttpReply HttpRequest(uint16_t port, const std::string& method, const std::string& path);

// Metric reads one series' value from a Prometheus text body ("name{labels}"
// exactly as rendered); -1 when absent.
double Metric(const std::string& body, const std::string& series);

// TcpServer listens on 127.0.0.1:0 and runs `handler` on its own thread for
// every accepted connection. The server owns the sockets: a handler gets a
// reference, and the socket is closed when the handler returns. The
// destructor stops accepting, shuts every open connection down (so blocked
// handlers return) and joins all threads.
class TcpServer {
 public:
  using Handler = std::function<void(Socket&)>;
  explicit TcpServer(Handler handler);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  struct Conn {
    Socket socket;
    bool closed = false;
  };
  void AcceptLoop();

  Handler handler_;
  Socket listener_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;  // guarded by mu_
  std::vector<std::thread> threads_;          // guarded by mu_
};

// TcpRelay forwards every connection it accepts to 127.0.0.1:upstream_port,
// one thread per connection, and lets a test break one connection: as a
// reset (both sides get an RST, as `ss -K` would do) or as a black hole
// (nothing is forwarded any more, both TCP connections stay up: a path that
// died silently).
class TcpRelay {
 public:
  explicit TcpRelay(uint16_t upstream_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  size_t connections();
  // Bytes forwarded on connection `index` (both directions).
  uint64_t forwarded(size_t index);
  bool WaitForConnections(size_t n, Deadline deadline);
  // Cut resets connection `index` (in accept order) on both sides.
  void Cut(size_t index);
  // Blackhole stops forwarding on connection `index`, leaving it open. What
  // its pump had already read when the call came may still go through: at
  // most kMaxInFlight bytes (one read buffer each way).
  void Blackhole(size_t index);
  static constexpr uint64_t kMaxInFlight = 2 * 256 * 1024;
  // Resume forwards on a black-holed connection again, from where it
  // stopped: a stall that ends, with nothing lost.
  void Resume(size_t index);

 private:
  struct Link;
  void AcceptLoop();
  static void Pump(Link* link);

  uint16_t upstream_port_;
  Socket listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Link>> links_;  // guarded by mu_
};

// Collector gathers results from handler threads.
template <typename T>
class Collector {
 public:
  void Add(T value) {
    std::lock_guard<std::mutex> lock(mu_);
    values_.push_back(std::move(value));
    cv_.notify_all();
  }
  // WaitFor waits until at least `n` values have arrived; false at the
  // deadline.
  bool WaitFor(size_t n, Deadline deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return values_.size() >= n; });
  }
  std::vector<T> Values() {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> values_;
};

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_NET_H_
