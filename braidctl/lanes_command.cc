// braidctl lanes: the lanes of a gateway's tunnels, through its admin
// endpoint.
//
//   lanes list                  one row per lane of every tunnel (/tunnels)
//   lanes kill TUNNEL LANE      close the lane now, as a failure would: its
//                               unacknowledged frames are resent on the
//                               other lanes and the dialing side redials it
//   lanes retire TUNNEL LANE    replace its connection make-before-break:
//                               a new one takes the lane, then the old one
//                               drains and closes
//
// kill and retire print the gateway's answer and exit 0 only on its 200;
// any refusal (409 with the gateway's reason, 404 for an unknown tunnel) or
// an endpoint that cannot be reached is exit 1 with a message on stderr.
#include <cstdint>
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

struct ActionArgs {
  std::string admin;
  uint64_t tunnel = 0;
  uint16_t lane = 0;
};

// LaneRows flattens a /tunnels answer: one object per lane of every tunnel,
// the lane's own fields plus its tunnel's "tunnel" (id), "peer" and "role".
json LaneRows(const json& tunnels) {
  json rows = json::array();
  for (const json& t : tunnels.at("tunnels")) {
    for (const json& lane : t.at("lanes")) {
      json row = {{"tunnel", t.at("id")}, {"peer", t.at("peer")}, {"role", t.at("role")}};
      row.update(lane);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

// State is the lane's "state"; from a gateway older than that field, "up"
// or "down".
std::string State(const json& lane) {
  const auto it = lane.find("state");
  if (it != lane.end() && it->is_string()) return it->get<std::string>();
  return lane.at("up").get<bool>() ? "up" : "down";
}

// PrintRows: RTT is TCP's smoothed round trip (tcp_rtt_ms, as in braidctl
// status); UNACKED what the lane sent that the peer has not acknowledged
// (what a kill would resend); QUEUED what waits to be written to it.
void PrintRows(const json& rows) {
  static constexpr char kFormat[] = "%-20s  %-16s  %-8s  %4s  %-10s  %4s  %9s  %10s  %10s  %10s  %10s\n";
  std::printf(kFormat, "TUNNEL", "PEER", "ROLE", "LANE", "STATE", "GEN", "RTT", "UNACKED", "QUEUED", "SENT",
              "RECEIVED");
  for (const json& r : rows) {
    std::printf(kFormat, std::to_string(r.at("tunnel").get<uint64_t>()).c_str(), r.at("peer").get<std::string>().c_str(),
                r.at("role").get<std::string>().c_str(), std::to_string(r.at("index").get<unsigned>()).c_str(),
                State(r).c_str(), Cell<uint64_t>(r, "generation", Count).c_str(),
                Cell<double>(r, "tcp_rtt_ms", Ms).c_str(), Cell<uint64_t>(r, "unacked_bytes", Bytes).c_str(),
                Bytes(r.at("queued_bytes").get<uint64_t>()).c_str(), Bytes(r.at("bytes_sent").get<uint64_t>()).c_str(),
                Bytes(r.at("bytes_received").get<uint64_t>()).c_str());
  }
}

int RunList(const ViewOptions& args) {
  absl::StatusOr<json> tunnels = GetAdminJson(args.admin, "/tunnels", "tunnels");
  if (!tunnels.ok()) {
    std::cerr << "braidctl lanes list: " << tunnels.status().message() << "\n";
    return kExitFailure;
  }
  try {
    const json rows = LaneRows(*tunnels);
    if (args.json) {
      std::cout << json{{"lanes", rows}}.dump(2) << "\n";
    } else {
      PrintRows(rows);
    }
  } catch (const json::exception& e) {
    std::cerr << "braidctl lanes list: unexpected answer from " << args.admin << ": " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

// RunAction POSTs `action` ("kill" or "retire") for the lane.
int RunAction(const ActionArgs& args, const std::string& action) {
  const std::string lane = "tunnel " + std::to_string(args.tunnel) + " lane " + std::to_string(args.lane);
  const std::string path =
      "/tunnels/" + std::to_string(args.tunnel) + "/lanes/" + std::to_string(args.lane) + "/" + action;
  absl::StatusOr<AdminReply> reply = AdminRequest(args.admin, "POST", path);
  if (!reply.ok()) {
    std::cerr << "braidctl lanes " << action << ": " << reply.status().message() << "\n";
    return kExitFailure;
  }
  const std::string answer = FirstLine(reply->body);
  if (reply->status != 200) {
    // The gateway's reason ("lane 3 is not up", "no tunnel 9"); a gateway
    // older than these commands answers 405.
    std::cerr << "braidctl lanes " << action << ": " << lane << ": " << (answer.empty() ? "refused" : answer)
              << " (HTTP " << reply->status << " from " << args.admin << ")\n";
    return kExitFailure;
  }
  std::printf("%s: %s\n", lane.c_str(), answer.c_str());
  return kExitOk;
}

void AddActionCommand(CLI::App* lanes, const std::string& action, const std::string& help, int& exit_code) {
  auto args = std::make_shared<ActionArgs>();
  CLI::App* command = lanes->add_subcommand(action, help);
  command->add_option("TUNNEL", args->tunnel, "The tunnel id (as in `braidctl lanes list`)")->required();
  command->add_option("LANE", args->lane, "The lane index")->required();
  AddAdminOption(command, &args->admin);
  command->callback([args, action, &exit_code] { exit_code = RunAction(*args, action); });
}

}  // namespace

void AddLanesCommands(CLI::App& app, int& exit_code) {
  CLI::App* lanes = app.add_subcommand("lanes", "A gateway's lanes: list them, kill or retire one (admin endpoint)");
  lanes->require_subcommand(1, 1);

  auto list_args = std::make_shared<ViewOptions>();
  CLI::App* list = lanes->add_subcommand("list", "One row per lane of every tunnel: state, generation, RTT, bytes");
  AddViewOptions(list, list_args.get());
  list->callback([list_args, &exit_code] { exit_code = RunList(*list_args); });

  AddActionCommand(lanes, "kill",
                   "Close lane LANE of tunnel TUNNEL now, as a failure would: its unacknowledged frames are resent "
                   "on the other lanes and it is redialed",
                   exit_code);
  AddActionCommand(lanes, "retire",
                   "Replace the connection of lane LANE of tunnel TUNNEL make-before-break: a new connection takes "
                   "the lane, then the old one drains and closes",
                   exit_code);
}

}  // namespace braid::ctl
