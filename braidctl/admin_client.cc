#include "braidctl/admin_client.h"

#include <chrono>
#include <cstdlib>
#include <exception>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "proxy/runtime/asio.h"

namespace braid::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void AddAdminOption(CLI::App* command, std::string* admin) {
  const char* env = std::getenv("BRAID_ADMIN");
  *admin = env != nullptr ? env : kDefaultAdmin;
  command->add_option("--admin", *admin, "The gateway's admin.listen address (or BRAID_ADMIN)")->capture_default_str();
}

void AddViewOptions(CLI::App* command, ViewOptions* options) {
  AddAdminOption(command, &options->admin);
  command->add_flag("--json", options->json, "Print JSON instead of tables");
}

absl::StatusOr<AdminReply> AdminRequest(const std::string& admin, const std::string& method, const std::string& path) {
  const size_t colon = admin.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--admin must be HOST:PORT, got \"", admin, "\""));
  }
  std::string host = admin.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(host, admin.substr(colon + 1)));
    http::request<http::empty_body> req{http::string_to_verb(method), path, 11};
    req.set(http::field::host, admin);
    req.set(http::field::user_agent, "braidctl");
    req.prepare_payload();  // a POST says Content-Length: 0
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return AdminReply{res.result_int(), std::move(res.body())};
  } catch (const std::exception& e) {
    const std::string what = method == "GET" ? absl::StrCat("cannot read ", path, " from")
                                             : absl::StrCat("cannot ", method, " ", path, " to");
    return absl::UnavailableError(absl::StrCat(what, " the admin endpoint ", admin, ": ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> GetAdminJson(const std::string& admin, const std::string& path, const char* key) {
  absl::StatusOr<AdminReply> reply = AdminRequest(admin, "GET", path);
  if (!reply.ok()) return reply.status();
  nlohmann::json body = nlohmann::json::parse(reply->body, nullptr, false);
  if (reply->status != 200 || !body.is_object() || !body.contains(key)) {
    return absl::FailedPreconditionError(
        absl::StrCat(admin, " did not answer like a braid-proxy admin endpoint (GET ", path, ": ", reply->status,
                     reply->status == 200 ? ", not the expected JSON" : "", ")"));
  }
  return body;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace braid::ctl
