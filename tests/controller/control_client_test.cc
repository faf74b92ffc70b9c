// ControlClient against a TLS server on loopback that answers or holds as
// each test needs: Close() while a request waits on the network.
#include "controller/api/control_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "controller/api/control_tls.h"
#include "pki/certificate_authority.h"
#include "pki/pem_files.h"
#include "pki/temp_dir.h"

namespace braid::controller {
namespace {

using proxy::kAsTuple;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the server does with each connection it accepts, in order.
enum class Serve { kHoldBeforeHandshake, kHoldAfterRequest, kAnswer };

class ControlClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Create();
    ASSERT_TRUE(ca.ok()) << ca.status();
    absl::StatusOr<pki::IssuedIdentity> server = ca->Issue(std::string(kDefaultControllerName));
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<std::string> ca_pem = pki::CertificateToPem(ca->certificate());
    ASSERT_TRUE(ca_pem.ok()) << ca_pem.status();
    ASSERT_TRUE(pki::WriteFileAtomically(dir_.File("ca.pem"), *ca_pem, 0644, false).ok());
    ASSERT_TRUE(pki::WriteKeyAndCertificate(dir_.File("server.key"), server->key.get(), dir_.File("server.pem"),
                                            server->certificate.get(), false)
                    .ok());
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> server_tls =
        MakeServerTls(dir_.File("server.pem"), dir_.File("server.key"), dir_.File("ca.pem"));
    ASSERT_TRUE(server_tls.ok()) << server_tls.status();
    server_tls_ = *std::move(server_tls);
    ClientTlsOptions client_options;
    client_options.ca_pem = *ca_pem;
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> client_tls = MakeClientTls(client_options);
    ASSERT_TRUE(client_tls.ok()) << client_tls.status();
    client_tls_ = *std::move(client_tls);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    acceptor_.listen();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  // Serves one connection per entry of `plan`. `reached` is called once a
  // held connection got as far as it will.
  asio::awaitable<void> Server(std::vector<Serve> plan, std::function<void()> reached) {
    for (Serve serve : plan) {
      auto [aec, socket] = co_await acceptor_.async_accept(kAsTuple);
      if (aec) co_return;
      asio::ssl::stream<tcp::socket> stream(std::move(socket), *server_tls_);
      if (serve == Serve::kHoldBeforeHandshake) {
        reached();
        char bytes[4096];
        for (;;) {  // reads the client's hello, and whatever follows, until it leaves
          auto [rec, n] = co_await stream.next_layer().async_receive(asio::buffer(bytes), kAsTuple);
          if (rec) break;
        }
        continue;
      }
      if (auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple); hec) co_return;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      if (auto [rec, n] = co_await http::async_read(stream, buffer, req, kAsTuple); rec) co_return;
      if (serve == Serve::kHoldAfterRequest) {
        reached();
        co_await http::async_read(stream, buffer, req, kAsTuple);  // until the client leaves
        continue;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = "answered " + std::string(req.target());
      res.prepare_payload();
      co_await http::async_write(stream, res, kAsTuple);
    }
  }

  // RunRequest runs GET `target` on `client` until it returns.
  absl::StatusOr<ControlResponse> RunRequest(ControlClient& client, const std::string& target) {
    std::optional<absl::StatusOr<ControlResponse>> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> {
          result = co_await client.Request(http::verb::get, target, "", std::chrono::seconds(20));
        },
        asio::detached);
    while (!result && io_.run_one_for(std::chrono::seconds(30)) > 0) {
    }
    if (!result) return absl::InternalError("the request never returned");
    return *result;
  }

  // Holds the first request at `held`, closes the client there, and checks
  // that the request ended at once with Cancelled and that the next request
  // is answered on a new connection.
  void ExpectCloseEndsTheRequestAndTheClientRecovers(Serve held) {
    StartServer({held, Serve::kAnswer});
    ControlClient client(io_.get_executor(), client_tls_, address());
    // Close from a handler of its own once the server holds the request, as
    // a gateway's Stop() does.
    Clock::time_point closed_at{};
    reached_ = [&] {
      asio::post(io_, [&] {
        closed_at = Clock::now();
        client.Close();
      });
    };
    absl::StatusOr<ControlResponse> closed = RunRequest(client, "/v1/held");
    EXPECT_EQ(closed.status().code(), absl::StatusCode::kCancelled) << closed.status();
    EXPECT_LT(Clock::now() - closed_at, std::chrono::seconds(5));

    absl::StatusOr<ControlResponse> again = RunRequest(client, "/v1/again");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->status, 200u);
    EXPECT_EQ(again->body, "answered /v1/again");
  }

  void StartServer(std::vector<Serve> plan) {
    asio::co_spawn(io_, Server(std::move(plan), [this] { reached_(); }), asio::detached);
  }

  // Everything the server's and the client's coroutines use is declared
  // before io_, which destroys those still pending.
  testing::TempDir dir_;
  std::shared_ptr<asio::ssl::context> server_tls_;
  std::shared_ptr<asio::ssl::context> client_tls_;
  std::function<void()> reached_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
};

// A gateway stopping during its long poll: the pending read is aborted, the
// request ends with Cancelled at once (not after its timeout, and without
// trying another connection), and the connection it read from outlives the
// aborted read (it was freed under it once: a heap-use-after-free in
// AddressSanitizer builds). The client then connects again.
TEST_F(ControlClientTest, CloseDuringAPendingReadEndsTheRequest) {
  ExpectCloseEndsTheRequestAndTheClientRecovers(Serve::kHoldAfterRequest);
}

// The same while a new connection is being made (the server never
// answers the client's TLS hello).
TEST_F(ControlClientTest, CloseWhileConnectingEndsTheRequest) {
  ExpectCloseEndsTheRequestAndTheClientRecovers(Serve::kHoldBeforeHandshake);
}

}  // namespace
}  // namespace braid::controller
