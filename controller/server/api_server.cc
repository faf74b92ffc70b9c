#include "controller/server/api_server.h"

#include <openssl/sha.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/api/gateway_api.h"
#include "controller/api/json_fields.h"
#include "proxy/config/gateway_config.h"
#include "spdlog/spdlog.h"

namespace braid::controller {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using proxy::kAsTuple;
using json = nlohmann::json;
using Response = ApiServer::Response;

Response Error(unsigned status, const std::string& message) {
  return {status, json{{"error", message}}.dump() + "\n"};
}

Response FromStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return Error(400, std::string(s.message()));
    case absl::StatusCode::kPermissionDenied:
      return Error(403, std::string(s.message()));
    case absl::StatusCode::kNotFound:
      return Error(404, std::string(s.message()));
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return Error(409, std::string(s.message()));
    default:
      return Error(500, std::string(s.message()));
  }
}

Response Ok(const json& body) { return {200, body.dump(2) + "\n"}; }

// Answer is the state as sent to a gateway that has the peer list
// `known_peers`: without the peers when they are those.
Response Answer(GatewayState state, const std::string& known_peers) {
  if (!known_peers.empty() && known_peers == state.peers_etag) {
    state.peers.clear();
    state.peers_unchanged = true;
  }
  return Ok(GatewayStateToJson(state));
}

// QueryValue returns the value of `key` in "a=1&b=2", or nullopt.
std::optional<std::string> QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    const size_t eq = part.find('=');
    if (part.substr(0, eq) == key) return std::string(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string Etag(const json& state) {
  const std::string text = state.dump();
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 12));
}

json DiffJson(const ApplyResult& r) {
  return {{"version", r.version},
          {"stored", r.stored},
          {"diff", sft::PolicyDiffToJson(r.diff)},
          {"diff_text", r.diff_text}};
}

}  // namespace

ApiServer::ApiServer(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls, ApiServerOptions options,
                     PolicyRegistry& policies, GatewayRegistry& gateways, Enrollment& enrollment)
    : io_(io),
      tls_(std::move(tls)),
      options_(std::move(options)),
      policies_(policies),
      gateways_(gateways),
      enrollment_(enrollment),
      acceptor_(io) {}

ApiServer::~ApiServer() = default;

boost::system::error_code ApiServer::Listen(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

tcp::endpoint ApiServer::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void ApiServer::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

void ApiServer::Stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  Changed();
}

void ApiServer::Changed() {
  for (asio::steady_timer* t : waiting_) t->cancel();
}

asio::awaitable<void> ApiServer::AcceptLoop() {
  asio::steady_timer backoff(io_);
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kAsTuple);
    if (ec == asio::error::operation_aborted || stopped_) co_return;
    if (ec) {
      // Out of descriptors, say: wait instead of spinning.
      spdlog::warn("controller API: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kAsTuple);
      continue;
    }
    if (connections_ >= kMaxConnections) {
      spdlog::warn("controller API: {} connections open, refusing one more", connections_);
      continue;  // the socket closes here
    }
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ApiServer::Serve(tcp::socket socket) {
  ++connections_;
  struct Count {
    size_t& n;
    ~Count() { --n; }
  } count{connections_};
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  const std::string remote_ip = ec ? std::string("?") : remote.address().to_string();
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
  beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple);
  if (hec) {
    spdlog::warn("controller API: handshake with {} failed: {}", remote_ip, hec.message());
    co_return;
  }
  std::optional<PeerIdentity> peer;
  std::string peer_error;
  if (absl::StatusOr<PeerIdentity> id = GetPeerIdentity(stream.native_handle()); id.ok()) {
    peer = *std::move(id);
  } else {
    peer_error = std::string(id.status().message());
  }
  beast::flat_buffer buffer;
  while (!stopped_) {
    beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(kMaxRequestBytes);
    auto [rec, n] = co_await http::async_read(stream, buffer, parser, kAsTuple);
    if (rec) break;
    http::request<http::string_body> req = parser.release();
    const std::string_view target(req.target());
    const size_t q = target.find('?');
    Request r{std::string(req.method_string()),
              std::string(target.substr(0, q)),
              q == std::string_view::npos ? "" : std::string(target.substr(q + 1)),
              std::move(req.body()),
              peer,
              peer_error,
              remote_ip};
    beast::get_lowest_layer(stream).expires_never();
    Response out = co_await Handle(std::move(r));
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::server, "braid-controller");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive() && !stopped_);
    res.body() = std::move(out.body);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
    auto [wec, written] = co_await http::async_write(stream, res, kAsTuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
  co_await stream.async_shutdown(kAsTuple);
}

asio::awaitable<Response> ApiServer::Handle(Request req) {
  // Enrollment needs no certificate.
  if (req.path == "/v1/ca" || req.path == "/v1/enroll") co_return HandleEnroll(req);
  if (!req.peer) co_return Error(401, "a client certificate is required: " + req.peer_error);
  const std::string& name = req.peer->name;
  const bool admin = options_.admins.contains(GatewayKey(name));
  if (req.path.starts_with("/v1/gateway/")) {
    if (admin) co_return Error(403, name + " is an admin identity, not a gateway");
    absl::StatusOr<GatewayRecord*> gateway = gateways_.Authenticate(name, req.peer->serial);
    if (!gateway.ok()) {
      spdlog::warn("controller API: refused gateway {} from {}: {}", name, req.remote_ip,
                   std::string(gateway.status().message()));
      co_return FromStatus(gateway.status());
    }
    co_return co_await HandleGateway(req, **gateway);
  }
  if (!admin) {
    spdlog::warn("controller API: {} {} from {} refused: {} is not an admin", req.method, req.path, req.remote_ip,
                 name);
    co_return Error(403, name + " is not an admin (the controller's \"admins\")");
  }
  co_return HandleAdmin(req);
}

Response ApiServer::HandleEnroll(const Request& req) {
  if (req.path == "/v1/ca") {
    if (req.method != "GET") return Error(405, "use GET");
    return Ok({{"ca", options_.ca_pem}});
  }
  if (req.method != "POST") return Error(405, "use POST");
  JsonFields f(std::string_view(req.body), "enroll");
  const std::string token = f.String("token");
  const std::string csr = f.String("csr");
  if (absl::Status s = f.Finish(); !s.ok()) return FromStatus(s);
  absl::StatusOr<EnrolledGateway> enrolled = enrollment_.Enroll(token, csr);
  if (!enrolled.ok()) {
    spdlog::warn("controller API: enrollment from {} refused: {}", req.remote_ip,
                 std::string(enrolled.status().message()));
    return FromStatus(enrolled.status());
  }
  spdlog::info("controller API: gateway {} enrolled from {}", enrolled->name, req.remote_ip);
  Changed();
  return Ok({{"name", enrolled->name}, {"certificate", enrolled->certificate_pem}, {"ca", enrolled->ca_pem}});
}

const ApiServer::FleetPeers& ApiServer::Fleet() {
  if (fleet_.generation != gateways_.generation()) {
    fleet_.all = gateways_.Peers("");
    fleet_.etag = PeersEtag(fleet_.all);
    fleet_.generation = gateways_.generation();
  }
  return fleet_;
}

GatewayState ApiServer::StateFor(const std::string& name) {
  GatewayState state;
  if (const PolicyVersion* current = policies_.Current()) {
    state.policy_version = current->version;
    state.policy_text = current->text;
  }
  const FleetPeers& fleet = Fleet();
  const std::string self = GatewayKey(name);
  state.peers.reserve(fleet.all.size());
  for (const FleetPeer& peer : fleet.all) {
    if (GatewayKey(peer.name) != self) state.peers.push_back(peer);
  }
  // Names this gateway's list (the fleet without itself) without hashing
  // the list again.
  state.peers_etag = Etag(json::array({fleet.etag, self}));
  state.revoked = gateways_.Revoked();
  // The etag covers everything the state says; the peers through their
  // etag, so that it costs the same in a fleet of ten or ten thousand.
  json revoked = json::array();
  for (const RevokedGateway& r : state.revoked) revoked.push_back({{"name", r.name}, {"serials", r.serials}});
  state.etag = Etag(json::array({state.policy_version, state.policy_text, state.peers_etag, std::move(revoked)}));
  return state;
}


asio::awaitable<Response> ApiServer::HandleGateway(const Request& req, GatewayRecord& gateway) {
  const std::string name = gateway.name;
  if (req.path == kGatewayReportPath) {
    if (req.method != "POST") co_return Error(405, "use POST");
    absl::StatusOr<GatewayReport> report = ParseGatewayReport(req.body);
    if (!report.ok()) co_return FromStatus(report.status());
    const uint64_t version = report->policy_version;
    const std::string policy_error = report->policy_error;
    // A gateway that runs a version this controller has not read yet was
    // served by another controller sharing the store: catch up now rather
    // than serve it an older state at its next poll.
    const PolicyVersion* known = policies_.Current();
    if (version > (known ? known->version : 0)) {
      if (absl::StatusOr<bool> read = policies_.Refresh(); !read.ok()) co_return FromStatus(read.status());
    }
    absl::StatusOr<bool> moved = gateways_.Reported(gateway, *std::move(report), req.remote_ip);
    if (!moved.ok()) co_return FromStatus(moved.status());
    if (*moved) {
      spdlog::info("controller API: gateway {} is at {}", name, gateway.address);
      Changed();
    }
    if (!policy_error.empty()) spdlog::warn("gateway {} refused a policy: {}", name, policy_error);
    spdlog::debug("gateway {} reports policy version {}", name, version);
    co_return Ok(json::object());
  }
  if (req.path == kGatewayStatePath) {
    if (req.method != "GET") co_return Error(405, "use GET");
    const std::string known = QueryValue(req.query, "known").value_or("");
    const std::string known_peers = QueryValue(req.query, "peers").value_or("");
    GatewayState state = StateFor(name);
    if (state.etag == known) {
      // Hold the poll until something changes or the poll time passes.
      asio::steady_timer timer(io_, options_.gateway_poll);
      waiting_.push_back(&timer);
      auto it = std::prev(waiting_.end());
      ++gateway.polls;
      co_await timer.async_wait(kAsTuple);
      waiting_.erase(it);
      // The record may have moved? No: std::map nodes are stable, and
      // records are never erased.
      --gateway.polls;
      state = StateFor(name);
    }
    co_return Answer(std::move(state), known_peers);
  }
  co_return Error(404, "no such gateway endpoint: " + req.path);
}

Response ApiServer::HandleAdmin(const Request& req) {
  const std::string& by = req.peer->name;
  if (req.path == "/v1/tokens") {
    if (req.method != "POST") return Error(405, "use POST");
    JsonFields f(std::string_view(req.body), "token request");
    const std::string name = f.String("name");
    const std::string ttl_text = f.String("ttl", false);
    if (absl::Status s = f.Finish(); !s.ok()) return FromStatus(s);
    std::chrono::seconds ttl{0};
    if (!ttl_text.empty()) {
      std::optional<proxy::Duration> d = proxy::ParseDuration(ttl_text);
      if (!d || d->count() < 1000) return Error(400, "ttl: expected a duration of at least 1s, like \"30m\"");
      ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    absl::StatusOr<CreatedToken> token = enrollment_.CreateToken(name, ttl);
    if (!token.ok()) return FromStatus(token.status());
    spdlog::info("controller API: {} made a join token for gateway {}, expires {}", by, name, token->expires_at);
    return Ok({{"name", name}, {"token", token->token}, {"expires_at", token->expires_at}});
  }
  if (req.path == "/v1/gateways") {
    if (req.method != "GET") return Error(405, "use GET");
    return Ok(FleetJson());
  }
  if (req.path == "/v1/gateways/revoke") {
    if (req.method != "POST") return Error(405, "use POST");
    JsonFields f(std::string_view(req.body), "revoke request");
    const std::string name = f.String("name");
    if (absl::Status s = f.Finish(); !s.ok()) return FromStatus(s);
    if (absl::Status s = enrollment_.RevokeTokens(name); !s.ok()) return FromStatus(s);
    if (absl::Status s = gateways_.Revoke(name); !s.ok()) return FromStatus(s);
    const GatewayRecord* g = gateways_.Find(name);
    spdlog::warn("controller API: {} revoked gateway {} ({} certificates)", by, name, g->revoked_serials.size());
    Changed();
    return Ok({{"name", g->name}, {"revoked_serials", g->revoked_serials}});
  }
  if (req.path == "/v1/policy") {
    if (req.method == "GET") {
      uint64_t version = 0;
      if (std::optional<std::string> v = QueryValue(req.query, "version")) {
        if (!absl::SimpleAtoi(*v, &version)) return Error(400, "version: expected a number");
      }
      const PolicyVersion* p = version == 0 ? policies_.Current() : policies_.Find(version);
      if (p == nullptr) {
        return Error(404, version == 0 ? "no policy applied yet" : absl::StrCat("no policy version ", version));
      }
      return Ok(PolicyRegistry::VersionToJson(*p, true));
    }
    if (req.method != "POST") return Error(405, "use GET or POST");
    JsonFields f(std::string_view(req.body), "apply request");
    const std::string text = f.String("text");
    const bool dry_run = f.Bool("dry_run", false);
    if (absl::Status s = f.Finish(); !s.ok()) return FromStatus(s);
    absl::StatusOr<ApplyResult> result = policies_.Apply(text, by, dry_run);
    if (!result.ok()) return FromStatus(result.status());
    if (result->stored) {
      spdlog::info("controller API: {} applied policy version {}", by, result->version);
      Changed();
    }
    return Ok(DiffJson(*result));
  }
  if (req.path == "/v1/policy/history") {
    if (req.method != "GET") return Error(405, "use GET");
    json versions = json::array();
    for (const PolicyVersion& v : policies_.versions()) versions.push_back(PolicyRegistry::VersionToJson(v, false));
    return Ok({{"versions", std::move(versions)}});
  }
  if (req.path == "/v1/policy/rollback") {
    if (req.method != "POST") return Error(405, "use POST");
    JsonFields f(std::string_view(req.body), "rollback request");
    const uint64_t version = f.Uint("version");
    if (absl::Status s = f.Finish(); !s.ok()) return FromStatus(s);
    absl::StatusOr<ApplyResult> result = policies_.Rollback(version, by);
    if (!result.ok()) return FromStatus(result.status());
    spdlog::info("controller API: {} rolled back to version {} as version {}", by, version, result->version);
    Changed();
    return Ok(DiffJson(*result));
  }
  if (req.path == "/v1/policy/stats") {
    if (req.method != "GET") return Error(405, "use GET");
    return Ok(StatsJson());
  }
  return Error(404, "no such endpoint: " + req.path);
}

nlohmann::json ApiServer::FleetJson() const {
  const auto now = std::chrono::steady_clock::now();
  json out = json::array();
  for (const auto& [key, g] : gateways_.gateways()) {
    const bool connected = !g.revoked && (g.polls > 0 || (g.last_seen.time_since_epoch().count() != 0 &&
                                                          now - g.last_seen < options_.gateway_poll + std::chrono::seconds(10)));
    json item = {{"name", g.name},
                 {"address", g.address},
                 {"connected", connected},
                 {"revoked", g.revoked},
                 {"last_seen", g.last_seen_at},
                 {"enrolled_at", g.enrolled_at}};
    if (g.report) {
      item["policy_version"] = g.report->policy_version;
      item["policy_error"] = g.report->policy_error;
      item["tunnels"] = g.report->tunnels;
      item["flows"] = g.report->flows;
      item["bytes_sent"] = g.report->bytes_sent;
      item["bytes_received"] = g.report->bytes_received;
    } else {
      item["policy_version"] = nullptr;
      item["policy_error"] = "";
      item["tunnels"] = nullptr;
      item["flows"] = nullptr;
      item["bytes_sent"] = nullptr;
      item["bytes_received"] = nullptr;
    }
    out.push_back(std::move(item));
  }
  const PolicyVersion* current = policies_.Current();
  return {{"policy_version", current ? current->version : 0}, {"gateways", std::move(out)}};
}

nlohmann::json ApiServer::StatsJson() const {
  // The current policy's rules in order, then "default", then ids that
  // gateways still count from an older version.
  std::vector<std::string> order;
  std::set<std::string> in_policy;
  const PolicyVersion* current = policies_.Current();
  if (current != nullptr) {
    absl::StatusOr<Policy> p = ParsePolicy(current->text, "current policy");
    if (p.ok()) {
      for (const Rule& r : p->rules) {
        order.push_back(r.id);
        in_policy.insert(r.id);
      }
    }
  }
  order.push_back("default");
  in_policy.insert("default");
  const std::set<std::string> current_ids = in_policy;
  for (const auto& [key, g] : gateways_.gateways()) {
    if (!g.report) continue;
    for (const auto& [rule, n] : g.report->rule_hits) {
      if (in_policy.insert(rule).second) order.push_back(rule);
    }
  }
  json rules = json::array();
  for (const std::string& id : order) {
    uint64_t total = 0;
    json per = json::object();
    for (const auto& [key, g] : gateways_.gateways()) {
      if (!g.report) continue;
      auto it = g.report->rule_hits.find(id);
      const uint64_t n = it == g.report->rule_hits.end() ? 0 : it->second;
      per[g.name] = n;
      total += n;
    }
    rules.push_back({{"rule", id}, {"in_policy", current_ids.contains(id)}, {"total", total}, {"gateways", std::move(per)}});
  }
  return {{"policy_version", current ? current->version : 0}, {"rules", std::move(rules)}};
}

}  // namespace braid::controller
