// braidctl's controller commands: join tokens, the fleet view, revocation,
// and the policy lifecycle (apply, get, history, rollback, stats). Each is
// one call to the controller's admin API (docs/controller.md), printed as a
// table or, with --json, as the API's JSON.
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "braid/policy.h"
#include "braidctl/command.h"
#include "braidctl/controller_connection.h"
#include "pki/pem_files.h"

namespace braid::ctl {
namespace {

using json = nlohmann::json;

// Run calls the controller and hands the answer to `print`; an error goes
// to stderr and makes the exit code 1.
template <typename Print>
void Run(int& exit_code, const ControllerOptions& options, const std::string& method, const std::string& target,
         const json& body, Print print) {
  absl::StatusOr<json> answer = CallController(options, method, target, body);
  if (!answer.ok()) {
    std::cerr << "braidctl: " << answer.status().message() << "\n";
    exit_code = kExitFailure;
    return;
  }
  print(*answer);
}

std::string Text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  return v.dump();
}

void PrintGateways(const json& fleet) {
  std::printf("policy version %s\n\n", Text(fleet.at("policy_version")).c_str());
  std::printf("%-20s  %-22s  %-10s  %-20s  %-7s  %-7s  %-5s  %14s  %14s\n", "GATEWAY", "ADDRESS", "STATE",
              "LAST SEEN", "POLICY", "TUNNELS", "FLOWS", "BYTES SENT", "BYTES RECEIVED");
  for (const json& g : fleet.at("gateways")) {
    const std::string state = g.at("revoked").get<bool>()     ? "revoked"
                              : g.at("connected").get<bool>() ? "connected"
                                                              : "away";
    std::string policy = Text(g.at("policy_version"));
    if (!g.at("policy_error").get<std::string>().empty()) policy += "!";
    std::printf("%-20s  %-22s  %-10s  %-20s  %-7s  %-7s  %-5s  %14s  %14s\n", Text(g.at("name")).c_str(),
                Text(g.at("address")).c_str(), state.c_str(), Text(g.at("last_seen")).c_str(), policy.c_str(),
                Text(g.at("tunnels")).c_str(), Text(g.at("flows")).c_str(), Text(g.at("bytes_sent")).c_str(),
                Text(g.at("bytes_received")).c_str());
  }
  for (const json& g : fleet.at("gateways")) {
    if (!g.at("policy_error").get<std::string>().empty()) {
      std::printf("\n%s: %s\n", g.at("name").get<std::string>().c_str(),
                  g.at("policy_error").get<std::string>().c_str());
    }
  }
}

void PrintApply(const json& r, bool dry_run) {
  std::cout << r.at("diff_text").get<std::string>();
  if (!r.at("diff_text").get<std::string>().ends_with("\n")) std::cout << "\n";
  if (dry_run) {
    std::cout << "dry run: would be stored as version " << r.at("version") << "; nothing changed\n";
  } else {
    std::cout << "stored as version " << r.at("version") << "; pushed to every connected gateway\n";
  }
}

}  // namespace

void AddControllerCommands(CLI::App& app, int& exit_code) {
  static ControllerOptions options;
  static bool as_json = false;
  auto add_json = [](CLI::App* c) { c->add_flag("--json", as_json, "Print the controller's JSON answer"); };

  // token create NAME
  CLI::App* token = app.add_subcommand("token", "Join tokens for new gateways (controller admin)");
  token->require_subcommand(1, 1);
  CLI::App* create = token->add_subcommand("create", "Make a one-time join token for gateway NAME");
  static std::string token_name, token_ttl;
  create->add_option("NAME", token_name, "Gateway name")->required();
  create->add_option("--ttl", token_ttl, "How long the token is valid (default: the controller's, 1h)");
  AddControllerOptions(create, &options);
  add_json(create);
  create->callback([&exit_code] {
    json body = {{"name", token_name}};
    if (!token_ttl.empty()) body["ttl"] = token_ttl;
    Run(exit_code, options, "POST", "/v1/tokens", body, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      // The token alone on stdout, so that `T=$(braidctl token create gw)` works.
      std::cout << r.at("token").get<std::string>() << "\n";
      std::cerr << "token for gateway " << r.at("name").get<std::string>() << ", valid once, until "
                << r.at("expires_at").get<std::string>() << "\n";
    });
  });

  // gateways [revoke NAME]
  CLI::App* gateways = app.add_subcommand("gateways", "The fleet: every gateway the controller knows");
  AddControllerOptions(gateways, &options);
  add_json(gateways);
  CLI::App* revoke = gateways->add_subcommand("revoke", "Revoke gateway NAME: its tunnels close, its certificates are refused");
  static std::string revoke_name;
  revoke->add_option("NAME", revoke_name, "Gateway name")->required();
  AddControllerOptions(revoke, &options);
  add_json(revoke);
  revoke->callback([&exit_code] {
    Run(exit_code, options, "POST", "/v1/gateways/revoke", {{"name", revoke_name}}, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      std::cout << "revoked gateway " << r.at("name").get<std::string>() << " ("
                << r.at("revoked_serials").size() << " certificates); every gateway is told now\n";
    });
  });
  gateways->callback([&exit_code, gateways] {
    if (gateways->got_subcommand("revoke")) return;
    Run(exit_code, options, "GET", "/v1/gateways", nullptr, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
      } else {
        PrintGateways(r);
      }
    });
  });

  // policy apply|get|history|rollback|stats, beside the local policy tools.
  CLI::App* policy = app.get_subcommand("policy");
  CLI::App* apply = policy->add_subcommand("apply", "Validate FILE, show the changes, store it as a new version and push it");
  static std::string apply_file;
  static bool dry_run = false;
  apply->add_option("FILE", apply_file, "Policy file (JSON)")->required();
  apply->add_flag("--dry-run", dry_run, "Show the changes only; store nothing");
  AddControllerOptions(apply, &options);
  add_json(apply);
  apply->callback([&exit_code] {
    // Checked here first, by the engine `braidctl policy check` runs, so
    // the errors are the same; the controller checks it again.
    absl::StatusOr<Policy> parsed = LoadPolicyFile(apply_file);
    if (!parsed.ok()) {
      std::cerr << parsed.status().message() << "\n";
      exit_code = kExitFailure;
      return;
    }
    absl::StatusOr<std::string> text = pki::ReadFile(apply_file, 256u << 20);
    if (!text.ok()) {
      std::cerr << "braidctl: " << text.status().message() << "\n";
      exit_code = kExitFailure;
      return;
    }
    Run(exit_code, options, "POST", "/v1/policy", {{"text", *text}, {"dry_run", dry_run}}, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
      } else {
        PrintApply(r, dry_run);
      }
    });
  });

  CLI::App* get = policy->add_subcommand("get", "Print the current policy (or version N)");
  static uint64_t get_version = 0;
  get->add_option("--version", get_version, "Version to print");
  AddControllerOptions(get, &options);
  add_json(get);
  get->callback([&exit_code] {
    const std::string target = get_version == 0 ? "/v1/policy" : absl::StrCat("/v1/policy?version=", get_version);
    Run(exit_code, options, "GET", target, nullptr, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      std::cout << r.at("text").get<std::string>();
      if (!r.at("text").get<std::string>().ends_with("\n")) std::cout << "\n";
    });
  });

  CLI::App* history = policy->add_subcommand("history", "List every stored policy version");
  AddControllerOptions(history, &options);
  add_json(history);
  history->callback([&exit_code] {
    Run(exit_code, options, "GET", "/v1/policy/history", nullptr, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      std::printf("%-8s  %-20s  %-16s  %5s  %s\n", "VERSION", "CREATED", "BY", "RULES", "ORIGIN");
      for (const json& v : r.at("versions")) {
        std::printf("%-8s  %-20s  %-16s  %5s  %s\n", Text(v.at("version")).c_str(), Text(v.at("created_at")).c_str(),
                    Text(v.at("created_by")).c_str(), Text(v.at("rules")).c_str(), Text(v.at("origin")).c_str());
      }
    });
  });

  CLI::App* rollback = policy->add_subcommand("rollback", "Store version N again as the newest version and push it");
  static uint64_t rollback_version = 0;
  rollback->add_option("N", rollback_version, "Version to go back to")->required();
  AddControllerOptions(rollback, &options);
  add_json(rollback);
  rollback->callback([&exit_code] {
    Run(exit_code, options, "POST", "/v1/policy/rollback", {{"version", rollback_version}}, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
      } else {
        PrintApply(r, false);
      }
    });
  });

  CLI::App* stats = policy->add_subcommand("stats", "Hits per rule, over the fleet and per gateway");
  AddControllerOptions(stats, &options);
  add_json(stats);
  stats->callback([&exit_code] {
    Run(exit_code, options, "GET", "/v1/policy/stats", nullptr, [](const json& r) {
      if (as_json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      std::printf("policy version %s; hits since each gateway started\n\n", Text(r.at("policy_version")).c_str());
      std::printf("%-32s  %12s  %s\n", "RULE", "HITS", "PER GATEWAY");
      for (const json& rule : r.at("rules")) {
        std::string per;
        for (const auto& [name, n] : rule.at("gateways").items()) absl::StrAppend(&per, per.empty() ? "" : "  ", name, "=", n.dump());
        std::string id = rule.at("rule").get<std::string>();
        if (!rule.at("in_policy").get<bool>()) id += " (not in this version)";
        std::printf("%-32s  %12s  %s\n", id.c_str(), Text(rule.at("total")).c_str(), per.c_str());
      }
    });
  });
}

}  // namespace braid::ctl
