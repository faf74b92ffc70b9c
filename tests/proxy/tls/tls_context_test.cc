// Tests of TlsContext's handshake policy (proxy/tls/tls_context.h): real
// TLS 1.3 handshakes over loopback, the precise reason for every refusal,
// and the errors of Create.
#include "proxy/tls/tls_context.h"

#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tls_loopback.h"

namespace braid::proxy {
namespace {

using ::braid::proxy::tls_test::Connect;
using ::braid::proxy::tls_test::Connection;
using ::braid::proxy::tls_test::MakeContext;
using ::braid::proxy::tls_test::Pki;
using ::braid::proxy::tls_test::SharedPki;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(TlsContextTest, MutualHandshakeWithAlpnAndNames) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  EXPECT_EQ(cloud->local_name(), "gw-cloud");
  Connection c = Connect(cloud, onprem, "gw-cloud");
  ASSERT_TRUE(c.client.ok) << c.client.reason;
  ASSERT_TRUE(c.server.ok) << c.server.reason;
  EXPECT_EQ(c.client.peer_name, "gw-cloud");
  EXPECT_EQ(c.server.peer_name, "gw-onprem");
  EXPECT_EQ(c.client.version, TLS1_3_VERSION);
  EXPECT_EQ(c.server.version, TLS1_3_VERSION);
  EXPECT_EQ(c.client.alpn, "braid/1");
  EXPECT_EQ(c.server.alpn, "braid/1");
  EXPECT_FALSE(c.client.resumed);
}

TEST(TlsContextTest, ClientCertificateFromAnotherCaIsRefused) {
  auto cloud = MakeContext("a", "gw-cloud");
  // Its own CA is b, and it trusts a too, so it accepts the server.
  auto rogue = MakeContext("b", "gw-onprem", SharedPki().BothCas());
  ASSERT_TRUE(cloud && rogue);
  Connection c = Connect(cloud, rogue, "gw-cloud");
  EXPECT_FALSE(c.server.ok);
  EXPECT_THAT(c.server.reason, StartsWith("peer certificate not signed by the configured CA"));
  EXPECT_EQ(c.server.recorded, c.server.reason);
  EXPECT_FALSE(c.client.ok);
  EXPECT_THAT(c.client.reason, HasSubstr("peer refused our certificate"));
  EXPECT_THAT(c.client.reason, HasSubstr("unknown CA"));
  EXPECT_EQ(c.client.recorded, c.client.reason);
}

TEST(TlsContextTest, ServerCertificateFromAnotherCaIsRefused) {
  auto rogue_cloud = MakeContext("b", "gw-cloud", SharedPki().BothCas());
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(rogue_cloud && onprem);
  Connection c = Connect(rogue_cloud, onprem, "gw-cloud");
  EXPECT_FALSE(c.client.ok);
  EXPECT_THAT(c.client.reason, StartsWith("peer certificate not signed by the configured CA"));
  EXPECT_FALSE(c.server.ok);
  EXPECT_THAT(c.server.reason, HasSubstr("unknown CA"));
}

TEST(TlsContextTest, ServerWithTheWrongNameIsRefused) {
  auto other = MakeContext("a", "gw-other");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(other && onprem);
  Connection c = Connect(other, onprem, "gw-cloud");
  EXPECT_FALSE(c.client.ok);
  EXPECT_EQ(c.client.reason, "peer name gw-other does not match expected gw-cloud");
  EXPECT_FALSE(c.server.ok);
  EXPECT_THAT(c.server.reason, HasSubstr("peer refused our certificate"));
}

TEST(TlsContextTest, ClientWithoutAlpnIsRefused) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  bssl::UniquePtr<SSL> client = *onprem->NewClientSsl("gw-cloud");
  ASSERT_EQ(SSL_set_alpn_protos(client.get(), reinterpret_cast<const uint8_t*>(""), 0), 0);
  Connection c = Connect(*cloud->NewServerSsl(), std::move(client));
  EXPECT_FALSE(c.server.ok);
  EXPECT_EQ(c.server.reason, "no ALPN braid/1 (the client offered none)");
  EXPECT_FALSE(c.client.ok);
  EXPECT_THAT(c.client.reason, HasSubstr("peer refused the handshake"));

  bssl::UniquePtr<SSL> h2_client = *onprem->NewClientSsl("gw-cloud");
  const uint8_t h2[] = {2, 'h', '2'};
  ASSERT_EQ(SSL_set_alpn_protos(h2_client.get(), h2, sizeof(h2)), 0);
  Connection h2c = Connect(*cloud->NewServerSsl(), std::move(h2_client));
  EXPECT_EQ(h2c.server.reason, "no ALPN braid/1 (the client offered: h2)");
}

TEST(TlsContextTest, ClientWithoutCertificateIsRefused) {
  auto cloud = MakeContext("a", "gw-cloud");
  ASSERT_TRUE(cloud);
  // A bare client: TLS 1.3 and ALPN right, but no certificate.
  bssl::UniquePtr<SSL_CTX> bare(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_min_proto_version(bare.get(), TLS1_3_VERSION);
  SSL_CTX_set_custom_verify(bare.get(), SSL_VERIFY_PEER,
                            [](SSL*, uint8_t*) { return ssl_verify_ok; });
  const uint8_t alpn[] = {7, 'b', 'r', 'a', 'i', 'd', '/', '1'};
  SSL_CTX_set_alpn_protos(bare.get(), alpn, sizeof(alpn));
  bssl::UniquePtr<SSL> client(SSL_new(bare.get()));
  SSL_set_connect_state(client.get());
  Connection c = Connect(*cloud->NewServerSsl(), std::move(client));
  EXPECT_FALSE(c.server.ok);
  EXPECT_EQ(c.server.reason, "peer sent no certificate (alert sent: certificate required)");
  // Recorded as it happened, so it survives an I/O layer that empties
  // BoringSSL's error queue.
  EXPECT_EQ(c.server.recorded, c.server.reason);
}

TEST(TlsContextTest, Tls12ClientIsRefused) {
  auto cloud = MakeContext("a", "gw-cloud");
  ASSERT_TRUE(cloud);
  bssl::UniquePtr<SSL_CTX> old(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_max_proto_version(old.get(), TLS1_2_VERSION);
  const uint8_t alpn[] = {7, 'b', 'r', 'a', 'i', 'd', '/', '1'};
  SSL_CTX_set_alpn_protos(old.get(), alpn, sizeof(alpn));
  bssl::UniquePtr<SSL> client(SSL_new(old.get()));
  SSL_set_connect_state(client.get());
  Connection c = Connect(*cloud->NewServerSsl(), std::move(client));
  EXPECT_FALSE(c.server.ok);
  EXPECT_EQ(c.server.reason, "peer does not speak TLS 1.3 (alert sent: protocol version)");
}

TEST(TlsContextTest, AcceptPeerRefusesUnknownNamesAlsoOnResumption) {
  auto allowed = std::make_shared<std::atomic<bool>>(true);
  TlsContextOptions options;
  options.accept_peer = [allowed](std::string_view name) {
    if (*allowed && name == "gw-onprem") return absl::OkStatus();
    return absl::PermissionDeniedError("not a configured peer");
  };
  auto cloud = MakeContext("a", "gw-cloud", "", options);
  auto onprem = MakeContext("a", "gw-onprem");
  auto other = MakeContext("a", "gw-other");
  ASSERT_TRUE(cloud && onprem && other);

  Connection refused = Connect(cloud, other, "gw-cloud");
  EXPECT_EQ(refused.server.reason, "peer gw-other refused: not a configured peer");
  EXPECT_THAT(refused.client.reason, HasSubstr("peer refused our gateway name"));

  Connection first = Connect(cloud, onprem, "gw-cloud");
  ASSERT_TRUE(first.server.ok) << first.server.reason;
  // Revoked after the ticket was issued: resuming must not get it in.
  *allowed = false;
  Connection resumed = Connect(cloud, onprem, "gw-cloud");
  EXPECT_TRUE(resumed.server.resumed);
  EXPECT_FALSE(resumed.server.ok);
  EXPECT_EQ(resumed.server.reason, "peer gw-onprem refused: not a configured peer");
  EXPECT_FALSE(resumed.client.ok);
  EXPECT_THAT(resumed.client.reason, HasSubstr("peer refused our gateway name"));
}

TEST(TlsContextTest, CreateReportsBadFiles) {
  const Pki& p = SharedPki();
  auto create = [](std::string cert, std::string key, std::string ca) {
    TlsContextOptions options;
    options.cert_file = std::move(cert);
    options.key_file = std::move(key);
    options.ca_file = std::move(ca);
    return TlsContext::Create(std::move(options)).status();
  };
  absl::Status missing = create(p.Cert("a", "gw-none"), p.Key("a", "gw-none"), p.Ca("a"));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("gw-none.crt"));

  absl::Status mismatched = create(p.Cert("a", "gw-cloud"), p.Key("a", "gw-onprem"), p.Ca("a"));
  EXPECT_THAT(mismatched.message(), HasSubstr("does not match certificate"));

  absl::Status wrong_ca = create(p.Cert("b", "gw-cloud"), p.Key("b", "gw-cloud"), p.Ca("a"));
  EXPECT_THAT(wrong_ca.message(), HasSubstr("does not verify against CA file"));

  absl::Status leaf_as_ca =
      create(p.Cert("a", "gw-cloud"), p.Key("a", "gw-cloud"), p.Cert("a", "gw-onprem"));
  EXPECT_THAT(leaf_as_ca.message(), HasSubstr("not a CA certificate"));

  auto cloud = MakeContext("a", "gw-cloud");
  ASSERT_TRUE(cloud);
  EXPECT_EQ(cloud->NewClientSsl("gw cloud").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::proxy
