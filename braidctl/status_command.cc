// braidctl status: a gateway's tunnels and live flows, read from its admin
// endpoint (/readyz, /tunnels, /flows), as tables or as JSON.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
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

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
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

void PrintTables(const std::string& admin, const Reply& ready, const json& tunnels, const json& flows) {
  std::printf("gateway at %s: %s\n\n", admin.c_str(),
              ready.status == 200 ? "ready" : ("not ready (" + ready.body.substr(0, ready.body.find('\n')) + ")").c_str());
  std::printf("%-20s  %-16s  %-8s  %7s  %5s  %5s  %10s  %10s  %8s\n", "TUNNEL", "PEER", "ROLE", "AGE", "FLOWS",
              "LANES", "SENT", "RECEIVED", "RTT");
  for (const json& t : tunnels.at("tunnels")) {
    uint64_t sent = 0, received = 0;
    int up = 0;
    double rtt_max = -1;
    for (const json& lane : t.at("lanes")) {
      sent += lane.at("bytes_sent").get<uint64_t>();
      received += lane.at("bytes_received").get<uint64_t>();
      up += lane.at("up").get<bool>() ? 1 : 0;
      if (!lane.at("rtt_ms").is_null()) rtt_max = std::max(rtt_max, lane.at("rtt_ms").get<double>());
    }
    char rtt[16] = "-";
    if (rtt_max >= 0) std::snprintf(rtt, sizeof(rtt), "%.2fms", rtt_max);
    const std::string lanes = std::to_string(up) + "/" + std::to_string(t.at("lanes").size());
    std::printf("%-20llu  %-16s  %-8s  %7s  %5llu  %5s  %10s  %10s  %8s\n",
                static_cast<unsigned long long>(t.at("id").get<uint64_t>()), t.at("peer").get<std::string>().c_str(),
                t.at("role").get<std::string>().c_str(), Age(t.at("age_seconds").get<double>()).c_str(),
                static_cast<unsigned long long>(t.at("flows").get<uint64_t>()), lanes.c_str(), Bytes(sent).c_str(),
                Bytes(received).c_str(), rtt);
  }
  std::printf("\n%-6s  %-7s  %-22s  %-24s  %-12s  %-18s  %10s  %10s  %7s\n", "FLOW", "SIDE", "SOURCE", "TARGET", "PEER",
              "STATE", "SENT", "RECEIVED", "AGE");
  for (const json& f : flows.at("flows")) {
    std::printf("%-6llu  %-7s  %-22s  %-24s  %-12s  %-18s  %10s  %10s  %7s\n",
                static_cast<unsigned long long>(f.at("flow").get<uint64_t>()), f.at("side").get<std::string>().c_str(),
                f.at("source").get<std::string>().c_str(), f.at("target").get<std::string>().c_str(),
                f.at("peer").get<std::string>().c_str(), f.at("state").get<std::string>().c_str(),
                Bytes(f.at("bytes_sent").get<uint64_t>()).c_str(), Bytes(f.at("bytes_received").get<uint64_t>()).c_str(),
                Age(f.at("age_seconds").get<double>()).c_str());
  }
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
