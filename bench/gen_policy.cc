// gen_policy: writes a synthetic policy file and a file of flows as JSON
// lines, for timing `braidctl policy eval FILE --batch` (bench/batch_eval.sh).
//
//   gen_policy [--kind realistic|adversarial] [--rules N] [--flows M] [--seed S]
//              --policy OUT.json --flows-out OUT.jsonl [--expect-out OUT.jsonl]
//
// The rules and flows come from bench/rule_generator.h. With --expect-out it
// also writes, one line per flow, the decision the compiled table gives, in
// the form `braidctl policy eval` prints, so the batch output can be checked
// as well as timed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "bench/rule_generator.h"
#include "braid/rule_table.h"
#include "sft/compile.h"

namespace braid::bench {
namespace {

constexpr int kExitUsage = 2;

struct Options {
  RuleSetKind kind = RuleSetKind::kRealistic;
  size_t rules = 65536;
  size_t flows = 1000000;
  uint64_t seed = 1;
  std::string policy_out;
  std::string flows_out;
  std::string expect_out;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "gen_policy: %s\n"
               "usage: gen_policy [--kind realistic|adversarial] [--rules N] [--flows M] [--seed S]\n"
               "                  --policy OUT.json --flows-out OUT.jsonl [--expect-out OUT.jsonl]\n",
               why);
  std::exit(kExitUsage);
}

size_t ParseCount(const char* text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') Usage("not a number");
  return static_cast<size_t>(v);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help") {
      std::printf("gen_policy: writes a synthetic SFT policy and flows for benchmarks\n");
      std::exit(0);
    }
    if (i + 1 >= argc) Usage("missing value");
    const char* value = argv[++i];
    if (flag == "--kind") {
      if (std::strcmp(value, "realistic") == 0) {
        o.kind = RuleSetKind::kRealistic;
      } else if (std::strcmp(value, "adversarial") == 0) {
        o.kind = RuleSetKind::kAdversarial;
      } else {
        Usage("--kind must be realistic or adversarial");
      }
    } else if (flag == "--rules") {
      o.rules = ParseCount(value);
    } else if (flag == "--flows") {
      o.flows = ParseCount(value);
    } else if (flag == "--seed") {
      o.seed = ParseCount(value);
    } else if (flag == "--policy") {
      o.policy_out = value;
    } else if (flag == "--flows-out") {
      o.flows_out = value;
    } else if (flag == "--expect-out") {
      o.expect_out = value;
    } else {
      Usage("unknown flag");
    }
  }
  if (o.policy_out.empty() || o.flows_out.empty()) Usage("--policy and --flows-out are required");
  if (o.rules == 0) Usage("--rules must be at least 1");
  return o;
}

// A gateway name or address never needs JSON escaping: both are drawn from
// [A-Za-z0-9_.:-].
void WriteFlow(std::ostream& out, const FlowKey& f) {
  out << R"({"src":")" << f.src.ToString() << R"(","src_port":)" << f.src_port << R"(,"dst":")"
      << f.dst.ToString() << R"(","dst_port":)" << f.dst_port << R"(,"proto":")"
      << (f.proto == Protocol::kTcp ? "tcp" : "udp") << R"(","src_gateway":")" << f.src_gateway
      << R"(","dst_gateway":")" << f.dst_gateway << "\"}\n";
}

int Run(const Options& o) {
  Policy policy = GenerateRules(o.kind, o.rules, o.seed);
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::Compile(policy);
  if (!table.ok()) {
    std::fprintf(stderr, "gen_policy: compile: %s\n", std::string(table.status().message()).c_str());
    return 1;
  }
  const RuleTable& t = **table;
  const FlowSet flows = GenerateFlows(policy, o.flows, o.seed,
                                      [&t](const FlowKey& flow) { return t.Lookup(flow).is_default(); });

  std::ofstream policy_file(o.policy_out, std::ios::binary);
  policy_file << PolicyToJson(policy, -1) << "\n";
  std::ofstream flows_file(o.flows_out, std::ios::binary);
  for (const FlowKey& f : flows.flows) WriteFlow(flows_file, f);
  if (!o.expect_out.empty()) {
    std::ofstream expect_file(o.expect_out, std::ios::binary);
    for (const FlowKey& f : flows.flows) {
      const Decision d = t.Lookup(f);
      expect_file << R"({"action":")" << ActionName(d.action) << R"(","rule":)";
      if (d.is_default()) {
        expect_file << "null}\n";
      } else {
        expect_file << '"' << t.RuleId(d) << "\"}\n";
      }
    }
    expect_file.flush();
    if (!expect_file) {
      std::fprintf(stderr, "gen_policy: cannot write %s\n", o.expect_out.c_str());
      return 1;
    }
  }
  policy_file.flush();
  flows_file.flush();
  if (!policy_file || !flows_file) {
    std::fprintf(stderr, "gen_policy: cannot write the output files\n");
    return 1;
  }
  std::fprintf(stderr, "gen_policy: %zu %s rules, %zu flows (%zu drawn inside a rule, %zu to the default)\n",
               policy.rules.size(), std::string(RuleSetKindName(o.kind)).c_str(), flows.flows.size(),
               flows.hits, flows.misses);
  return 0;
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) { return braid::bench::Run(braid::bench::ParseOptions(argc, argv)); }
