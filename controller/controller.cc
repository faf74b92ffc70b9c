#include "controller/controller.h"

#include <csignal>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pki/pem_files.h"
#include "spdlog/spdlog.h"

namespace braid::controller {

Controller::~Controller() = default;

absl::StatusOr<std::unique_ptr<Controller>> Controller::Create(const ControllerConfig& config) {
  std::unique_ptr<Controller> c(new Controller());
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::LoadFiles(config.ca_cert, config.ca_key);
  if (!ca.ok()) return ca.status();
  c->ca_.emplace(*std::move(ca));
  absl::StatusOr<std::string> ca_pem = pki::ReadFile(config.ca_cert);
  if (!ca_pem.ok()) return ca_pem.status();

  absl::StatusOr<std::string> where = c->OpenStore(config);
  if (!where.ok()) return where.status();
  absl::StatusOr<std::unique_ptr<PolicyRegistry>> policies = PolicyRegistry::Load(*c->store_);
  if (!policies.ok()) return policies.status();
  c->policies_ = *std::move(policies);
  absl::StatusOr<std::unique_ptr<GatewayRegistry>> gateways = GatewayRegistry::Load(*c->store_);
  if (!gateways.ok()) return gateways.status();
  c->gateways_ = *std::move(gateways);
  c->enrollment_ = std::make_unique<Enrollment>(
      *c->store_, *c->gateways_, *c->ca_, std::chrono::duration_cast<std::chrono::seconds>(config.token_ttl),
      static_cast<int>(std::chrono::duration_cast<std::chrono::hours>(config.certificate_validity).count() / 24));

  absl::StatusOr<std::shared_ptr<asio::ssl::context>> tls =
      MakeServerTls(config.identity_cert, config.identity_key, config.ca_cert);
  if (!tls.ok()) return tls.status();
  ApiServerOptions options;
  for (const std::string& admin : config.admins) options.admins.insert(absl::AsciiStrToLower(admin));
  options.gateway_poll = std::chrono::duration_cast<std::chrono::milliseconds>(config.gateway_poll);
  options.ca_pem = *std::move(ca_pem);
  c->server_ = std::make_unique<ApiServer>(c->io_, *std::move(tls), std::move(options), *c->policies_,
                                           *c->gateways_, *c->enrollment_);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config.listen.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("listen: ", config.listen.ToString(), ": ", ec.message()));
  if (ec = c->server_->Listen(tcp::endpoint(address, config.listen.port)); ec) {
    return absl::UnavailableError(absl::StrCat("listen: cannot listen on ", config.listen.ToString(), ": ", ec.message()));
  }
  const PolicyVersion* current = c->policies_->Current();
  spdlog::info("controller: state in {}: policy version {}, {} gateways", *where,
               current ? current->version : 0, c->gateways_->gateways().size());
  return c;
}

absl::StatusOr<std::string> Controller::OpenStore(const ControllerConfig& config) {
  if (!config.etcd) {
    absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(config.state_dir);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return config.state_dir;
  }
  EtcdOptions options;
  for (const proxy::Endpoint& e : config.etcd->endpoints) options.endpoints.push_back(EtcdEndpoint{e.host, e.port});
  options.prefix = config.etcd->prefix;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.etcd->timeout);
  absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(std::move(options));
  if (!store.ok()) return store.status();
  std::string where = (*store)->Describe();
  etcd_ = store->get();
  store_ = *std::move(store);
  return where;
}

asio::awaitable<void> Controller::Follow() {
  asio::steady_timer timer(io_);
  uint64_t seen = 0;
  bool unreachable = false;
  for (;;) {
    timer.expires_after(kFollowInterval);
    if (auto [ec] = co_await timer.async_wait(proxy::kAsTuple); ec) co_return;
    // Blocks the loop for one small request: the loop's handlers are short
    // and the store's calls already block it.
    absl::StatusOr<uint64_t> revision = etcd_->Revision();
    if (!revision.ok()) {
      if (!unreachable) spdlog::warn("controller: cannot follow the state: {}", revision.status().ToString());
      unreachable = true;
      continue;
    }
    if (unreachable) spdlog::info("controller: following the state again");
    unreachable = false;
    if (*revision == seen) continue;
    seen = *revision;
    absl::StatusOr<bool> policies = policies_->Refresh();
    absl::StatusOr<bool> gateways = gateways_->Refresh();
    if (!policies.ok() || !gateways.ok()) {
      spdlog::error("controller: cannot read the state again: {}",
                    (!policies.ok() ? policies.status() : gateways.status()).ToString());
      continue;
    }
    if (*policies || *gateways) {
      const PolicyVersion* current = policies_->Current();
      spdlog::info("controller: the shared state changed: policy version {}, {} gateways",
                   current ? current->version : 0, gateways_->gateways().size());
      server_->Changed();
    }
  }
}

int Controller::Run() {
  const tcp::endpoint e = server_->local_endpoint();
  spdlog::info("controller API on {}:{}", e.address().to_string(), e.port());
  server_->Start();
  if (etcd_ != nullptr) asio::co_spawn(io_, Follow(), asio::detached);
  asio::signal_set signals(io_, SIGTERM, SIGINT);
  signals.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal);
    server_->Stop();
    // Let held polls answer before the loop stops.
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](boost::system::error_code) { io_.stop(); });
  });
  io_.run();
  spdlog::info("controller stopped");
  return 0;
}

}  // namespace braid::controller
