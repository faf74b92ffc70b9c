// Test harness for braid_tls: a PKI made with braid_pki, and real TLS
// connections between two threads over loopback TCP. Nothing is mocked:
// what passes through here is what two gateways would do.
#ifndef BRAID_TESTS_PROXY_TLS_TLS_LOOPBACK_H_
#define BRAID_TESTS_PROXY_TLS_TLS_LOOPBACK_H_

#include <openssl/ssl.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "pki/temp_dir.h"
#include "proxy/tls/tls_context.h"

namespace braid::proxy::tls_test {

// Pki is the PKI shared by the tests: CA "a" with gw-onprem, gw-cloud and
// gw-other; CA "b" (also named "braid CA") with its own gw-onprem and
// gw-cloud; and a CA file trusting both.
class Pki {
 public:
  Pki();
  std::string Ca(const std::string& ca) const { return dir_.File(ca + "-ca.crt"); }
  std::string BothCas() const { return dir_.File("both-ca.crt"); }
  std::string Cert(const std::string& ca, const std::string& name) const {
    return dir_.File(ca + "-" + name + ".crt");
  }
  std::string Key(const std::string& ca, const std::string& name) const {
    return dir_.File(ca + "-" + name + ".key");
  }

 private:
  void Make(const std::string& ca_name, std::initializer_list<std::string> gateways);

  braid::testing::TempDir dir_;
};

// SharedPki is made once per test process and removed at exit.
const Pki& SharedPki();

// MakeContext returns a context for gateway `name` of CA `ca`, trusting
// `ca_file` (default: CA `ca` alone). Null, with a test failure, on error.
std::shared_ptr<const TlsContext> MakeContext(const std::string& ca, const std::string& name,
                                              std::string ca_file = "",
                                              TlsContextOptions options = {});

// Outcome is what one side of a connection saw.
struct Outcome {
  bool ok = false;       // Handshake, CheckEstablished and the "ready" exchange all passed.
  std::string reason;    // Why not: TlsFailureReason, or CheckEstablished's message.
  std::string recorded;  // RecordedTlsFailure, on failure.
  bool resumed = false;  // Set as soon as the handshake completes.
  std::string peer_name;
  int version = 0;
  std::string alpn;
  LaneBinder binder{};  // ExportLaneBinder(ssl, 7).
};

struct Connection {
  Outcome client;
  Outcome server;
};

// Body runs on one side after the "ready" exchange.
using Body = std::function<void(SSL*)>;

// Connect runs one connection over a fresh loopback TCP connection, the
// server on its own thread: handshake, CheckEstablished, then the server
// writes "ready" and the client reads it (so a refusal that TLS 1.3 reports
// after the client's handshake shows up), then the bodies. Sockets time out
// after 10 seconds, so a broken test fails instead of hanging.
Connection Connect(bssl::UniquePtr<SSL> server_ssl, bssl::UniquePtr<SSL> client_ssl,
                   Body server_body = nullptr, Body client_body = nullptr);

// Connect with SSLs from NewServerSsl and NewClientSsl(peer).
Connection Connect(const std::shared_ptr<const TlsContext>& server,
                   const std::shared_ptr<const TlsContext>& client, const std::string& peer,
                   Body server_body = nullptr, Body client_body = nullptr);

}  // namespace braid::proxy::tls_test

#endif  // BRAID_TESTS_PROXY_TLS_TLS_LOOPBACK_H_
