// FakePeer: a scripted peer gateway for protocol tests. It dials a real
// braid-proxy's tunnel port as a gateway would (TLS 1.3, a client
// certificate, ALPN braid/1, the server's certificate checked against the
// CA and the expected gateway name), then lets a test send any frame, valid
// or not, and read what the gateway answers, one frame at a time.
//
// It is written against docs/protocol.md, not against the gateway's code:
// TLS is BoringSSL used directly, and the ALPN id and the binder's exporter
// label are the specification's literals. Only the frame codec
// (proxy/wire/frame_codec.h) is shared with the gateway, since it is the
// vocabulary of the wire format and has its own fuzzed unit tests.
//
// One FakePeer is one lane: a test that needs lane 1 of a tunnel makes a
// second FakePeer and passes the first to SendLaneHello for lane 0's binder.
//
// Every call that waits takes a deadline: the socket is non-blocking and
// every wait is a poll(), so a gateway that stops answering fails the test
// instead of hanging it. Main test thread only; not thread-safe.
//
// Expected use:
//   FakePeer peer;
//   ASSERT_TRUE(peer.Connect(port, {cert, key, ca}, "gw-cloud", After(Millis(5'000))));
//   ASSERT_TRUE(peer.SendLaneHello(tunnel_id, 0, 1));
//   FakePeer::Read hello = peer.ReadFrame(After(Millis(5'000)));  // the echo
//   ASSERT_TRUE(peer.SendFrame(wire::Data{1, 0, "x"}));
//   FakePeer::Read r = peer.ReadFrame(After(Millis(5'000)));      // GOAWAY, then kClosed
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_FAKE_PEER_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_FAKE_PEER_H_

#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "braid/wire.h"
#include "gtest/gtest.h"
#include "integration/support/net.h"

namespace braid::integration {

// The specification's literals (docs/protocol.md, "Lane setup").
inline constexpr char kBraidAlpn[] = "braid/1";
inline constexpr char kBinderLabel[] = "EXPORTER-braid-lane-binder";

using Binder = std::array<uint8_t, wire::kBinderSize>;

// PeerIdentity: the PEM files a FakePeer presents and trusts.
struct PeerIdentity {
  std::string cert;
  std::string key;
  std::string ca;
};

class FakePeer {
 public:
  // How a ReadFrame ended.
  enum class End {
    kFrame,    // `frame` holds one whole, valid frame
    kClosed,   // the gateway closed the connection (TCP FIN or close_notify)
    kReset,    // the gateway reset the connection
    kTimeout,  // nothing complete before the deadline
    kError,    // a TLS error (an alert from the gateway) or a frame that does not decode
  };
  struct Read {
    End end = End::kTimeout;
    wire::Frame frame;   // views point into storage, valid as long as this Read
    std::string detail;  // for kError, kReset: why
    std::unique_ptr<std::string> storage;
    // Closed: the connection is gone, either way the gateway ended it.
    bool closed() const { return end == End::kClosed || end == End::kReset; }
  };

  FakePeer() = default;
  ~FakePeer() = default;
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;

  // Connect dials 127.0.0.1:port and completes a TLS 1.3 handshake with
  // `identity`, expecting the server certificate to name `server_name`.
  // Fails with the TLS error or the socket error.
  ::testing::AssertionResult Connect(uint16_t port, const PeerIdentity& identity, const std::string& server_name,
                                     Deadline deadline);

  // ExportBinder is this connection's exporter for `tunnel_id`: what lane 0
  // of a tunnel presents, and every other lane copies.
  Binder ExportBinder(uint64_t tunnel_id) const;

  // SendLaneHello sends LANE_HELLO with lane 0's binder: this connection's
  // own when `lane0` is null, else the one `lane0` exports.
  bool SendLaneHello(uint64_t tunnel_id, uint16_t lane_index, uint16_t lane_count, const FakePeer* lane0 = nullptr);

  // SendFrame encodes one frame with the gateway's codec and sends it as one
  // TLS record. False if the codec refuses the frame or the write fails.
  bool SendFrame(const wire::Frame& frame);
  // SendRaw sends `bytes` inside TLS, as they are: for frames the codec
  // would refuse to encode.
  bool SendRaw(std::string_view bytes);

  // ReadFrame returns the next frame, or how the connection ended. With
  // skip_pings, PING and ACK frames (the gateway's keepalive and its lane
  // acknowledgements) are skipped.
  Read ReadFrame(Deadline deadline, bool skip_pings = true);

  // Close closes the TCP connection without a TLS close_notify.
  void Close();
  const Socket& socket() const { return socket_; }

 private:
  // Wait polls for `events` on the socket until the deadline.
  bool Wait(short events, Deadline deadline) const;
  bool WriteAll(std::string_view bytes, Deadline deadline);

  Socket socket_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
  std::string in_;  // plaintext read but not yet returned as a frame
};

// For GoogleTest messages.
void PrintTo(FakePeer::End end, std::ostream* os);

// Raw TCP, for bytes that are not TLS at all.

// SendBytes writes all of `bytes` to a (non-blocking) socket from Connect.
bool SendBytes(const Socket& s, std::string_view bytes, Deadline deadline);
// LocalEndpoint is "127.0.0.1:PORT" of the socket's own end: how a gateway
// names the connection in its log.
std::string LocalEndpoint(const Socket& s);
// RandomBytes is `n` bytes of seed's pattern: arbitrary binary, not TLS.
std::string RandomBytes(uint64_t seed, size_t n);
// ClientHelloPrefix is the start of a real TLS 1.3 ClientHello (as FakePeer
// would send it), cut to `n` bytes.
std::string ClientHelloPrefix(size_t n);

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_FAKE_PEER_H_
