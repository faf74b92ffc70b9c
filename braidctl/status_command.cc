// braidctl status: a gateway's tunnels, their lanes and live flows, read
// from its admin endpoint (/readyz, /tunnels, /flows), as tables or as JSON.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <span>
#include <string>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "braidctl/command.h"
#include "proxy/runtime/asio.h"
#include "nlohmann/json.hpp"

namespace braid::ctl {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

struct StatusArgs {
  std::string admin = "127.0.0.1:9901";
  bool json = false;
};

struct Reply {
  unsigned status = 0;
  std::string body;
};

// Get fetches `path` from the admin endpoint `admin` ("host:port").
// Returns false with *error set when the endpoint cannot be reached.
bool Get(const std::string& admin, const std::string& path, Reply* out, std::string* error) {
  const size_t colon = admin.rfind(':');
  if (colon == std::string::npos) {
    *error = "--admin must be HOST:PORT, got \"" + admin + "\"";
    return false;
  }
  std::string host = admin.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(host, admin.substr(colon + 1)));
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, admin);
    req.set(http::field::user_agent, "braidctl");
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    out->status = res.result_int();
    out->body = std::move(res.body());
    return true;
  } catch (const std::exception& e) {
    *error = "cannot read " + path + " from the admin endpoint " + admin + ": " + e.what();
    return false;
  }
}

// Scaled shows `v` in the largest of `units` (each `step` times the one
// before) that keeps it at least 1.
std::string Scaled(double v, double step, std::span<const char* const> units) {
  size_t u = 0;
  while (v >= step && u + 1 < units.size()) {
    v /= step;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string Bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return Scaled(static_cast<double>(n), 1024, kUnits);
}

// Rate shows bits per second as links are rated (decimal units).
std::string Rate(uint64_t bps) {
  static constexpr const char* kUnits[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
  return Scaled(static_cast<double>(bps), 1000, kUnits);
}

std::string Age(double seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.0fs", seconds);
  } else if (seconds < 3600) {
    const int s = static_cast<int>(seconds);
    std::snprintf(buf, sizeof(buf), "%dm%02ds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1fh", seconds / 3600);
  }
  return buf;
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fms", ms);
  return buf;
}

// Cell formats field `key` of `object` as T with `format`; "-" when it is
// null (not measured yet, or the lane is down) or absent (a gateway older
// than the field).
template <typename T, typename F>
std::string Cell(const json& object, const char* key, F format) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  return format(it->template get<T>());
}

std::string Count(uint64_t n) { return std::to_string(n); }

void PrintTunnels(const json& tunnels) {
  std::printf("%-20s  %-16s  %-8s  %7s  %5s  %5s  %10s  %10s  %8s  %23s\n", "TUNNEL", "PEER", "ROLE", "AGE", "FLOWS",
              "LANES", "SENT", "RECEIVED", "RTT", "WINDOW BUDGET");
  for (const json& t : tunnels) {
    uint64_t sent = 0, received = 0;
    int up = 0;
    for (const json& lane : t.at("lanes")) {
      sent += lane.at("bytes_sent").get<uint64_t>();
      received += lane.at("bytes_received").get<uint64_t>();
      up += lane.at("up").get<bool>() ? 1 : 0;
    }
    const std::string lanes = std::to_string(up) + "/" + std::to_string(t.at("lanes").size());
    std::string budget = "-";
    if (t.contains("window_budget")) {
      const json& b = t.at("window_budget");
      budget = Bytes(b.at("used_bytes").get<uint64_t>()) + " / " + Bytes(b.at("limit_bytes").get<uint64_t>());
    }
    std::printf("%-20llu  %-16s  %-8s  %7s  %5llu  %5s  %10s  %10s  %8s  %23s\n",
                static_cast<unsigned long long>(t.at("id").get<uint64_t>()), t.at("peer").get<std::string>().c_str(),
                t.at("role").get<std::string>().c_str(), Age(t.at("age_seconds").get<double>()).c_str(),
                static_cast<unsigned long long>(t.at("flows").get<uint64_t>()), lanes.c_str(), Bytes(sent).c_str(),
                Bytes(received).c_str(), Cell<double>(t, "round_trip_ms", Ms).c_str(), budget.c_str());
  }
}

// PrintLanes: each lane's TCP connection, to tell a long or lossy path (RTT,
// retransmits), a sender held back by congestion (CWND, RATE) and queueing
// inside braid (PING RTT well above TCP RTT, QUEUED) apart.
void PrintLanes(const json& tunnels) {
  std::printf("%-20s  %4s  %-4s  %9s  %9s  %9s  %10s  %7s  %12s  %10s  %10s  %10s\n", "TUNNEL", "LANE", "UP", "RTT",
              "MIN RTT", "PING RTT", "CWND", "RETRANS", "RATE", "SENT", "RECEIVED", "QUEUED");
  for (const json& t : tunnels) {
    for (const json& lane : t.at("lanes")) {
      std::printf("%-20llu  %4u  %-4s  %9s  %9s  %9s  %10s  %7s  %12s  %10s  %10s  %10s\n",
                  static_cast<unsigned long long>(t.at("id").get<uint64_t>()), lane.at("index").get<unsigned>(),
                  lane.at("up").get<bool>() ? "yes" : "no", Cell<double>(lane, "tcp_rtt_ms", Ms).c_str(),
                  Cell<double>(lane, "tcp_min_rtt_ms", Ms).c_str(), Cell<double>(lane, "rtt_ms", Ms).c_str(),
                  Cell<uint64_t>(lane, "cwnd_bytes", Bytes).c_str(), Cell<uint64_t>(lane, "retransmits", Count).c_str(),
                  Cell<uint64_t>(lane, "delivery_rate_bps", Rate).c_str(),
                  Bytes(lane.at("bytes_sent").get<uint64_t>()).c_str(),
                  Bytes(lane.at("bytes_received").get<uint64_t>()).c_str(),
                  Bytes(lane.at("queued_bytes").get<uint64_t>()).c_str());
    }
  }
}

void PrintFlows(const json& flows) {
  std::printf("%-6s  %-7s  %-22s  %-24s  %-12s  %-18s  %10s  %10s  %10s  %7s\n", "FLOW", "SIDE", "SOURCE", "TARGET",
              "PEER", "STATE", "SENT", "RECEIVED", "WINDOW", "AGE");
  for (const json& f : flows) {
    std::printf("%-6llu  %-7s  %-22s  %-24s  %-12s  %-18s  %10s  %10s  %10s  %7s\n",
                static_cast<unsigned long long>(f.at("flow").get<uint64_t>()), f.at("side").get<std::string>().c_str(),
                f.at("source").get<std::string>().c_str(), f.at("target").get<std::string>().c_str(),
                f.at("peer").get<std::string>().c_str(), f.at("state").get<std::string>().c_str(),
                Bytes(f.at("bytes_sent").get<uint64_t>()).c_str(), Bytes(f.at("bytes_received").get<uint64_t>()).c_str(),
                Cell<uint64_t>(f, "window_bytes", Bytes).c_str(), Age(f.at("age_seconds").get<double>()).c_str());
  }
}

void PrintTables(const std::string& admin, const Reply& ready, const json& tunnels, const json& flows) {
  std::printf("gateway at %s: %s\n", admin.c_str(),
              ready.status == 200 ? "ready" : ("not ready (" + ready.body.substr(0, ready.body.find('\n')) + ")").c_str());
  if (tunnels.contains("window_budget")) {
    const json& b = tunnels.at("window_budget");
    std::printf("flow window growth: %s used of a %s budget\n", Bytes(b.at("used_bytes").get<uint64_t>()).c_str(),
                Bytes(b.at("limit_bytes").get<uint64_t>()).c_str());
  }
  std::printf("\n");
  PrintTunnels(tunnels.at("tunnels"));
  std::printf("\n");
  PrintLanes(tunnels.at("tunnels"));
  std::printf("\n");
  PrintFlows(flows.at("flows"));
  std::printf("\n%zu tunnels, %zu live flows\n", tunnels.at("tunnels").size(), flows.at("flows").size());
}

int RunStatus(const StatusArgs& args) {
  Reply ready, tunnels, flows;
  std::string error;
  if (!Get(args.admin, "/readyz", &ready, &error) || !Get(args.admin, "/tunnels", &tunnels, &error) ||
      !Get(args.admin, "/flows", &flows, &error)) {
    std::cerr << "braidctl status: " << error << "\n";
    return kExitFailure;
  }
  json t = json::parse(tunnels.body, nullptr, false);
  json f = json::parse(flows.body, nullptr, false);
  if (tunnels.status != 200 || flows.status != 200 || t.is_discarded() || f.is_discarded() ||
      !t.contains("tunnels") || !f.contains("flows")) {
    std::cerr << "braidctl status: " << args.admin << " did not answer like a braid-proxy admin endpoint\n";
    return kExitFailure;
  }
  if (args.json) {
    json out{{"ready", ready.status == 200}, {"tunnels", t.at("tunnels")}, {"flows", f.at("flows")}};
    if (t.contains("window_budget")) out["window_budget"] = t.at("window_budget");
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  try {
    PrintTables(args.admin, ready, t, f);
  } catch (const json::exception& e) {
    std::cerr << "braidctl status: unexpected answer from " << args.admin << ": " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<StatusArgs>();
  if (const char* env = std::getenv("BRAID_ADMIN")) args->admin = env;
  CLI::App* status = app.add_subcommand("status", "Show a gateway's tunnels and live flows (from its admin endpoint)");
  status->add_option("--admin", args->admin, "The gateway's admin.listen address (or BRAID_ADMIN)")->capture_default_str();
  status->add_flag("--json", args->json, "Print JSON instead of tables");
  status->callback([args, &exit_code] { exit_code = RunStatus(*args); });
}

}  // namespace braid::ctl
