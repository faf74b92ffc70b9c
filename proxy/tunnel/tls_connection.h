// TlsConnection: one TLS 1.3 connection over a TCP socket, driven by braid
// itself rather than by asio::ssl::stream, so that many TLS records travel
// in one system call.
//
// Why not asio::ssl::stream: its engine moves at most one 17 KiB buffer
// between BoringSSL and the socket per operation, so every 16 KiB record
// costs its own send, its own receive and two trips through the reactor,
// and the bytes are copied twice more on the way (bench/RESULTS.md, the
// gateway profile). Here BoringSSL reads and writes through a BIO of our
// own (a pair of plain memory buffers):
//   - sending: Seal() encrypts frames into the output buffer, as many
//     records as the caller has (up to a few hundred KiB); Flush() writes
//     them with one async_write;
//   - receiving: Fill() reads up to kInputBufferSize ciphertext bytes in one
//     async_read_some; TryRead() decrypts from that buffer with no I/O
//     until it is empty.
//
// KeyUpdate: Seal() counts the records it seals exactly; before the write
// key would seal more than `key_update_records` records, it queues a TLS
// KeyUpdate (not requesting one back), which BoringSSL sends ahead of the
// next record.
//
// Threading: none inside. A connection belongs to one worker; all its
// methods run on that worker's executor. Reading (TryRead, Fill) and writing
// (Seal, Flush) may be driven by two coroutines of that worker at once: the
// output buffer being flushed is swapped out first, so sealing (or an alert
// that a read provokes) during a flush goes to a fresh buffer.
//
// Memory: the input buffer is fixed (kInputBufferSize); the output buffer
// holds what was sealed since the last flush: callers bound it by how much
// they seal before flushing.
#ifndef BRAID_PROXY_TUNNEL_TLS_CONNECTION_H_
#define BRAID_PROXY_TUNNEL_TLS_CONNECTION_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "proxy/runtime/asio.h"

namespace braid::proxy {

class TlsConnection {
 public:
  // Ciphertext read buffer: small while the handshake runs (an
  // unauthenticated connection must cost little: a flood of them is an
  // attack), large once the connection carries a lane (fewer, larger reads).
  static constexpr size_t kHandshakeInputBufferSize = 32 * 1024;
  static constexpr size_t kInputBufferSize = 256 * 1024;

  // The connection adopts `ssl`, made by TlsContext in connect or accept
  // state, and gives it our BIO.
  TlsConnection(tcp::socket socket, bssl::UniquePtr<SSL> ssl);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  asio::any_io_executor get_executor() { return socket_.get_executor(); }
  // UseLargeInput grows the read buffer to kInputBufferSize, keeping what
  // it holds. Call once the peer is authenticated.
  void UseLargeInput() { in_.resize(kInputBufferSize); }
  tcp::socket& socket() { return socket_; }
  SSL* ssl() const { return ssl_.get(); }

  // Handshake runs the TLS handshake to its end, writing every flight
  // (tickets too) before it returns. The error code is empty on success;
  // otherwise ErrorText() says why.
  asio::awaitable<std::tuple<boost::system::error_code>> Handshake();

  enum class ReadStatus : uint8_t {
    kData,       // *n > 0 bytes of plaintext were read
    kNeedInput,  // nothing decryptable is buffered: Fill() and retry
    kClosed,     // the peer closed the connection (close_notify or EOF)
    kError,      // a TLS error (bad record, alert): ErrorText() says which
  };
  // TryRead decrypts buffered input into `out` without any I/O.
  ReadStatus TryRead(std::span<char> out, size_t* n);
  // Fill reads more ciphertext from the socket (one read, at least one
  // byte). Returns eof when the peer has closed its side.
  asio::awaitable<boost::system::error_code> Fill();
  // ReadExactly reads exactly out.size() plaintext bytes, and nothing past
  // them, so that whoever reads next starts right after.
  asio::awaitable<boost::system::error_code> ReadExactly(std::span<char> out);

  // Seal encrypts `bytes` into the output buffer (no I/O). Returns false on
  // a TLS error (ErrorText() says which); the connection is then unusable.
  bool Seal(std::string_view bytes);
  // Bytes sealed and not yet flushed, and whether a read left TLS output
  // (an alert, a KeyUpdate answer) waiting for Flush.
  size_t unflushed_bytes() const { return out_.size(); }
  // Flush writes everything sealed so far to the socket. One Flush at a
  // time.
  asio::awaitable<boost::system::error_code> Flush();

  // Close shuts the socket down and closes it; idempotent.
  void Close();
  // Abort closes the socket with a reset (SO_LINGER 0): whatever the kernel
  // still holds to send is dropped, as when a connection fails.
  void Abort();

  // ErrorText says why the last failed operation failed: the refusal
  // TlsContext recorded (certificate, name, ALPN, the peer's alert), the
  // TLS error, or `ec`'s message.
  std::string ErrorText(const boost::system::error_code& ec) const;

  // Before the write key seals `records` records, Seal queues a KeyUpdate;
  // with `update` false it fails instead ("key usage limit reached"): the
  // owner replaces the connection before that (tunnel.key_limit "rotate").
  void set_key_update_records(uint64_t records, bool update = true) {
    key_update_records_ = records;
    key_updates_allowed_ = update;
  }
  uint64_t key_updates() const { return key_updates_; }
  uint64_t records_sealed() const { return records_sealed_; }

 private:
  // The BIO's read and write ends, called by BoringSSL.
  static int BioRead(BIO* bio, char* out, int len);
  static int BioWrite(BIO* bio, const char* in, int len);
  static long BioCtrl(BIO* bio, int cmd, long larg, void* parg);
  static const BIO_METHOD* BioMethod();
  // Records the reason of a failed SSL call that returned `ret`.
  void RecordError(int ret);

  tcp::socket socket_;
  bssl::UniquePtr<SSL> ssl_;
  // Ciphertext read from the socket: in_[in_begin_, in_end_) is not yet
  // consumed by BoringSSL.
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  // Ciphertext sealed and not yet written; flushing_ is the buffer a Flush
  // is writing (kept to reuse its capacity).
  std::string out_;
  std::string flushing_;
  std::string error_;
  uint64_t key_update_records_ = UINT64_MAX;
  uint64_t records_since_key_update_ = 0;
  uint64_t records_sealed_ = 0;
  uint64_t key_updates_ = 0;
  bool key_updates_allowed_ = true;
};

}  // namespace braid::proxy

#endif  // BRAID_PROXY_TUNNEL_TLS_CONNECTION_H_
