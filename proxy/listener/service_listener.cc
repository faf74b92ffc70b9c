#include "proxy/listener/service_listener.h"

#include "proxy/flow/access_log.h"
#include "proxy/runtime/listen.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {

ServiceListener::ServiceListener(asio::io_context& control, ServiceConfig service, std::string gateway_name,
                                 PolicyStore& policy, TunnelManager& tunnels)
    : control_(control),
      service_(std::move(service)),
      gateway_name_(std::move(gateway_name)),
      policy_(policy),
      tunnels_(tunnels),
      acceptor_(control) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(service_.listen.host, ec);
  if (ec) {
    bind_error_ = ec;
    return;
  }
  bind_error_ = Listen(acceptor_, tcp::endpoint(address, service_.listen.port));
}

tcp::endpoint ServiceListener::local_endpoint() const {
  boost::system::error_code ignored;
  return acceptor_.local_endpoint(ignored);
}

void ServiceListener::Start() { asio::co_spawn(control_, AcceptLoop(), asio::detached); }

void ServiceListener::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> ServiceListener::AcceptLoop() {
  while (acceptor_.is_open()) {
    tcp::endpoint remote;
    auto [ec, host] = co_await acceptor_.async_accept(remote, kAsTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("service {}: accept: {}", service_.name, ec.message());
      asio::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    Admit(std::move(host), remote);
  }
}

void ServiceListener::Admit(tcp::socket host, const tcp::endpoint& remote) {
  boost::system::error_code ec;
  const std::string src = remote.address().to_string() + ":" + std::to_string(remote.port());
  GatewayMetrics& metrics = tunnels_.metrics();
  if (host.remote_endpoint(ec); ec) {
    // The host reset the connection before we got to it (a connect storm
    // does that by the thousand): no flow, but still an ended connection,
    // logged and counted like any other, or it would vanish from both.
    host.close(ec);
    WriteAccessLog(AccessRecord{.side = "ingress",
                                .source = src,
                                .target = service_.target.ToString(),
                                .peer = service_.peer,
                                .reason = CloseReason::kHostReset,
                                .rule = "",
                                .detail = "reset before it was admitted"});
    metrics.flows_ended.With({"ingress", std::string(CloseReasonName(CloseReason::kHostReset)), ""}).Add();
    return;
  }
  FlowKey key;
  key.src = *IpAddress::Parse(remote.address().to_string());
  key.src_port = remote.port();
  key.proto = Protocol::kTcp;
  key.dst_port = service_.target.port;
  key.src_gateway = gateway_name_;
  key.dst_gateway = service_.peer;
  std::shared_ptr<const PolicySnapshot> policy = policy_.Current();
  std::string rule;
  Decision decision;
  if (auto literal = IpAddress::Parse(service_.target.host)) {
    key.dst = *literal;
    decision = policy->Decide(key);
    rule = policy->table ? policy->table->RuleId(decision) : "";
  } else {
    // A named target is resolved on the far gateway, which checks the
    // resolved address. Here the address is unknown: the first rule that
    // matches on every other field decides.
    decision = policy->DecideAnyDst(key);
    rule = policy->table ? policy->table->RuleId(decision) : "";
  }
  const bool permit = decision.action == Action::kPermit;
  metrics.sft_decisions.With({"ingress", permit ? "permit" : "deny", rule}).Add();
  std::string why;
  // A managed gateway learns its peers' addresses from the controller; until
  // it has, a flow to such a peer has nowhere to go.
  const bool routable = tunnels_.KnowsPeer(service_.peer);
  if (permit && !routable) {
    why = "no address known for peer " + service_.peer + " (not configured, and not told by the controller yet)";
  }
  if (permit && routable && tunnels_.limits().TryAdmit(key.src, &why)) {
    tunnels_.CarryFlow(std::move(host), std::move(key), service_, std::move(rule));
    return;
  }
  // Refused here: the host sees a reset at once, and the refusal is a
  // finished flow like any other (logged and counted), with no tunnel.
  const CloseReason reason = !permit ? CloseReason::kDeniedIngress
                             : routable ? CloseReason::kLimit
                                        : CloseReason::kTunnelLost;
  if (!permit) {
    spdlog::warn("service {}: connection from {} to {} denied by rule {}", service_.name, src,
                 service_.target.ToString(), rule.empty() ? "(default)" : rule);
    why = "denied by this gateway's policy";
  } else {
    spdlog::warn("service {}: connection from {} refused: {}", service_.name, src, why);
  }
  host.set_option(asio::socket_base::linger(true, 0), ec);
  host.close(ec);
  const std::string target = service_.target.ToString();
  WriteAccessLog(AccessRecord{.side = "ingress",
                              .source = src,
                              .target = target,
                              .peer = service_.peer,
                              .reason = reason,
                              .rule = permit ? "" : rule,
                              .detail = why});
  metrics.flows_ended.With({"ingress", std::string(CloseReasonName(reason)), permit ? "" : rule}).Add();
}

}  // namespace braid::proxy
