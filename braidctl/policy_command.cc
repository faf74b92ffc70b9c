// braidctl policy check | lint | eval: the SFT engine on the command line.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "braid/policy.h"
#include "braid/rule_table.h"
#include "braidctl/command.h"
#include "nlohmann/json.hpp"
#include "sft/compile.h"
#include "sft/lint.h"

namespace braid::ctl {
namespace {

using nlohmann::json;

// FlowText is a flow as given on the command line or in a --batch line,
// before validation.
struct FlowText {
  std::string src, dst, proto = "tcp", src_gateway, dst_gateway;
  int64_t src_port = 0;
  int64_t dst_port = -1;
};

// MakeFlow validates `in`. Returns the error text on failure.
std::optional<std::string> MakeFlow(const FlowText& in, FlowKey* out) {
  auto src = IpAddress::Parse(in.src);
  if (!src) return absl::StrCat("src: \"", in.src, "\" is not an IP address");
  auto dst = IpAddress::Parse(in.dst);
  if (!dst) return absl::StrCat("dst: \"", in.dst, "\" is not an IP address");
  if (in.src_port < 0 || in.src_port > 65535) return absl::StrCat("src_port: ", in.src_port, " is not a port (0-65535)");
  if (in.dst_port < 0 || in.dst_port > 65535) return absl::StrCat("dst_port: ", in.dst_port, " is not a port (0-65535)");
  if (in.proto != "tcp" && in.proto != "udp") return absl::StrCat("proto: \"", in.proto, "\" must be \"tcp\" or \"udp\"");
  out->src = *src;
  out->dst = *dst;
  out->src_port = static_cast<uint16_t>(in.src_port);
  out->dst_port = static_cast<uint16_t>(in.dst_port);
  out->proto = in.proto == "udp" ? Protocol::kUdp : Protocol::kTcp;
  out->src_gateway = in.src_gateway;
  out->dst_gateway = in.dst_gateway;
  return std::nullopt;
}

// ParseBatchLine reads one --batch input line into a FlowText.
std::optional<std::string> ParseBatchLine(std::string_view line, FlowText* out) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::string("not a JSON object");
  if (!j.is_object()) return std::string("not a JSON object");
  for (auto& [key, value] : j.items()) {
    if (key == "src" || key == "dst" || key == "proto" || key == "src_gateway" || key == "dst_gateway") {
      if (!value.is_string()) return absl::StrCat(key, ": expected a string");
      std::string* field = key == "src"           ? &out->src
                           : key == "dst"         ? &out->dst
                           : key == "proto"       ? &out->proto
                           : key == "src_gateway" ? &out->src_gateway
                                                  : &out->dst_gateway;
      *field = value.get<std::string>();
    } else if (key == "src_port" || key == "dst_port") {
      if (!value.is_number_integer()) return absl::StrCat(key, ": expected an integer");
      (key == "src_port" ? out->src_port : out->dst_port) = value.get<int64_t>();
    } else {
      return absl::StrCat("unknown key \"", key, "\"");
    }
  }
  if (out->src.empty()) return std::string("src: required");
  if (out->dst.empty()) return std::string("dst: required");
  if (out->dst_port < 0 && !j.contains("dst_port")) return std::string("dst_port: required");
  return std::nullopt;
}

void AppendDecision(const RuleTable& table, const Decision& d, std::string* out) {
  absl::StrAppend(out, "{\"action\":\"", ActionName(d.action), "\",\"rule\":");
  if (d.is_default()) {
    absl::StrAppend(out, "null}\n");
  } else {
    absl::StrAppend(out, json(table.RuleId(d)).dump(), "}\n");
  }
}

// LoadTable loads and compiles FILE, printing errors on failure.
std::shared_ptr<const RuleTable> LoadTable(const std::string& file) {
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::LoadAndCompile(file);
  if (!table.ok()) {
    std::cerr << table.status().message() << "\n";
    return nullptr;
  }
  return *std::move(table);
}

int RunBatch(const RuleTable& table) {
  std::string out;
  std::string line;
  uint64_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    FlowText text;
    FlowKey flow;
    std::optional<std::string> error = ParseBatchLine(line, &text);
    if (!error) error = MakeFlow(text, &flow);
    if (error) {
      absl::StrAppend(&out, "{\"error\":", json(absl::StrCat("line ", line_number, ": ", *error)).dump(), "}\n");
    } else {
      AppendDecision(table, table.Lookup(flow), &out);
    }
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, int& exit_code) {
  CLI::App* policy = app.add_subcommand("policy", "Security Filter Table files (check, lint, eval) and the controller's versions (apply, get, history, rollback, stats)");
  policy->require_subcommand(1, 1);

  auto* check = policy->add_subcommand("check", "Validate a policy file: exit 0 when valid, 1 with every error");
  static std::string check_file;
  check->add_option("FILE", check_file, "Policy file (JSON)")->required();
  check->callback([&exit_code] {
    absl::StatusOr<Policy> parsed = LoadPolicyFile(check_file);
    if (!parsed.ok()) {
      std::cerr << parsed.status().message() << "\n";
      exit_code = kExitFailure;
      return;
    }
    std::cout << check_file << ": valid, " << parsed->rules.size() << " rules, default "
              << ActionName(parsed->default_action) << "\n";
  });

  auto* lint = policy->add_subcommand("lint", "Warn about shadowed, redundant and duplicate rules and host bits");
  static std::string lint_file;
  static bool strict = false;
  lint->add_option("FILE", lint_file, "Policy file (JSON)")->required();
  lint->add_flag("--strict", strict, "Exit 1 when there are warnings");
  lint->callback([&exit_code] {
    absl::StatusOr<Policy> parsed = LoadPolicyFile(lint_file);
    if (!parsed.ok()) {
      std::cerr << parsed.status().message() << "\n";
      exit_code = kExitFailure;
      return;
    }
    std::vector<sft::LintWarning> warnings = sft::Lint(*parsed);
    for (const sft::LintWarning& w : warnings) std::cout << lint_file << ": warning: " << w.message << "\n";
    if (strict && !warnings.empty()) exit_code = kExitFailure;
  });

  auto* eval = policy->add_subcommand("eval", "Decide one flow (or JSON lines on stdin with --batch)");
  static std::string eval_file;
  static FlowText flow;
  static bool batch = false;
  eval->add_option("FILE", eval_file, "Policy file (JSON)")->required();
  auto* src = eval->add_option("--src", flow.src, "Source host address");
  eval->add_option("--src-port", flow.src_port, "Source port")->check(CLI::Range(0, 65535));
  auto* dst = eval->add_option("--dst", flow.dst, "Destination address");
  auto* dst_port = eval->add_option("--dst-port", flow.dst_port, "Destination port")->check(CLI::Range(0, 65535));
  eval->add_option("--proto", flow.proto, "tcp or udp (default tcp)")->check(CLI::IsMember({"tcp", "udp"}));
  eval->add_option("--src-gateway", flow.src_gateway, "Name of the source gateway");
  eval->add_option("--dst-gateway", flow.dst_gateway, "Name of the destination gateway");
  auto* batch_flag = eval->add_flag("--batch", batch,
                                    "Read JSON lines {src, src_port, dst, dst_port, proto, src_gateway, "
                                    "dst_gateway} on stdin, write one result per line");
  for (CLI::Option* o : {src, dst, dst_port}) o->excludes(batch_flag);
  eval->callback([&exit_code, eval, src, dst, dst_port] {
    if (!batch && (src->count() == 0 || dst->count() == 0 || dst_port->count() == 0)) {
      throw CLI::ValidationError("policy eval needs --src, --dst and --dst-port, or --batch");
    }
    FlowKey key;
    if (!batch) {
      if (std::optional<std::string> error = MakeFlow(flow, &key)) {
        throw CLI::ValidationError(*error);
      }
    }
    std::shared_ptr<const RuleTable> table = LoadTable(eval_file);
    if (!table) {
      exit_code = kExitFailure;
      return;
    }
    if (batch) {
      exit_code = RunBatch(*table);
      return;
    }
    std::string out;
    AppendDecision(*table, table->Lookup(key), &out);
    std::fwrite(out.data(), 1, out.size(), stdout);
    (void)eval;
  });
}

}  // namespace braid::ctl
