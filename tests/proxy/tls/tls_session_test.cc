// Tests of what a lane does with an established TLS session
// (proxy/tls/tls_context.h, tls_session_cache.h): resumption from the
// per-peer ticket cache, lanes opened concurrently, KeyUpdate mid-stream and
// the exporter-derived lane binder. Real TLS 1.3 over loopback.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_session_cache.h"
#include "tls_loopback.h"

namespace braid::proxy {
namespace {

using ::braid::proxy::tls_test::Connect;
using ::braid::proxy::tls_test::Connection;
using ::braid::proxy::tls_test::MakeContext;

TEST(TlsSessionTest, SecondConnectionResumesFromTheCache) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  EXPECT_EQ(onprem->session_cache().Count("gw-cloud"), 0u);
  Connection first = Connect(cloud, onprem, "gw-cloud");
  ASSERT_TRUE(first.client.ok && first.server.ok) << first.client.reason << first.server.reason;
  EXPECT_FALSE(first.client.resumed);
  EXPECT_EQ(onprem->session_cache().Count("gw-cloud"), 2u);  // Two tickets per handshake.
  EXPECT_EQ(onprem->session_cache().Count("gw-other"), 0u);

  Connection second = Connect(cloud, onprem, "gw-cloud");
  ASSERT_TRUE(second.client.ok && second.server.ok) << second.client.reason << second.server.reason;
  EXPECT_TRUE(second.client.resumed);
  EXPECT_TRUE(second.server.resumed);
  EXPECT_EQ(second.client.peer_name, "gw-cloud");  // Names survive resumption.
  EXPECT_EQ(second.server.peer_name, "gw-onprem");
  EXPECT_NE(second.client.binder, first.client.binder);

  // Tickets are per peer: expecting another name never offers gw-cloud's.
  auto other = MakeContext("a", "gw-other");
  Connection third = Connect(other, onprem, "gw-other");
  ASSERT_TRUE(third.client.ok) << third.client.reason;
  EXPECT_FALSE(third.client.resumed);

  // Burst of lanes: the last ticket is shared instead of running out.
  onprem->session_cache().Forget("gw-cloud");
  ASSERT_TRUE(Connect(cloud, onprem, "gw-cloud").client.ok);
  for (int lane = 0; lane < 4; ++lane) {
    bssl::UniquePtr<SSL> ssl = *onprem->NewClientSsl("gw-cloud");
    EXPECT_NE(SSL_get_session(ssl.get()), nullptr) << lane;
  }
}

TEST(TlsSessionTest, ConcurrentLanesAllResume) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  ASSERT_TRUE(Connect(cloud, onprem, "gw-cloud").client.ok);
  // Lanes of one tunnel open at once, on their own threads, from one context.
  constexpr int kLanes = 6;
  Connection lanes[kLanes];
  std::thread threads[kLanes];
  for (int i = 0; i < kLanes; ++i) {
    threads[i] = std::thread([&, i] { lanes[i] = Connect(cloud, onprem, "gw-cloud"); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kLanes; ++i) {
    EXPECT_TRUE(lanes[i].client.ok && lanes[i].server.ok) << lanes[i].client.reason;
    EXPECT_TRUE(lanes[i].client.resumed) << i;
    EXPECT_EQ(lanes[i].server.peer_name, "gw-onprem");
    EXPECT_EQ(lanes[i].client.binder, lanes[i].server.binder);
    if (i > 0) {
      EXPECT_NE(lanes[i].client.binder, lanes[0].client.binder);
    }
  }
}

TEST(TlsSessionTest, KeyUpdateMidStreamKeepsDataIntact) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  constexpr size_t kChunk = 16384;
  constexpr int kChunks = 64;
  std::string sent;
  for (size_t i = 0; i < kChunk * kChunks; ++i) sent.push_back(static_cast<char>(i * 31 % 251));
  std::string received;
  std::string echoed;

  auto server_body = [&](SSL* ssl) {
    char buf[kChunk];
    while (received.size() < sent.size()) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) {
        ADD_FAILURE() << "server read: " << TlsFailureReason(ssl, n);
        return;
      }
      received.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(SendKeyUpdate(ssl).ok());
    EXPECT_EQ(SSL_write(ssl, "done", 4), 4);
  };
  auto client_body = [&](SSL* ssl) {
    for (int i = 0; i < kChunks; ++i) {
      if (i % 4 == 1) {
        ASSERT_TRUE(SendKeyUpdate(ssl).ok());
      }
      ASSERT_EQ(SSL_write(ssl, sent.data() + i * kChunk, kChunk), static_cast<int>(kChunk))
          << TlsFailureReason(ssl, -1);
    }
    char buf[4];
    int n = SSL_read(ssl, buf, sizeof(buf));
    ASSERT_GT(n, 0) << TlsFailureReason(ssl, n);
    echoed.assign(buf, static_cast<size_t>(n));
  };
  Connection c = Connect(cloud, onprem, "gw-cloud", server_body, client_body);
  ASSERT_TRUE(c.client.ok && c.server.ok) << c.client.reason << c.server.reason;
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  EXPECT_EQ(echoed, "done");
}

TEST(TlsSessionTest, LaneBinderIsSharedBySidesAndUniquePerSession) {
  auto cloud = MakeContext("a", "gw-cloud");
  auto onprem = MakeContext("a", "gw-onprem");
  ASSERT_TRUE(cloud && onprem);
  LaneBinder other_tunnel_client{};
  LaneBinder other_tunnel_server{};
  Connection first = Connect(
      cloud, onprem, "gw-cloud", [&](SSL* ssl) { other_tunnel_server = *ExportLaneBinder(ssl, 8); },
      [&](SSL* ssl) { other_tunnel_client = *ExportLaneBinder(ssl, 8); });
  ASSERT_TRUE(first.client.ok && first.server.ok);
  EXPECT_EQ(first.client.binder, first.server.binder);
  EXPECT_EQ(other_tunnel_client, other_tunnel_server);
  EXPECT_NE(first.client.binder, other_tunnel_client);
  EXPECT_NE(first.client.binder, LaneBinder{});

  Connection second = Connect(cloud, onprem, "gw-cloud");
  ASSERT_TRUE(second.client.ok && second.server.ok);
  EXPECT_EQ(second.client.binder, second.server.binder);
  EXPECT_NE(second.client.binder, first.client.binder);
}

}  // namespace
}  // namespace braid::proxy
