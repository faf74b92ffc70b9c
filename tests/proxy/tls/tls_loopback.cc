#include "tls_loopback.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"
#include "pki/certificate_authority.h"
#include "pki/pem_files.h"

namespace braid::proxy::tls_test {

namespace {

// Contents returns the file's contents, or a marker that matches nothing.
std::string Contents(const std::string& path) {
  return pki::ReadFile(path).value_or("<unreadable>");
}

constexpr char kReady[] = "ready";
constexpr size_t kReadyLen = 5;

}  // namespace

Pki::Pki() {
  Make("a", {"gw-onprem", "gw-cloud", "gw-other"});
  Make("b", {"gw-onprem", "gw-cloud"});
  std::string both = Contents(Ca("a")) + Contents(Ca("b"));
  EXPECT_TRUE(pki::WriteFileAtomically(dir_.File("both-ca.crt"), both, 0644, false).ok());
}

void Pki::Make(const std::string& ca_name, std::initializer_list<std::string> gateways) {
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Create();
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(pki::WriteFileAtomically(
                  Ca(ca_name), pki::CertificateToPem(ca->certificate()).value_or(""), 0644, false)
                  .ok());
  for (const std::string& name : gateways) {
    absl::StatusOr<pki::IssuedIdentity> id = ca->Issue(name);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(pki::WriteKeyAndCertificate(Key(ca_name, name), id->key.get(), Cert(ca_name, name),
                                            id->certificate.get(), false)
                    .ok());
  }
}

// SharedPki is made once per test process and removed at exit.
const Pki& SharedPki() {
  static const Pki pki;
  return pki;
}

std::shared_ptr<const TlsContext> MakeContext(const std::string& ca, const std::string& name,
                                              std::string ca_file, TlsContextOptions options) {
  const Pki& p = SharedPki();
  options.cert_file = p.Cert(ca, name);
  options.key_file = p.Key(ca, name);
  options.ca_file = ca_file.empty() ? p.Ca(ca) : ca_file;
  absl::StatusOr<std::shared_ptr<const TlsContext>> context = TlsContext::Create(options);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? *context : nullptr;
}

namespace {

// ConnectedPair returns a loopback TCP connection: {client fd, server fd}.
// Both have 10-second timeouts so that a broken test fails instead of hanging.
std::pair<int, int> ConnectedPair() {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(listener, 1), 0);
  EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(server, 0);
  close(listener);
  timeval timeout{10, 0};
  for (int fd : {client, server}) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  }
  return {client, server};
}

// RunSide drives one side: handshake, CheckEstablished, then the server
// writes "ready" and the client reads it (so a refusal that TLS 1.3 reports
// after the client's handshake shows up), then `body`.
void RunSide(SSL* ssl, int fd, bool server, Outcome* out, const Body& body) {
  SSL_set_fd(ssl, fd);
  // Failed records both reasons; RecordedTlsFailure is read after the error
  // queue is gone, as an asio caller would.
  auto failed = [&](int ret) {
    out->reason = TlsFailureReason(ssl, ret);
    out->recorded = RecordedTlsFailure(ssl);
  };
  int ret = SSL_do_handshake(ssl);
  if (ret != 1) return failed(ret);
  out->resumed = HandshakeResumed(ssl);
  if (absl::Status s = CheckEstablished(ssl); !s.ok()) {
    out->reason = std::string(s.message());
    out->recorded = RecordedTlsFailure(ssl);
    return;
  }
  if (server) {
    ret = SSL_write(ssl, kReady, kReadyLen);
    if (ret <= 0) return failed(ret);
  } else {
    char buf[kReadyLen];
    ret = SSL_read(ssl, buf, sizeof(buf));
    if (ret <= 0) return failed(ret);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(ret)), kReady);
  }
  out->ok = true;
  out->peer_name = PeerName(ssl).value_or("(none)");
  out->version = SSL_version(ssl);
  const uint8_t* alpn;
  unsigned alpn_len;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  out->alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  absl::StatusOr<LaneBinder> binder = ExportLaneBinder(ssl, 7);
  EXPECT_TRUE(binder.ok());
  if (binder.ok()) out->binder = *binder;
  if (body) body(ssl);
  if (server) {
    // Wait for the client to finish, so closing never cuts its reads short.
    char drain[256];
    while (SSL_read(ssl, drain, sizeof(drain)) > 0) {
    }
  } else {
    SSL_shutdown(ssl);
  }
}

}  // namespace

Connection Connect(bssl::UniquePtr<SSL> server_ssl, bssl::UniquePtr<SSL> client_ssl,
                   Body server_body, Body client_body) {
  Connection c;
  auto [client_fd, server_fd] = ConnectedPair();
  std::thread server([&, fd = server_fd] {
    RunSide(server_ssl.get(), fd, true, &c.server, server_body);
    server_ssl.reset();
    close(fd);
  });
  RunSide(client_ssl.get(), client_fd, false, &c.client, client_body);
  client_ssl.reset();
  close(client_fd);
  server.join();
  return c;
}

Connection Connect(const std::shared_ptr<const TlsContext>& server,
                   const std::shared_ptr<const TlsContext>& client, const std::string& peer,
                   Body server_body, Body client_body) {
  return Connect(*server->NewServerSsl(), *client->NewClientSsl(peer), std::move(server_body),
                 std::move(client_body));
}

}  // namespace braid::proxy::tls_test
