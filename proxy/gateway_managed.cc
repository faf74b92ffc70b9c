// The Gateway's methods for a managed gateway: the state from the
// controller (policy, peers, revoked certificates), kept in the state
// directory, applied all or nothing, and the reports sent back.
#include "absl/strings/str_cat.h"
#include "controller/api/control_tls.h"
#include "proxy/gateway.h"
#include "pki/pem_files.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

std::set<std::string> RevokedNames(const std::optional<controller::GatewayState>& state, const std::string& name) {
  std::set<std::string> serials;
  if (!state) return serials;
  for (const controller::RevokedGateway& r : state->revoked) {
    if (r.name == name) serials.insert(r.serials.begin(), r.serials.end());
  }
  return serials;
}

}  // namespace

absl::Status Gateway::LoadControllerState() {
  absl::StatusOr<std::unique_ptr<controller::FileStore>> store = controller::FileStore::Open(config_->state_dir);
  if (!store.ok()) return absl::Status(store.status().code(), absl::StrCat("state_dir: ", store.status().message()));
  state_store_ = *std::move(store);
  absl::StatusOr<controller::GatewayState> cached = ControllerLink::LoadCached(*state_store_);
  if (!cached.ok()) {
    if (absl::IsNotFound(cached.status())) {
      spdlog::warn("no policy kept in {} yet: denying every flow until the controller answers", config_->state_dir);
    } else {
      spdlog::error("{}: denying every flow until the controller answers", std::string(cached.status().message()));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = CompileStatePolicy(*cached);
  if (!table.ok()) {
    spdlog::error("kept policy version {} refused: {}; denying every flow until the controller answers",
                  cached->policy_version, std::string(table.status().message()));
    return absl::OkStatus();
  }
  if (*table) metrics_.policy_version.Set(static_cast<int64_t>(policy_.Update(*table, cached->policy_version)->version));
  controller_state_ = *std::move(cached);
  config_ = Effective(*file_config_);
  spdlog::info("starting from the controller state kept in {}: policy version {}, {} peers, {} revoked gateways",
               config_->state_dir, controller_state_->policy_version, controller_state_->peers.size(),
               controller_state_->revoked.size());
  return absl::OkStatus();
}

absl::Status Gateway::MakeControllerLink() {
  const ControllerLinkConfig& link = *config_->controller;
  absl::StatusOr<std::string> ca_pem = pki::ReadFile(config_->identity.ca);
  if (!ca_pem.ok()) return ca_pem.status();
  controller::ClientTlsOptions options;
  options.ca_pem = *std::move(ca_pem);
  options.server_name = link.name;
  options.cert_file = config_->identity.cert;
  options.key_file = config_->identity.key;
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> tls = controller::MakeClientTls(options);
  if (!tls.ok()) return absl::Status(tls.status().code(), absl::StrCat("controller: ", tls.status().message()));
  ControllerLink::Hooks hooks;
  hooks.apply = [this](const controller::GatewayState& state) { return ApplyControllerState(state); };
  hooks.report = [this] { return Report(); };
  std::vector<std::string> addresses;
  for (const Endpoint& address : link.addresses) addresses.push_back(address.ToString());
  controller_link_ = std::make_unique<ControllerLink>(workers_->control(), *std::move(tls), addresses,
                                                      *state_store_, std::move(hooks),
                                                      controller_state_);
  return absl::OkStatus();
}

std::shared_ptr<const GatewayConfig> Gateway::Effective(const GatewayConfig& file) const {
  auto next = std::make_shared<GatewayConfig>(file);
  if (!controller_state_) return next;
  for (const controller::FleetPeer& peer : controller_state_->peers) {
    if (next->FindPeer(peer.name) != nullptr) continue;  // the file's entry wins
    std::optional<Endpoint> address = ParseEndpoint(peer.address, /*allow_name=*/true);
    if (!address || address->port == 0) {
      spdlog::warn("controller: peer {} has no usable address \"{}\"", peer.name, peer.address);
      continue;
    }
    next->peers.push_back({peer.name, *address});
  }
  return next;
}

RevokedSerials Gateway::Revoked() const {
  auto serials = std::make_shared<std::set<std::string>>();
  if (controller_state_) {
    for (const controller::RevokedGateway& r : controller_state_->revoked) {
      serials->insert(r.serials.begin(), r.serials.end());
    }
  }
  return serials;
}

absl::Status Gateway::ApplyControllerState(const controller::GatewayState& state) {
  if (draining_) return absl::UnavailableError("draining");
  const std::shared_ptr<const PolicySnapshot> running = policy_.Current();
  // A controller that has lost its policies must not switch a gateway
  // from a policy to none: keep enforcing the last one.
  if (state.policy_version == 0 && running->version != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the controller has no policy; keeping version ", running->version));
  }
  // Everything that can fail, before anything changes.
  absl::StatusOr<std::shared_ptr<const RuleTable>> table = CompileStatePolicy(state);
  if (!table.ok()) return table.status();
  const std::optional<controller::GatewayState> previous = controller_state_;
  controller_state_ = state;
  std::shared_ptr<const GatewayConfig> next = Effective(*file_config_);
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = LoadTls(*next, Revoked());
  if (!tls.ok()) {
    controller_state_ = previous;
    return tls.status();
  }

  // Commit.
  tunnels_->UpdateConfig(next, *std::move(tls));
  config_ = next;
  for (const controller::RevokedGateway& r : state.revoked) {
    const std::set<std::string> before = RevokedNames(previous, r.name);
    for (const std::string& serial : r.serials) {
      if (!before.contains(serial)) {
        tunnels_->CloseTunnelsTo(r.name, absl::StrCat("gateway ", r.name, " revoked by the controller"));
        break;
      }
    }
  }
  if (state.policy_version != running->version) {
    const auto snapshot = policy_.Update(*table, state.policy_version);
    metrics_.policy_version.Set(static_cast<int64_t>(snapshot->version));
    metrics_.reloads.With({"applied"}).Add();
    spdlog::info("controller: policy version {} applied: {} rules; {} peers", snapshot->version,
                 snapshot->table ? snapshot->table->policy().rules.size() : 0, next->peers.size());
    tunnels_->RecheckPolicy();
  } else {
    spdlog::info("controller: state applied: {} peers, {} revoked gateways", next->peers.size(), state.revoked.size());
  }
  return absl::OkStatus();
}

controller::GatewayReport Gateway::Report() const {
  controller::GatewayReport r;
  boost::system::error_code ec;
  r.tunnel_port = tunnel_acceptor_->local_endpoint(ec).port();
  if (config_->tunnel.advertise) r.advertise = config_->tunnel.advertise->ToString();
  r.policy_version = policy_.Current()->version;
  r.tunnels = static_cast<uint32_t>(tunnels_->tunnel_count());
  r.flows = tunnels_->limits().live();
  metrics_.peer_bytes.ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
    (labels[1] == "sent" ? r.bytes_sent : r.bytes_received) += c.value();
  });
  // The default action is counted under rule "" here, "default" there.
  metrics_.sft_decisions.ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
    r.rule_hits[labels[2].empty() ? "default" : labels[2]] += c.value();
  });
  return r;
}

}  // namespace braid::proxy
