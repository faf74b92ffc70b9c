#include "proxy/admin/admin_server.h"

// After proxy/runtime/asio.h (through admin_server.h), which must come
// before any Asio header.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include "nlohmann/json.hpp"
#include "proxy/runtime/listen.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr size_t kMaxRequestBytes = 8 * 1024;

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

const char* RoleName(wire::Role role) { return role == wire::Role::kDialer ? "dialer" : "acceptor"; }

// Millis shows a duration in microseconds as milliseconds; null when it is
// not known yet (-1 before a lane's first PONG, 0 before TCP_INFO has
// measured anything).
nlohmann::json Millis(int64_t us) { return us <= 0 ? nlohmann::json(nullptr) : nlohmann::json(us / 1000.0); }

nlohmann::json BudgetJson(const WindowBudget& budget) {
  return {{"used_bytes", budget.used()}, {"limit_bytes", budget.limit()}};
}

nlohmann::json LaneJson(const Tunnel::LaneView& lane) {
  // TCP fields: the lane's connection as TCP_INFO last saw it; null while
  // the lane is down.
  const TcpStats& tcp = lane.tcp;
  const auto if_up = [&](nlohmann::json v) { return lane.up ? std::move(v) : nlohmann::json(nullptr); };
  return {
      {"index", lane.index},
      {"up", lane.up},
      {"state", std::string(lane.state)},
      {"generation", lane.generation},
      {"unacked_bytes", lane.unacked_bytes},
      {"bytes_sent", lane.bytes_sent},
      {"bytes_received", lane.bytes_received},
      {"queued_bytes", lane.queued_bytes},
      {"rtt_ms", Millis(lane.rtt_us)},
      {"tcp_rtt_ms", if_up(Millis(tcp.rtt_us))},
      {"tcp_min_rtt_ms", if_up(Millis(tcp.min_rtt_us))},
      {"cwnd_bytes", if_up(uint64_t{tcp.cwnd_segments} * tcp.mss)},
      {"retransmits", if_up(tcp.retransmits)},
      {"delivery_rate_bps", if_up(tcp.delivery_rate * 8)},  // bits per second, as links are rated
  };
}

}  // namespace

AdminServer::AdminServer(asio::io_context& control, GatewayMetrics& metrics, TunnelManager& tunnels,
                         ReadinessFn ready)
    : control_(control), metrics_(metrics), tunnels_(tunnels), ready_(std::move(ready)), acceptor_(control) {}

boost::system::error_code AdminServer::Listen(const tcp::endpoint& endpoint) {
  return proxy::Listen(acceptor_, endpoint);
}

tcp::endpoint AdminServer::local_endpoint() const {
  boost::system::error_code ignored;
  return acceptor_.local_endpoint(ignored);
}

void AdminServer::Start() { asio::co_spawn(control_, AcceptLoop(), asio::detached); }

void AdminServer::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::AcceptLoop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(kAsTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("admin: accept: {}", ec.message());
      asio::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    if (connections_ >= kMaxConnections) continue;  // the socket closes here
    ++connections_;
    asio::co_spawn(control_, Serve(std::move(socket)), [this](std::exception_ptr) { --connections_; });
  }
}

asio::awaitable<void> AdminServer::Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(kMaxRequestBytes);
  for (;;) {
    stream.expires_after(kIdleTimeout);
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAsTuple);
    if (ec) break;  // closed, timed out or malformed: nothing to answer
    const http::request<http::string_body>& req = parser.get();
    Response r = Handle(std::string_view(req.method_string()), std::string_view(req.target()));
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::server, "braid-proxy");
    res.set(http::field::content_type, r.content_type);
    if (r.status == 405) res.set(http::field::allow, "GET");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    auto [wec, written] = co_await http::async_write(stream, res, kAsTuple);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

AdminServer::Response AdminServer::Handle(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (method == "POST" && path.starts_with("/tunnels/")) return LaneCommand(path);
  if (method != "GET") return {405, "text/plain", "only GET, and POST to /tunnels/ID/lanes/N/{kill,retire}\n"};
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", MetricsText()};
  if (path == "/flows") return {200, "application/json", FlowsJson()};
  if (path == "/tunnels") return {200, "application/json", TunnelsJson()};
  if (path == "/healthz") return {200, "text/plain", "ok\n"};
  if (path == "/readyz") {
    std::string why = ready_();
    if (why.empty()) return {200, "text/plain", "ready\n"};
    return {503, "text/plain", why + "\n"};
  }
  return {404, "text/plain", "not found; try /metrics, /flows, /tunnels, /healthz, /readyz\n"};
}

AdminServer::Response AdminServer::LaneCommand(std::string_view path) {
  // /tunnels/ID/lanes/N/ACTION
  std::vector<std::string_view> parts;
  for (size_t start = 1; start <= path.size();) {
    const size_t end = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  const auto number = [](std::string_view text, auto* out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  };
  uint64_t id = 0;
  uint32_t index = 0;
  if (parts.size() != 5 || parts[2] != "lanes" || !number(parts[1], &id) || !number(parts[3], &index) ||
      (parts[4] != "kill" && parts[4] != "retire")) {
    return {404, "text/plain", "not found; POST /tunnels/ID/lanes/N/kill or /tunnels/ID/lanes/N/retire\n"};
  }
  std::shared_ptr<Tunnel> tunnel = tunnels_.FindTunnel(id);
  if (!tunnel) return {404, "text/plain", "no tunnel " + std::to_string(id) + "\n"};
  if (index > UINT16_MAX) return {404, "text/plain", "no lane " + std::to_string(index) + "\n"};
  const auto lane = static_cast<uint16_t>(index);
  const std::string error =
      parts[4] == "kill" ? tunnel->KillLane(lane, "killed by the operator") : tunnel->RetireLane(lane);
  if (!error.empty()) return {409, "text/plain", error + "\n"};
  spdlog::info("admin: tunnel {} lane {}: {}", id, lane, parts[4] == "kill" ? "killed" : "retiring");
  return {200, "text/plain", std::string(parts[4] == "kill" ? "killed" : "retiring") + "\n"};
}

std::string AdminServer::FlowsJson() const {
  nlohmann::json flows = nlohmann::json::array();
  tunnels_.ForEachTunnel([&](const Tunnel& t) {
    t.ForEachFlow([&](const Flow& f) {
      const FlowKey& k = f.key();
      flows.push_back({
          {"tunnel", t.id()},
          {"flow", f.id()},
          {"side", f.side() == Flow::Side::kIngress ? "ingress" : "egress"},
          {"peer", t.peer()},
          {"source", k.src.WithPort(k.src_port)},
          {"target", f.target()},
          {"state", std::string(f.state())},
          {"control_lane", f.control_lane()},
          {"rule", f.rule()},
          {"bytes_sent", f.bytes_from_host()},
          {"bytes_received", f.bytes_to_host()},
          {"buffered_bytes", f.rx().buffered_bytes()},
          {"window_bytes", f.window().bytes()},
          {"window_initial_bytes", f.window().initial_bytes()},
          {"credit_ahead_bytes", f.rx().credit_ahead()},
          {"send_credit_bytes", f.send_credit()},
          {"age_seconds", SecondsSince(f.started())},
      });
    });
  });
  return nlohmann::json{{"flows", std::move(flows)}}.dump(2) + "\n";
}

std::string AdminServer::TunnelsJson() const {
  nlohmann::json tunnels = nlohmann::json::array();
  tunnels_.ForEachTunnel([&](const Tunnel& t) {
    nlohmann::json lanes = nlohmann::json::array();
    for (const Tunnel::LaneView& lane : t.Lanes()) lanes.push_back(LaneJson(lane));
    tunnels.push_back({
        {"id", t.id()},
        {"peer", t.peer()},
        {"role", RoleName(t.role())},
        {"closed", t.closed()},
        {"flows", t.flow_count()},
        {"age_seconds", SecondsSince(t.created())},
        {"round_trip_ms", Millis(t.RoundTrip().count())},
        {"window_budget", BudgetJson(t.window_budget())},
        {"lanes", std::move(lanes)},
    });
  });
  return nlohmann::json{{"tunnels", std::move(tunnels)}, {"window_budget", BudgetJson(tunnels_.window_budget())}}
             .dump(2) +
         "\n";
}

std::string AdminServer::MetricsText() {
  // What describes live flows and lanes is read from them now.
  int64_t buffered = 0;
  int64_t window_max = 0;
  tunnels_.ForEachTunnel([&](const Tunnel& t) {
    t.ForEachFlow([&](const Flow& f) {
      buffered += static_cast<int64_t>(f.rx().buffered_bytes());
      window_max = std::max<int64_t>(window_max, f.window().bytes());
    });
  });
  metrics_.reassembly_bytes.Set(buffered);
  metrics_.flow_window_max.Set(window_max);
  metrics_.window_budget_used.Set(static_cast<int64_t>(tunnels_.window_budget().used()));
  metrics_.window_budget_limit.Set(static_cast<int64_t>(tunnels_.window_budget().limit()));
  std::string body;
  metrics_.RenderPrometheus(&body);
  RenderLaneMetrics(LaneSamples(), &body);
  return body;
}

std::vector<LaneSample> AdminServer::LaneSamples() const {
  // The series are keyed by (peer, role, lane), never by tunnel id, which
  // would make new series with every tunnel. When two open tunnels share a
  // key for a while (one going away beside its replacement, a peer that
  // dialed again), the newest stands for the peer.
  std::map<std::pair<std::string, wire::Role>, const Tunnel*> newest;
  tunnels_.ForEachTunnel([&](const Tunnel& t) {
    if (t.closed()) return;
    const Tunnel*& slot = newest[{t.peer(), t.role()}];
    if (slot == nullptr || t.created() > slot->created()) slot = &t;
  });
  std::vector<LaneSample> out;
  for (const auto& [key, t] : newest) {
    for (const Tunnel::LaneView& lane : t->Lanes()) {
      if (lane.up) out.push_back({t->peer(), RoleName(t->role()), lane.index, lane.tcp, lane.unacked_bytes});
    }
  }
  return out;
}

}  // namespace braid::proxy
