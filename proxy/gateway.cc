#include "proxy/gateway.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "proxy/runtime/allocator.h"
#include "proxy/runtime/listen.h"
#include "sft/compile.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {

absl::StatusOr<std::shared_ptr<const TlsContext>> LoadTls(const GatewayConfig& config) {
  TlsContextOptions options;
  options.cert_file = config.identity.cert;
  options.key_file = config.identity.key;
  options.ca_file = config.identity.ca;
  if (!config.peers.empty()) {
    // With peers configured, only they may open lanes to us: refused in the
    // handshake itself, with the reason on both sides.
    std::vector<std::string> names;
    for (const PeerConfig& peer : config.peers) names.push_back(peer.name);
    options.accept_peer = [names = std::move(names)](std::string_view name) {
      for (const std::string& n : names) {
        if (n == name) return absl::OkStatus();
      }
      return absl::PermissionDeniedError("gateway " + std::string(name) + " is not a configured peer");
    };
  }
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = TlsContext::Create(std::move(options));
  if (!tls.ok()) return tls.status();
  if ((*tls)->local_name() != config.name) {
    return absl::InvalidArgumentError(absl::StrCat("identity.cert names gateway \"", (*tls)->local_name(),
                                                   "\", but this gateway is \"", config.name, "\""));
  }
  return tls;
}

Gateway::Gateway(std::shared_ptr<const GatewayConfig> config) : config_(std::move(config)) {}

Gateway::~Gateway() {
  if (workers_) {
    workers_->Stop();
    workers_->Join();
  }
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(std::shared_ptr<const GatewayConfig> config) {
  std::unique_ptr<Gateway> gw(new Gateway(config));

  absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::LoadAndCompile(config->policy.file);
  if (!table.ok()) return table.status();
  gw->policy_.Update(*table);

  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = LoadTls(*config);
  if (!tls.ok()) return tls.status();
  gw->tls_ = *std::move(tls);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const uint16_t lanes = static_cast<uint16_t>(config->tunnel.lanes == 0 ? cores : config->tunnel.lanes);
  try {
    gw->workers_ = std::make_unique<WorkerPool>(cores);
  } catch (const boost::system::system_error& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot set up the event loops (io_uring; rebuild with -DBRAID_ASIO_IO_URING=OFF for epoll): ",
                     e.what()));
  }
  TunnelEnv env{config, &gw->policy_, &gw->workers_->control(), nullptr, nullptr};
  gw->tunnels_ = std::make_unique<TunnelManager>(*gw->workers_, env, gw->tls_, lanes);

  // Bind every socket now, so that a port in use fails the start.
  const Endpoint& listen = config->tunnel.listen;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("tunnel.listen: ", listen.ToString(), ": ", ec.message()));
  gw->tunnel_acceptor_ = std::make_unique<tcp::acceptor>(gw->workers_->control());
  tcp::acceptor& acceptor = *gw->tunnel_acceptor_;
  if (ec = Listen(acceptor, tcp::endpoint(address, listen.port)); ec) {
    return absl::UnavailableError(absl::StrCat("tunnel.listen: cannot listen on ", listen.ToString(), ": ", ec.message()));
  }
  for (const ServiceConfig& service : config->services) {
    auto listener = std::make_unique<ServiceListener>(gw->workers_->control(), service, config->name, gw->policy_,
                                                      *gw->tunnels_);
    if (listener->bind_error()) {
      return absl::UnavailableError(absl::StrCat("service ", service.name, ": cannot listen on ",
                                                 service.listen.ToString(), ": ", listener->bind_error().message()));
    }
    gw->services_.push_back(std::move(listener));
  }
  spdlog::info("gateway {}: {} workers, {} lanes per tunnel, policy {} ({} rules)", config->name, cores, lanes,
               config->policy.file, (*table)->policy().rules.size());
  return gw;
}

int Gateway::Run() {
  asio::io_context& control = workers_->control();
  const tcp::endpoint tunnel_endpoint = tunnel_acceptor_->local_endpoint();
  spdlog::info("tunnel listener on {}:{}", tunnel_endpoint.address().to_string(), tunnel_endpoint.port());
  asio::co_spawn(control, tunnels_->AcceptLoop(*tunnel_acceptor_), asio::detached);
  for (auto& service : services_) {
    const tcp::endpoint e = service->local_endpoint();
    spdlog::info("service {} on {}:{} -> {} via {}", service->service().name, e.address().to_string(), e.port(),
                 service->service().target.ToString(), service->service().peer);
    service->Start();
  }
  signals_ = std::make_unique<asio::signal_set>(control, SIGHUP, SIGTERM, SIGINT);
  asio::co_spawn(control, HandleSignals(), asio::detached);
  asio::co_spawn(control, ReleaseMemoryLoop(), asio::detached);
  workers_->Start();
  workers_->Join();
  spdlog::info("gateway {} stopped", config_->name);
  return 0;
}

asio::awaitable<void> Gateway::HandleSignals() {
  for (;;) {
    auto [ec, signal] = co_await signals_->async_wait(kAsTuple);
    if (ec) co_return;
    if (signal == SIGHUP) {
      ReloadPolicy();
      continue;
    }
    spdlog::info("signal {}: stopping", signal);
    Stop();
    co_return;
  }
}

asio::awaitable<void> Gateway::ReleaseMemoryLoop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(kReleaseFreeMemoryIntervalSeconds));
    if (auto [ec] = co_await timer.async_wait(kAsTuple); ec) co_return;
    ReleaseFreeMemory();
  }
}

void Gateway::ReloadPolicy() {
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::LoadAndCompile(config_->policy.file);
  if (!table.ok()) {
    spdlog::error("policy reload refused, keeping version {}: {}", policy_.Current()->version, std::string(table.status().message()));
    return;
  }
  auto snapshot = policy_.Update(*table);
  spdlog::info("policy reloaded from {}: version {}, {} rules", config_->policy.file, snapshot->version,
               (*table)->policy().rules.size());
  tunnels_->RecheckPolicy();
}

void Gateway::Stop() {
  boost::system::error_code ignored;
  tunnel_acceptor_->close(ignored);
  for (auto& service : services_) service->Stop();
  tunnels_->CloseAll("gateway stopping");
  // Let the lanes flush their GOAWAYs before the loops stop.
  auto timer = std::make_shared<asio::steady_timer>(workers_->control(), std::chrono::milliseconds(200));
  timer->async_wait([this, timer](boost::system::error_code) { workers_->Stop(); });
}

}  // namespace braid::proxy
