#include "proxy/gateway.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxy/runtime/allocator.h"
#include "proxy/runtime/listen.h"
#include "proxy/runtime/logging.h"
#include "controller/api/control_tls.h"
#include "sft/compile.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {

absl::StatusOr<std::shared_ptr<const TlsContext>> LoadTls(const GatewayConfig& config, RevokedSerials revoked) {
  TlsContextOptions options;
  if (revoked && !revoked->empty()) {
    options.check_certificate = [revoked](const X509* cert) {
      if (revoked->contains(controller::CertificateSerial(cert))) {
        return absl::PermissionDeniedError("its certificate is revoked by the controller");
      }
      return absl::OkStatus();
    };
  }
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

absl::StatusOr<std::shared_ptr<const RuleTable>> CompileStatePolicy(const controller::GatewayState& state) {
  if (state.policy_version == 0) return nullptr;
  absl::StatusOr<Policy> policy =
      ParsePolicy(state.policy_text, absl::StrCat("controller policy version ", state.policy_version));
  if (!policy.ok()) return policy.status();
  return sft::Compile(*std::move(policy));
}

Gateway::Gateway(std::shared_ptr<const GatewayConfig> config) : config_(config), file_config_(std::move(config)) {}

Gateway::~Gateway() {
  if (workers_) {
    workers_->Stop();
    workers_->Join();
  }
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(std::shared_ptr<const GatewayConfig> config, std::string path,
                                                         bool log_level_override) {
  std::unique_ptr<Gateway> gw(new Gateway(config));
  gw->config_path_ = std::move(path);
  gw->log_level_override_ = log_level_override;

  if (config->controller) {
    if (absl::Status s = gw->LoadControllerState(); !s.ok()) return s;
  } else {
    absl::StatusOr<std::shared_ptr<const RuleTable>> table = sft::LoadAndCompile(config->policy.file);
    if (!table.ok()) return table.status();
    gw->metrics_.policy_version.Set(static_cast<int64_t>(gw->policy_.Update(*table)->version));
  }
  config = gw->config_;

  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = LoadTls(*config, gw->Revoked());
  if (!tls.ok()) return tls.status();

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const uint16_t lanes = MaxLaneCount(config->tunnel, cores);
  try {
    gw->workers_ = std::make_unique<WorkerPool>(cores);
  } catch (const boost::system::system_error& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot set up the event loops (io_uring; rebuild with -DBRAID_ASIO_IO_URING=OFF for epoll): ",
                     e.what()));
  }
  // The manager fills in the rest (limits, callbacks, the window budget).
  TunnelEnv env;
  env.config = config;
  env.policy = &gw->policy_;
  env.control = &gw->workers_->control();
  env.metrics = &gw->metrics_;
  gw->tunnels_ = std::make_unique<TunnelManager>(*gw->workers_, env, *std::move(tls), cores);

  // Bind every socket now, so that a port in use fails the start.
  const Endpoint& listen = config->tunnel.listen;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("tunnel.listen: ", listen.ToString(), ": ", ec.message()));
  gw->tunnel_acceptor_ = std::make_unique<tcp::acceptor>(gw->workers_->control());
  if (ec = Listen(*gw->tunnel_acceptor_, tcp::endpoint(address, listen.port)); ec) {
    return absl::UnavailableError(absl::StrCat("tunnel.listen: cannot listen on ", listen.ToString(), ": ", ec.message()));
  }
  absl::StatusOr<std::vector<std::unique_ptr<ServiceListener>>> services = gw->BindServices(*config);
  if (!services.ok()) return services.status();
  gw->services_ = *std::move(services);
  if (config->admin.listen) {
    const Endpoint& a = *config->admin.listen;
    const auto admin_address = asio::ip::make_address(a.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("admin.listen: ", a.ToString(), ": ", ec.message()));
    Gateway* self = gw.get();
    gw->admin_ = std::make_unique<AdminServer>(gw->workers_->control(), gw->metrics_, *gw->tunnels_,
                                               [self] { return self->NotReadyReason(); });
    if (ec = gw->admin_->Listen(tcp::endpoint(admin_address, a.port)); ec) {
      return absl::UnavailableError(absl::StrCat("admin.listen: cannot listen on ", a.ToString(), ": ", ec.message()));
    }
  }
  if (config->controller) {
    if (absl::Status s = gw->MakeControllerLink(); !s.ok()) return s;
  }
  const std::shared_ptr<const PolicySnapshot> policy = gw->policy_.Current();
  spdlog::info("gateway {}: {} workers, {} lanes per tunnel, policy {} version {} ({} rules)", config->name, cores,
               config->tunnel.lanes != 0 ? std::to_string(lanes)
                                         : absl::StrCat(LaneCount(config->tunnel, cores, {}), " (short link) or ", lanes,
                                                        " (long link)"),
               config->controller ? "from controller " + config->controller->AddressList() : config->policy.file,
               policy->version, policy->table ? policy->table->policy().rules.size() : 0);
  return gw;
}

absl::StatusOr<std::vector<std::unique_ptr<ServiceListener>>> Gateway::BindServices(const GatewayConfig& config) {
  std::vector<std::unique_ptr<ServiceListener>> bound;
  for (const ServiceConfig& service : config.services) {
    // A service already listening where the config wants it keeps its
    // socket (a reload): nothing to bind.
    bool running = false;
    for (const auto& s : services_) running |= s->service().name == service.name && s->service().listen == service.listen;
    if (running) continue;
    auto listener = std::make_unique<ServiceListener>(workers_->control(), service, config.name, policy_, *tunnels_);
    if (listener->bind_error()) {
      return absl::UnavailableError(absl::StrCat("service ", service.name, ": cannot listen on ",
                                                 service.listen.ToString(), ": ", listener->bind_error().message()));
    }
    bound.push_back(std::move(listener));
  }
  return bound;
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
  if (admin_) {
    const tcp::endpoint e = admin_->local_endpoint();
    spdlog::info("admin endpoint on {}:{}", e.address().to_string(), e.port());
    admin_->Start();
  }
  if (controller_link_) controller_link_->Start();
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
      if (!draining_) Reload();
      continue;
    }
    if (!draining_) {
      spdlog::info("signal {}: draining for up to {}ms (again to stop now)", signal,
                   config_->limits.drain_timeout.count());
      StartDrain();
      continue;
    }
    spdlog::info("signal {}: stopping now", signal);
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

std::string Gateway::NotReadyReason() const { return draining_ ? "draining" : ""; }

void Gateway::Reload() {
  if (config_path_.empty()) return;
  absl::StatusOr<GatewayConfig> next = LoadGatewayConfig(config_path_);
  absl::Status status = next.ok() ? ApplyConfig(std::make_shared<const GatewayConfig>(*std::move(next))) : next.status();
  if (!status.ok()) {
    metrics_.reloads.With({"refused"}).Add();
    spdlog::error("reload of {} refused, the running configuration stays (policy version {}): {}", config_path_,
                  policy_.Current()->version, std::string(status.message()));
  } else {
    metrics_.reloads.With({"applied"}).Add();
  }
}

absl::Status Gateway::ApplyConfig(std::shared_ptr<const GatewayConfig> next) {
  // Keys whose change would mean rebinding what peers and operators
  // already use, or renaming the gateway: those need a restart.
  std::vector<std::string> fixed;
  if (next->name != config_->name) fixed.push_back("name");
  if (!(next->tunnel.listen == config_->tunnel.listen)) fixed.push_back("tunnel.listen");
  if (next->tunnel.lanes != config_->tunnel.lanes) fixed.push_back("tunnel.lanes");
  if (next->admin.listen != config_->admin.listen) fixed.push_back("admin.listen");
  if (next->log.json != config_->log.json) fixed.push_back("log.json");
  if (next->controller != config_->controller) fixed.push_back("controller");
  if (next->state_dir != config_->state_dir) fixed.push_back("state_dir");
  if (!fixed.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(absl::StrJoin(fixed, ", "), " changed: restart to apply"));
  }
  // Everything that can fail, before anything changes. A managed gateway's
  // policy is the controller's: the file brings none.
  std::shared_ptr<const RuleTable> table;
  if (!next->controller) {
    absl::StatusOr<std::shared_ptr<const RuleTable>> loaded = sft::LoadAndCompile(next->policy.file);
    if (!loaded.ok()) return loaded.status();
    table = *std::move(loaded);
  }
  const std::shared_ptr<const GatewayConfig> next_file = next;
  next = Effective(*next_file);
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = LoadTls(*next, Revoked());
  if (!tls.ok()) return tls.status();
  absl::StatusOr<std::vector<std::unique_ptr<ServiceListener>>> added = BindServices(*next);
  if (!added.ok()) return added.status();

  // Commit. Services: the removed (or moved) stop accepting, their live
  // flows go on; the kept ones take their new target and peer.
  std::vector<std::unique_ptr<ServiceListener>> services;
  for (auto& running : services_) {
    const ServiceConfig* wanted = nullptr;
    for (const ServiceConfig& s : next->services) {
      if (s.name == running->service().name && s.listen == running->service().listen) wanted = &s;
    }
    if (wanted == nullptr) {
      spdlog::info("reload: service {} removed", running->service().name);
      running->Stop();
      continue;
    }
    if (!(*wanted == running->service())) {
      spdlog::info("reload: service {} now -> {} via {}", wanted->name, wanted->target.ToString(), wanted->peer);
    }
    running->Update(*wanted);
    services.push_back(std::move(running));
  }
  for (auto& listener : *added) {
    const tcp::endpoint e = listener->local_endpoint();
    spdlog::info("reload: service {} added on {}:{} -> {} via {}", listener->service().name, e.address().to_string(),
                 e.port(), listener->service().target.ToString(), listener->service().peer);
    listener->Start();
    services.push_back(std::move(listener));
  }
  services_ = std::move(services);

  tunnels_->UpdateConfig(next, *std::move(tls));
  auto snapshot = table ? policy_.Update(table) : policy_.Current();
  metrics_.policy_version.Set(static_cast<int64_t>(snapshot->version));
  if (!log_level_override_) SetLogLevel(spdlog::level::from_str(next->log.level));
  config_ = next;
  file_config_ = next_file;
  spdlog::info("reload of {} applied: {} services, {} peers, policy {} version {} ({} rules)", config_path_,
               next->services.size(), next->peers.size(), next->controller ? "from the controller" : next->policy.file,
               snapshot->version, snapshot->table ? snapshot->table->policy().rules.size() : 0);
  tunnels_->RecheckPolicy();
  return absl::OkStatus();
}

void Gateway::StartDrain() {
  draining_ = true;
  // Nothing new: no host connections, no new tunnels from peers; the
  // tunnels up send GOAWAY, so peers open no more flows on them. The admin
  // endpoint stays, to watch the drain (/readyz says "draining").
  boost::system::error_code ignored;
  tunnel_acceptor_->close(ignored);
  for (auto& service : services_) service->Stop();
  tunnels_->DrainAll();
  asio::co_spawn(workers_->control(), DrainLoop(), asio::detached);
}

asio::awaitable<void> Gateway::DrainLoop() {
  const auto deadline = std::chrono::steady_clock::now() + config_->limits.drain_timeout;
  asio::steady_timer timer(workers_->control());
  while (!stopping_ && tunnels_->limits().live() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(kAsTuple);
  }
  if (stopping_) co_return;
  if (const uint32_t left = tunnels_->limits().live(); left > 0) {
    spdlog::warn("drain deadline of {}ms passed: aborting {} live flows", config_->limits.drain_timeout.count(), left);
  } else {
    spdlog::info("drained: no live flows left");
  }
  Stop();
}

void Gateway::Stop() {
  if (stopping_) return;
  stopping_ = true;
  if (controller_link_) controller_link_->Stop();
  boost::system::error_code ignored;
  tunnel_acceptor_->close(ignored);
  for (auto& service : services_) service->Stop();
  if (admin_) admin_->Stop();
  tunnels_->CloseAll("gateway stopping");
  // Let the lanes flush their GOAWAYs before the loops stop.
  auto timer = std::make_shared<asio::steady_timer>(workers_->control(), std::chrono::milliseconds(200));
  timer->async_wait([this, timer](boost::system::error_code) { workers_->Stop(); });
}

}  // namespace braid::proxy
