// braidctl status: a gateway's tunnels, their lanes and live flows, read
// from its admin endpoint (/readyz, /tunnels, /flows), as tables or as JSON.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "braidctl/admin_client.h"
#include "braidctl/admin_format.h"
#include "braidctl/command.h"
#include "nlohmann/json.hpp"

namespace braid::ctl {
namespace {

using json = nlohmann::json;

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

void PrintTables(const std::string& admin, const AdminReply& ready, const json& tunnels, const json& flows) {
  std::printf("gateway at %s: %s\n", admin.c_str(),
              ready.status == 200 ? "ready" : ("not ready (" + FirstLine(ready.body) + ")").c_str());
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

int Fail(const absl::Status& status) {
  std::cerr << "braidctl status: " << status.message() << "\n";
  return kExitFailure;
}

int RunStatus(const ViewOptions& args) {
  absl::StatusOr<AdminReply> ready = AdminRequest(args.admin, "GET", "/readyz");
  if (!ready.ok()) return Fail(ready.status());
  absl::StatusOr<json> t = GetAdminJson(args.admin, "/tunnels", "tunnels");
  if (!t.ok()) return Fail(t.status());
  absl::StatusOr<json> f = GetAdminJson(args.admin, "/flows", "flows");
  if (!f.ok()) return Fail(f.status());
  if (args.json) {
    json out{{"ready", ready->status == 200}, {"tunnels", t->at("tunnels")}, {"flows", f->at("flows")}};
    if (t->contains("window_budget")) out["window_budget"] = t->at("window_budget");
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  try {
    PrintTables(args.admin, *ready, *t, *f);
  } catch (const json::exception& e) {
    std::cerr << "braidctl status: unexpected answer from " << args.admin << ": " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommands(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ViewOptions>();
  CLI::App* status = app.add_subcommand("status", "Show a gateway's tunnels and live flows (from its admin endpoint)");
  AddViewOptions(status, args.get());
  status->callback([args, &exit_code] { exit_code = RunStatus(*args); });
}

}  // namespace braid::ctl
