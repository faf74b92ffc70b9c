#include "controller/api/control_client.h"

#include <openssl/err.h>

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace braid::controller {
namespace {

using proxy::kAsTuple;

// Describe turns an I/O error into words; a TLS error carries BoringSSL's
// reason ("CERTIFICATE_VERIFY_FAILED").
std::string Describe(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec.category() == asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<uint32_t>(ec.value()));
    return absl::StrCat("TLS: ", reason != nullptr ? reason : ec.message());
  }
  return ec.message();
}

// The payload that marks a failure before any byte of the request left.
constexpr char kNotSentPayload[] = "braid.dev/request-not-sent";

absl::Status NotSent(absl::Status status) {
  status.SetPayload(kNotSentPayload, absl::Cord("1"));
  return status;
}

}  // namespace

bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return !host->empty();
}

ControlClient::ControlClient(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                             std::string address)
    : executor_(std::move(executor)), tls_(std::move(tls)), address_(std::move(address)) {
  SplitHostPort(address_, &host_, &port_);
}

ControlClient::~ControlClient() = default;

void ControlClient::Close() {
  ++closes_;
  Drop();
}

void ControlClient::Drop() {
  if (!conn_) return;
  // Closing the socket aborts whatever is pending on it; the pending
  // operations still hold the connection (through their request), so it is
  // freed only once they have completed.
  boost::system::error_code ignored;
  beast::get_lowest_layer(conn_->stream).socket().close(ignored);
  conn_.reset();
}

bool RequestNotSent(const absl::Status& status) { return status.GetPayload(kNotSentPayload).has_value(); }

absl::Status ControlClient::Closed(const std::string& target) const {
  return absl::CancelledError(absl::StrCat("controller ", address_, ": ", target, ": closed"));
}

asio::awaitable<absl::Status> ControlClient::Connect(const std::string& target) {
  if (host_.empty()) co_return absl::InvalidArgumentError(absl::StrCat("controller address \"", address_,
                                                                      "\" is not HOST:PORT"));
  const uint64_t closes = closes_;
  asio::ip::tcp::resolver resolver(executor_);
  auto [rec, results] = co_await resolver.async_resolve(host_, port_, kAsTuple);
  if (closes_ != closes) co_return Closed(target);
  if (rec) {
    co_return NotSent(absl::UnavailableError(absl::StrCat("controller ", address_, ": cannot resolve: ", rec.message())));
  }
  // In conn_ from the start, so that Close() aborts the connect and the
  // handshake too.
  const auto conn = std::make_shared<Connection>(executor_, *tls_);
  conn_ = conn;
  beast::get_lowest_layer(conn->stream).expires_after(std::chrono::seconds(10));
  auto [cec, endpoint] = co_await beast::get_lowest_layer(conn->stream).async_connect(results, kAsTuple);
  if (closes_ != closes) co_return Closed(target);
  if (cec) {
    Drop();
    co_return NotSent(absl::UnavailableError(absl::StrCat("controller ", address_, ": cannot connect: ", Describe(cec))));
  }
  auto [hec] = co_await conn->stream.async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (closes_ != closes) co_return Closed(target);
  if (hec) {
    Drop();
    co_return NotSent(
        absl::UnavailableError(absl::StrCat("controller ", address_, ": handshake failed: ", Describe(hec))));
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<ControlResponse>> ControlClient::Request(http::verb method, std::string target,
                                                                        std::string body,
                                                                        std::chrono::milliseconds timeout) {
  const uint64_t closes = closes_;
  // One retry: a kept-alive connection the server closed meanwhile fails
  // the first write or read; a fresh connection then says whether the
  // controller is really away.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !conn_;
    if (fresh) {
      if (absl::Status s = co_await Connect(target); !s.ok()) co_return s;
    }
    // This request's own reference: Close() may drop conn_ while an
    // operation below is pending on the connection.
    const std::shared_ptr<Connection> conn = conn_;
    beast::get_lowest_layer(conn->stream).expires_after(timeout);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "braid");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    auto [wec, written] = co_await http::async_write(conn->stream, req, kAsTuple);
    if (closes_ != closes) co_return Closed(target);
    boost::system::error_code ec = wec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    if (!ec) {
      auto [rec, read] = co_await http::async_read(conn->stream, conn->buffer, parser, kAsTuple);
      if (closes_ != closes) co_return Closed(target);
      ec = rec;
    }
    if (ec) {
      Drop();
      if (ec == beast::error::timeout) {
        co_return absl::DeadlineExceededError(absl::StrCat("controller ", address_, ": ", target, ": no answer within ",
                                                           timeout.count(), "ms"));
      }
      if (!fresh) continue;
      co_return absl::UnavailableError(absl::StrCat("controller ", address_, ": ", target, ": ", Describe(ec)));
    }
    http::response<http::string_body> res = parser.release();
    if (!res.keep_alive()) Drop();
    co_return ControlResponse{res.result_int(), std::move(res.body())};
  }
  co_return absl::UnavailableError(absl::StrCat("controller ", address_, ": connection lost"));
}

absl::StatusOr<ControlResponse> RequestBlocking(std::shared_ptr<asio::ssl::context> tls, const std::string& address,
                                                http::verb method, std::string target, std::string body,
                                                std::chrono::milliseconds timeout) {
  asio::io_context io;
  ControlClient client(io.get_executor(), std::move(tls), address);
  absl::StatusOr<ControlResponse> result = absl::UnknownError("not run");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await client.Request(method, std::move(target), std::move(body), timeout);
        client.Close();
      },
      asio::detached);
  io.run();
  return result;
}

absl::Status ErrorFromResponse(const ControlResponse& response) {
  if (response.status >= 200 && response.status < 300) return absl::OkStatus();
  std::string text = response.body;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) text = body["error"].get<std::string>();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  switch (response.status) {
    case 400:
      return absl::InvalidArgumentError(text);
    case 401:
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      return absl::FailedPreconditionError(text);
    default:
      return absl::UnavailableError(absl::StrCat("HTTP ", response.status, ": ", text));
  }
}

}  // namespace braid::controller
