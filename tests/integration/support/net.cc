#include "integration/support/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace braid::integration {
namespace {

constexpr size_t kChunk = 256 * 1024;
static_assert(TcpRelay::kMaxInFlight == 2 * kChunk, "one read buffer each way");

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// PollMs turns a deadline into a poll() timeout, at least 0.
int PollMs(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1'000));
}

// ListenLoopback makes a listening socket on 127.0.0.1:0.
Socket ListenLoopback(uint16_t* port) {
  Socket s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = Loopback(0);
  if (!s.valid() || bind(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(s.fd(), 1024) != 0) {
    return Socket();
  }
  socklen_t len = sizeof(addr);
  getsockname(s.fd(), reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return s;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint16_t FreePort() {
  uint16_t port = 0;
  Socket s = ListenLoopback(&port);
  return s.valid() ? port : 0;
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void Socket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Socket::Reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close();
}

bool Socket::ShutdownWrite() { return fd_ >= 0 && shutdown(fd_, SHUT_WR) == 0; }

Socket Connect(uint16_t port, Deadline deadline, int* error) { return ConnectFrom(nullptr, port, deadline, error); }

Socket ConnectFrom(const char* source, uint16_t port, Deadline deadline, int* error) {
  int ignored;
  if (error == nullptr) error = &ignored;
  *error = 0;
  Socket s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) {
    *error = errno;
    return Socket();
  }
  if (source != nullptr) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source, &local.sin_addr) != 1) {
      *error = EINVAL;
      return Socket();
    }
    if (bind(s.fd(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      *error = errno;
      return Socket();
    }
  }
  sockaddr_in addr = Loopback(port);
  if (connect(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
    *error = errno;
    return Socket();
  }
  pollfd p{s.fd(), POLLOUT, 0};
  while (poll(&p, 1, PollMs(deadline)) == 0) {
    if (Clock::now() >= deadline) {
      *error = ETIMEDOUT;
      return Socket();
    }
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *error = so_error;
    return Socket();
  }
  return s;
}

std::string Sha256::Hex() {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx_);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

uint64_t PatternStream::Word(uint64_t index) const { return SplitMix64(SplitMix64(seed_) ^ index); }

void PatternStream::Fill(char* out, size_t n) {
  while (n > 0) {
    const uint64_t word = Word(pos_ / 8);
    const size_t offset = pos_ % 8;
    if (offset == 0 && n >= 8) {
      // The fast path: whole words.
      const size_t words = n / 8;
      for (size_t i = 0; i < words; ++i) {
        const uint64_t w = Word(pos_ / 8 + i);
        std::memcpy(out + i * 8, &w, 8);
      }
      out += words * 8;
      n -= words * 8;
      pos_ += words * 8;
      continue;
    }
    const size_t take = std::min(n, 8 - offset);
    std::memcpy(out, reinterpret_cast<const char*>(&word) + offset, take);
    out += take;
    n -= take;
    pos_ += take;
  }
}

std::string PatternDigest(uint64_t seed, uint64_t size) {
  PatternStream pattern(seed);
  Sha256 sha;
  std::vector<char> buf(kChunk);
  while (size > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size, buf.size()));
    pattern.Fill(buf.data(), n);
    sha.Update(buf.data(), n);
    size -= n;
  }
  return sha.Hex();
}

const char* StreamEndName(StreamEnd end) {
  switch (end) {
    case StreamEnd::kEof: return "eof";
    case StreamEnd::kReset: return "reset";
    case StreamEnd::kError: return "error";
    case StreamEnd::kTimeout: return "timeout";
    case StreamEnd::kStopped: return "stopped";
  }
  return "?";
}

SendResult SendPattern(const Socket& s, const SendOptions& options, Deadline deadline) {
  SendResult result;
  PatternStream pattern(options.seed);
  Sha256 sha;
  std::vector<char> buf(kChunk);
  size_t buf_len = 0, buf_off = 0;
  bool watch_reads = true;
  while (result.bytes < options.size) {
    if (options.stop != nullptr && options.stop->load()) break;
    if (buf_off == buf_len) {
      buf_len = static_cast<size_t>(std::min<uint64_t>(options.size - result.bytes, buf.size()));
      pattern.Fill(buf.data(), buf_len);
      buf_off = 0;
    }
    pollfd p{s.fd(), static_cast<short>(POLLOUT | (watch_reads ? POLLIN : 0)), 0};
    const int ready = poll(&p, 1, PollMs(deadline));
    if (ready == 0) {
      if (Clock::now() >= deadline) {
        result.timed_out = true;
        break;
      }
      continue;
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      char probe;
      const ssize_t r = recv(s.fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r < 0 && errno != EAGAIN) {
        result.error = errno;
        break;
      }
      if (r == 0) result.peer_eof = true;
      // EOF or data for someone else: stop watching, keep sending.
      if (r >= 0) watch_reads = false;
    }
    if (!(p.revents & (POLLOUT | POLLERR))) continue;
    const ssize_t n = send(s.fd(), buf.data() + buf_off, buf_len - buf_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      result.error = errno;
      break;
    }
    sha.Update(buf.data() + buf_off, static_cast<size_t>(n));
    buf_off += static_cast<size_t>(n);
    result.bytes += static_cast<uint64_t>(n);
    if (options.progress) options.progress(result.bytes);
  }
  if (result.error == 0 && !result.timed_out && options.shutdown_write) {
    if (shutdown(s.fd(), SHUT_WR) != 0) result.error = errno;
  }
  result.sha256 = sha.Hex();
  return result;
}

ReceiveResult ReceiveAll(const Socket& s, Deadline deadline, const uint64_t* expect_seed,
                         std::atomic<uint64_t>* progress) {
  ReceiveResult result;
  Sha256 sha;
  std::vector<char> buf(kChunk), expected(expect_seed != nullptr ? kChunk : 0);
  PatternStream pattern(expect_seed != nullptr ? *expect_seed : 0);
  for (;;) {
    pollfd p{s.fd(), POLLIN, 0};
    if (poll(&p, 1, PollMs(deadline)) == 0) {
      if (Clock::now() >= deadline) {
        result.end = StreamEnd::kTimeout;
        break;
      }
      continue;
    }
    const ssize_t n = recv(s.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n == 0) {
      result.end = StreamEnd::kEof;
      break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      result.error = errno;
      result.end = errno == ECONNRESET ? StreamEnd::kReset : StreamEnd::kError;
      break;
    }
    sha.Update(buf.data(), static_cast<size_t>(n));
    if (expect_seed != nullptr && result.pattern_ok) {
      pattern.Fill(expected.data(), static_cast<size_t>(n));
      if (std::memcmp(expected.data(), buf.data(), static_cast<size_t>(n)) != 0) {
        size_t i = 0;
        while (expected[i] == buf[i]) ++i;
        result.pattern_ok = false;
        result.first_bad = result.bytes + i;
      }
    }
    result.bytes += static_cast<uint64_t>(n);
    if (progress != nullptr) progress->store(result.bytes);
  }
  result.sha256 = sha.Hex();
  return result;
}

bool ReceiveExact(const Socket& s, char* out, size_t n, Deadline deadline) {
  size_t got = 0;
  while (got < n) {
    if (!WaitReadable(s, deadline)) return false;
    const ssize_t r = recv(s.fd(), out + got, n - got, MSG_DONTWAIT);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

bool WaitReadable(const Socket& s, Deadline deadline) {
  for (;;) {
    pollfd p{s.fd(), POLLIN, 0};
    if (poll(&p, 1, PollMs(deadline)) > 0) return true;
    if (Clock::now() >= deadline) return false;
  }
}

HttpReply HttpGet(uint16_t port, const std::string& path) { return HttpRequest(port, "GET", path); }

HttpReply HttpPost(uint16_t port, const std::string& path) { return HttpRequest(port, "POST", path); }

HttpReply HttpRequest(uint16_t port, const std::string& method, const std::string& path) {
  HttpReply reply;
  int error = 0;
  Socket s = Connect(port, After(std::chrono::milliseconds(5'000)), &error);
  if (!s.valid()) return reply;
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
  if (::send(s.fd(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return reply;
  std::string raw;
  char buf[16384];
  const Deadline deadline = After(std::chrono::milliseconds(5'000));
  while (WaitReadable(s, deadline)) {
    const ssize_t n = ::recv(s.fd(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  const size_t sp = raw.find(' ');
  const size_t end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos) return reply;
  reply.status = std::atoi(raw.c_str() + sp + 1);
  reply.body = raw.substr(end + 4);
  return reply;
}

double Metric(const std::string& body, const std::string& series) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// --- TcpServer ---------------------------------------------------------

TcpServer::TcpServer(Handler handler) : handler_(std::move(handler)) {
  listener_ = ListenLoopback(&port_);
  if (listener_.valid()) accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void TcpServer::AcceptLoop() {
  for (;;) {
    const int fd = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (stopping_.load()) {
      if (fd >= 0) close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    auto conn = std::make_shared<Conn>();
    conn->socket = Socket(fd);
    ++accepted_;
    std::lock_guard<std::mutex> lock(mu_);
    conns_.push_back(conn);
    threads_.emplace_back([this, conn] {
      handler_(conn->socket);
      std::lock_guard<std::mutex> inner(mu_);
      conn->socket.Close();
      conn->closed = true;
    });
  }
}

TcpServer::~TcpServer() {
  stopping_.store(true);
  if (listener_.valid()) shutdown(listener_.fd(), SHUT_RDWR);  // wakes accept()
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& conn : conns_) {
      if (!conn->closed) shutdown(conn->socket.fd(), SHUT_RDWR);
    }
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

// --- TcpRelay ----------------------------------------------------------

struct TcpRelay::Link {
  enum Mode : int { kForward, kBlackhole, kStop };
  Socket down;  // accepted from the dialing gateway
  Socket up;    // to the upstream gateway
  Socket wake;  // eventfd: a mode change
  std::atomic<int> mode{kForward};
  std::atomic<uint64_t> forwarded{0};
  std::thread thread;
};

TcpRelay::TcpRelay(uint16_t upstream_port) : upstream_port_(upstream_port) {
  listener_ = ListenLoopback(&port_);
  if (listener_.valid()) accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void TcpRelay::AcceptLoop() {
  for (;;) {
    const int fd = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (stopping_.load()) {
      if (fd >= 0) close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    auto link = std::make_unique<Link>();
    link->down = Socket(fd);
    link->up = Connect(upstream_port_, After(std::chrono::seconds(5)));
    link->wake = Socket(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!link->up.valid()) {
      link->down.Reset();
      continue;
    }
    const int one = 1;
    setsockopt(link->down.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(link->up.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(link->down.fd(), F_SETFL, O_NONBLOCK);
    Link* raw = link.get();
    std::lock_guard<std::mutex> lock(mu_);
    link->thread = std::thread([raw] { Pump(raw); });
    links_.push_back(std::move(link));
  }
}

void TcpRelay::Pump(Link* link) {
  struct Direction {
    int from, to;
    std::vector<char> buf = std::vector<char>(kChunk);
    size_t len = 0, off = 0;
    bool eof = false, shut = false;
  };
  Direction dirs[2] = {{link->down.fd(), link->up.fd()}, {link->up.fd(), link->down.fd()}};
  for (;;) {
    const int mode = link->mode.load();
    if (mode == Link::kStop) return;
    pollfd p[5];
    int count = 0;
    p[count++] = {link->wake.fd(), POLLIN, 0};
    if (mode == Link::kForward) {
      for (Direction& d : dirs) {
        if (d.off < d.len) {
          p[count++] = {d.to, POLLOUT, 0};
        } else if (!d.eof) {
          p[count++] = {d.from, POLLIN, 0};
        }
      }
    }
    if (count == 1 && mode == Link::kForward) {
      // Both directions ended cleanly.
      link->down.Close();
      link->up.Close();
      return;
    }
    poll(p, static_cast<nfds_t>(count), 1'000);
    if (p[0].revents & POLLIN) {
      uint64_t drained;
      (void)!read(link->wake.fd(), &drained, sizeof(drained));
      continue;
    }
    // A black hole moves nothing, not even on a poll timeout.
    if (mode != Link::kForward) continue;
    for (Direction& d : dirs) {
      if (d.off == d.len && !d.eof) {
        const ssize_t n = recv(d.from, d.buf.data(), d.buf.size(), MSG_DONTWAIT);
        if (n == 0) {
          d.eof = true;
        } else if (n > 0) {
          d.len = static_cast<size_t>(n);
          d.off = 0;
        } else if (errno != EAGAIN && errno != EINTR) {
          // A reset or error on one side: pass it on as a reset.
          link->down.Reset();
          link->up.Reset();
          return;
        }
      }
      if (d.off < d.len) {
        const ssize_t n = send(d.to, d.buf.data() + d.off, d.len - d.off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          d.off += static_cast<size_t>(n);
          link->forwarded += static_cast<uint64_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          link->down.Reset();
          link->up.Reset();
          return;
        }
      }
      if (d.eof && d.off == d.len && !d.shut) {
        shutdown(d.to, SHUT_WR);
        d.shut = true;
      }
    }
  }
}

size_t TcpRelay::connections() {
  std::lock_guard<std::mutex> lock(mu_);
  return links_.size();
}

uint64_t TcpRelay::forwarded(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  return index < links_.size() ? links_[index]->forwarded.load() : 0;
}

bool TcpRelay::WaitForConnections(size_t n, Deadline deadline) {
  while (connections() < n) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void TcpRelay::Cut(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index >= links_.size()) return;
  Link& link = *links_[index];
  link.mode.store(Link::kStop);
  const uint64_t one = 1;
  (void)!write(link.wake.fd(), &one, sizeof(one));
  if (link.thread.joinable()) link.thread.join();
  link.down.Reset();
  link.up.Reset();
}

void TcpRelay::Blackhole(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index >= links_.size()) return;
  Link& link = *links_[index];
  link.mode.store(Link::kBlackhole);
  const uint64_t one = 1;
  (void)!write(link.wake.fd(), &one, sizeof(one));
}

void TcpRelay::Resume(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index >= links_.size()) return;
  Link& link = *links_[index];
  int expected = Link::kBlackhole;
  if (!link.mode.compare_exchange_strong(expected, Link::kForward)) return;
  const uint64_t one = 1;
  (void)!write(link.wake.fd(), &one, sizeof(one));
}

TcpRelay::~TcpRelay() {
  stopping_.store(true);
  if (listener_.valid()) shutdown(listener_.fd(), SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& link : links_) {
    link->mode.store(Link::kStop);
    const uint64_t one = 1;
    (void)!write(link->wake.fd(), &one, sizeof(one));
    if (link->thread.joinable()) link->thread.join();
  }
}

}  // namespace braid::integration
