// braid-fleet-sim: many simulated gateways against real controllers, to time
// a policy push across a fleet (bench/controller/run_fleet_bench.sh drives
// it; docs in bench/controller/README.md).
//
// Each simulated gateway is what a managed braid-proxy is to its controller,
// and nothing more: its own certificate from the fleet's CA (issued here, in
// memory and in a scratch directory), a TLS connection to one controller,
// and the real gateway API (controller/api/gateway_api.h): POST
// /v1/gateway/report, then GET /v1/gateway/state?known=ETAG held open until
// the state changes, for ever, moving to the next controller in its list
// when one fails. Gateway i starts at controller i mod N, so the fleet is
// spread across them.
//
// The run: connect every gateway and let it take the current state; then
// apply a new policy through the first controller (an admin request) and
// time, for each gateway, from just before that request until its next
// report carrying the new version was accepted (it has applied it and said
// so). With --kill-pid, that process (a controller) is killed with SIGKILL
// --kill-after-ms after the apply: its gateways must move on by themselves.
// Prints one line "result {JSON}" with the percentiles, the gateways that
// never got there, and any gateway that went back to an older version or to
// none (which must never happen).
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "controller/api/control_client.h"
#include "controller/api/control_tls.h"
#include "controller/api/gateway_api.h"
#include "nlohmann/json.hpp"
#include "pki/certificate_authority.h"
#include "pki/pem_files.h"

namespace braid::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRequestTimeout{10'000};
constexpr std::chrono::milliseconds kPollTimeout{135'000};

struct Options {
  std::vector<std::string> controllers;
  std::string ca_cert, ca_key;     // the fleet's CA: the gateways' certificates are issued with it
  std::string admin_cert, admin_key;
  std::string scratch;             // where the gateways' keys and certificates go
  std::string policy;              // the policy file to apply
  int gateways = 1000;
  pid_t kill_pid = 0;
  int kill_after_ms = 50;
  int deadline_s = 60;
};

// One simulated gateway.
struct SimGateway {
  int index = 0;
  std::string name;
  std::shared_ptr<asio::ssl::context> tls;
  std::vector<std::unique_ptr<controller::ControlClient>> clients;  // its controllers, its first first
  size_t current = 0;
  std::string etag;
  controller::GatewayState peers;    // its peer list, named in each poll as braid-proxy does
  uint64_t version = 0;              // the version it runs (applied)
  uint64_t reported = 0;             // the version its last accepted report carried
  Clock::time_point acknowledged{};  // when a report of the target version was accepted
  bool regressed = false;            // went to an older version, or to none
  int failovers = 0;
  int slim_answers = 0;  // states that left the peer list out (it had it)
};

struct Fleet {
  std::vector<std::unique_ptr<SimGateway>> gateways;
  std::atomic<int> ready{0};        // gateways that have taken a state once
  std::atomic<uint64_t> target{0};  // the version being pushed; 0 before the apply
  std::atomic<int> acknowledged{0};
};

asio::awaitable<void> Run(SimGateway& g, Fleet& fleet) {
  bool counted = false;
  for (;;) {
    controller::ControlClient& client = *g.clients[g.current];
    controller::GatewayReport report;
    report.tunnel_port = static_cast<uint16_t>(20000 + g.index);
    report.policy_version = g.version;
    absl::StatusOr<controller::ControlResponse> sent =
        co_await client.Request(http::verb::post, std::string(controller::kGatewayReportPath),
                                controller::GatewayReportToJson(report).dump(), kRequestTimeout);
    absl::Status status = sent.ok() ? controller::ErrorFromResponse(*sent) : sent.status();
    if (status.ok()) {
      g.reported = g.version;
      const uint64_t target = fleet.target.load();
      if (target != 0 && g.version >= target && g.acknowledged == Clock::time_point{}) {
        g.acknowledged = Clock::now();
        ++fleet.acknowledged;
      }
      std::string poll = absl::StrCat(std::string(controller::kGatewayStatePath), "?known=", g.etag);
      if (!g.peers.peers_etag.empty()) absl::StrAppend(&poll, "&peers=", g.peers.peers_etag);
      absl::StatusOr<controller::ControlResponse> polled =
          co_await client.Request(http::verb::get, std::move(poll), "", kPollTimeout);
      status = polled.ok() ? controller::ErrorFromResponse(*polled) : polled.status();
      if (status.ok()) {
        absl::StatusOr<controller::GatewayState> state = controller::ParseGatewayState(polled->body);
        if (!state.ok()) {
          std::cerr << g.name << ": a state that does not parse: " << state.status() << "\n";
          co_return;
        }
        g.slim_answers += state->peers_unchanged;
        if (!controller::KeepPeers(*state, g.peers)) {
          g.peers = controller::GatewayState{};  // ask for the list whole
          continue;
        }
        g.etag = state->etag;
        g.peers.peers = std::move(state->peers);
        g.peers.peers_etag = state->peers_etag;
        // What a gateway does (proxy/gateway_managed.cc): never from a
        // policy to none, never backwards.
        if (state->policy_version < g.version) g.regressed = true;
        if (state->policy_version >= g.version) g.version = state->policy_version;
        if (!counted) {
          counted = true;
          ++fleet.ready;
        }
        continue;
      }
    }
    // This controller failed: the next one, as ControllerLink does.
    ++g.failovers;
    g.current = (g.current + 1) % g.clients.size();
    asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Apply sends the policy through the first controller, blocking.
absl::Status Apply(const Options& o, std::shared_ptr<asio::ssl::context> admin_tls) {
  absl::StatusOr<std::string> text = pki::ReadFile(o.policy);
  if (!text.ok()) return text.status();
  const nlohmann::json body = {{"text", *text}, {"dry_run", false}};
  absl::StatusOr<controller::ControlResponse> r = controller::RequestBlocking(
      std::move(admin_tls), o.controllers.front(), http::verb::post, "/v1/policy", body.dump(), kRequestTimeout);
  if (!r.ok()) return r.status();
  return controller::ErrorFromResponse(*r);
}

// CpuSeconds: the CPU time this process has used (user and system).
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

int Main(int argc, char** argv) {
  Options o;
  std::string controllers;
  CLI::App app{"Simulated gateways timing a policy push across real controllers"};
  app.add_option("--controllers", controllers, "Controller addresses, comma-separated")->required();
  app.add_option("--ca-cert", o.ca_cert)->required();
  app.add_option("--ca-key", o.ca_key)->required();
  app.add_option("--admin-cert", o.admin_cert)->required();
  app.add_option("--admin-key", o.admin_key)->required();
  app.add_option("--scratch", o.scratch)->required();
  app.add_option("--policy", o.policy, "The policy to apply")->required();
  app.add_option("--gateways", o.gateways)->check(CLI::Range(1, 100'000));
  app.add_option("--kill-pid", o.kill_pid, "SIGKILL this process (a controller) after the apply");
  app.add_option("--kill-after-ms", o.kill_after_ms);
  app.add_option("--deadline-s", o.deadline_s);
  CLI11_PARSE(app, argc, argv);
  o.controllers = absl::StrSplit(controllers, ',', absl::SkipEmpty());

  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::LoadFiles(o.ca_cert, o.ca_key);
  if (!ca.ok()) return std::cerr << "fleet-sim: " << ca.status() << "\n", 1;
  absl::StatusOr<std::string> ca_pem = pki::ReadFile(o.ca_cert);
  if (!ca_pem.ok()) return std::cerr << "fleet-sim: " << ca_pem.status() << "\n", 1;
  std::filesystem::create_directories(o.scratch);

  asio::io_context io(1);
  Fleet fleet;
  for (int i = 0; i < o.gateways; ++i) {
    auto g = std::make_unique<SimGateway>();
    g->index = i;
    g->name = absl::StrFormat("sim-%05d", i);
    const std::string key = absl::StrCat(o.scratch, "/", g->name, ".key");
    const std::string cert = absl::StrCat(o.scratch, "/", g->name, ".crt");
    if (!std::filesystem::exists(cert)) {
      absl::StatusOr<pki::IssuedIdentity> id = ca->Issue(g->name);
      if (!id.ok()) return std::cerr << "fleet-sim: " << id.status() << "\n", 1;
      if (absl::Status s = pki::WriteKeyAndCertificate(key, id->key.get(), cert, id->certificate.get(), true);
          !s.ok()) {
        return std::cerr << "fleet-sim: " << s << "\n", 1;
      }
    }
    controller::ClientTlsOptions tls;
    tls.ca_pem = *ca_pem;
    tls.cert_file = cert;
    tls.key_file = key;
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> context = controller::MakeClientTls(tls);
    if (!context.ok()) return std::cerr << "fleet-sim: " << context.status() << "\n", 1;
    g->tls = *context;
    for (size_t c = 0; c < o.controllers.size(); ++c) {
      const std::string& address = o.controllers[(static_cast<size_t>(i) + c) % o.controllers.size()];
      g->clients.push_back(std::make_unique<controller::ControlClient>(io.get_executor(), g->tls, address));
    }
    fleet.gateways.push_back(std::move(g));
  }
  for (auto& g : fleet.gateways) asio::co_spawn(io, Run(*g, fleet), asio::detached);
  std::thread loop([&] { io.run(); });

  auto wait_for = [&](auto done, int seconds) {
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    while (!done() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return done();
  };
  const auto connect_start = Clock::now();
  if (!wait_for([&] { return fleet.ready.load() == o.gateways; }, o.deadline_s)) {
    std::cerr << "fleet-sim: only " << fleet.ready.load() << " of " << o.gateways << " gateways took a state\n";
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  // Let the reports of the warm-up settle.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  uint64_t before = 0;
  for (auto& g : fleet.gateways) before = std::max(before, g->version);

  controller::ClientTlsOptions admin;
  admin.ca_pem = *ca_pem;
  admin.cert_file = o.admin_cert;
  admin.key_file = o.admin_key;
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> admin_tls = controller::MakeClientTls(admin);
  if (!admin_tls.ok()) return std::cerr << "fleet-sim: " << admin_tls.status() << "\n", 1;
  fleet.target = before + 1;
  const double cpu_before = CpuSeconds();
  const auto applied_at = Clock::now();
  if (absl::Status s = Apply(o, *admin_tls); !s.ok()) return std::cerr << "fleet-sim: apply: " << s << "\n", 1;
  const double apply_ms = std::chrono::duration<double, std::milli>(Clock::now() - applied_at).count();
  if (o.kill_pid > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.kill_after_ms));
    ::kill(o.kill_pid, SIGKILL);
  }
  wait_for([&] { return fleet.acknowledged.load() == o.gateways; }, o.deadline_s);
  const double push_cpu = CpuSeconds() - cpu_before;
  // A last look for regressions, then stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  io.stop();
  loop.join();

  std::vector<double> ms;
  int missing = 0, regressed = 0, failovers = 0, slim_answers = 0;
  for (auto& g : fleet.gateways) {
    if (g->acknowledged == Clock::time_point{}) {
      ++missing;
    } else {
      ms.push_back(std::chrono::duration<double, std::milli>(g->acknowledged - applied_at).count());
    }
    regressed += g->regressed;
    failovers += g->failovers;
    slim_answers += g->slim_answers;
  }
  const nlohmann::json result = {
      {"gateways", o.gateways},
      {"controllers", o.controllers.size()},
      {"version", before + 1},
      {"connect_s", connect_s},
      {"apply_ms", apply_ms},
      {"p50_ms", Percentile(ms, 0.50)},
      {"p99_ms", Percentile(ms, 0.99)},
      {"max_ms", ms.empty() ? -1 : *std::max_element(ms.begin(), ms.end())},
      {"missing", missing},
      {"regressed", regressed},
      {"failovers", failovers},
      {"slim_answers", slim_answers},
      {"killed", o.kill_pid > 0},
      // The simulator's own CPU from the apply until every gateway got
      // there: on one machine it competes with the controllers for it.
      {"sim_cpu_s", push_cpu},
  };
  std::cout << "result " << result.dump() << std::endl;
  return missing == 0 && regressed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) { return braid::bench::Main(argc, argv); }
