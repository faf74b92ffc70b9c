#include "proxy/control/controller_link.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace braid::proxy {
namespace {

constexpr std::string_view kCacheKey = "controller/state";

}  // namespace

ControllerLink::ControllerLink(asio::io_context& control, std::shared_ptr<asio::ssl::context> tls,
                               const std::vector<std::string>& addresses, controller::Store& cache, Hooks hooks,
                               const std::optional<controller::GatewayState>& known)
    : control_(control),
      cache_(cache),
      hooks_(std::move(hooks)),
      known_etag_(known ? known->etag : ""),
      peers_source_(known.value_or(controller::GatewayState{})),
      timer_(control) {
  for (const std::string& address : addresses) {
    clients_.push_back(std::make_unique<controller::ControlClient>(control.get_executor(), tls, address));
  }
}

void ControllerLink::Start() { asio::co_spawn(control_, Run(), asio::detached); }

void ControllerLink::Stop() {
  stopped_ = true;
  timer_.cancel();
  for (auto& client : clients_) client->Close();
}

absl::StatusOr<controller::GatewayState> ControllerLink::LoadCached(controller::Store& cache) {
  absl::StatusOr<std::string> text = cache.Get(kCacheKey);
  if (!text.ok()) return text.status();
  absl::StatusOr<controller::GatewayState> state = controller::ParseGatewayState(*text);
  if (!state.ok()) return absl::DataLossError(absl::StrCat("cached controller state: ", state.status().message()));
  return state;
}

void ControllerLink::Save(const controller::GatewayState& state) {
  if (absl::Status s = cache_.Put(kCacheKey, controller::GatewayStateToJson(state).dump()); !s.ok()) {
    // Applied all the same: only a restart before the next save would fall
    // back to the older cached state.
    spdlog::error("controller: cannot keep the state in the state directory: {}", std::string(s.message()));
  }
}

asio::awaitable<void> ControllerLink::Backoff() {
  uint32_t jitter = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&jitter), sizeof(jitter));
  // Between half and all of the current backoff.
  const auto wait = backoff_ / 2 + std::chrono::milliseconds(jitter % (backoff_.count() / 2 + 1));
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  timer_.expires_after(wait);
  co_await timer_.async_wait(kAsTuple);
}

asio::awaitable<void> ControllerLink::Run() {
  namespace http = controller::http;
  while (!stopped_) {
    controller::ControlClient& client = *clients_[current_];
    controller::GatewayReport report = hooks_.report();
    report.policy_error = policy_error_;
    absl::StatusOr<controller::ControlResponse> sent = co_await client.Request(
        http::verb::post, std::string(controller::kGatewayReportPath),
        controller::GatewayReportToJson(report).dump(), kRequestTimeout);
    absl::Status status = sent.ok() ? controller::ErrorFromResponse(*sent) : sent.status();
    absl::StatusOr<controller::ControlResponse> polled = absl::UnknownError("");
    if (status.ok()) {
      // Naming the peer list it has spares the gateway (and the controller)
      // the whole fleet in every answer.
      std::string target = absl::StrCat(std::string(controller::kGatewayStatePath), "?known=", known_etag_);
      if (!peers_source_.peers_etag.empty()) absl::StrAppend(&target, "&peers=", peers_source_.peers_etag);
      polled = co_await client.Request(http::verb::get, std::move(target), "", kPollTimeout);
      status = polled.ok() ? controller::ErrorFromResponse(*polled) : polled.status();
    }
    if (stopped_) co_return;
    if (!status.ok()) {
      const std::string error(status.message());
      if (++failed_in_row_ < clients_.size()) {
        // Another controller may answer: try it now.
        current_ = (current_ + 1) % clients_.size();
        spdlog::warn("controller: {}; trying the controller at {}", error, clients_[current_]->address());
        continue;
      }
      if (reachable_ || error != last_error_) {
        spdlog::warn("controller: {}; the last applied policy stays enforced, retrying with backoff", error);
      }
      reachable_ = false;
      last_error_ = error;
      failed_in_row_ = 0;
      current_ = (current_ + 1) % clients_.size();
      co_await Backoff();
      continue;
    }
    if (!reachable_ || failed_in_row_ > 0) spdlog::info("controller: reachable at {}", client.address());
    failed_in_row_ = 0;
    reachable_ = true;
    last_error_.clear();
    backoff_ = kMinBackoff;
    absl::StatusOr<controller::GatewayState> state = controller::ParseGatewayState(polled->body);
    if (!state.ok()) {
      spdlog::error("controller: refused a state that does not parse: {}", std::string(state.status().message()));
      policy_error_ = std::string(state.status().message());
      co_await Backoff();
      continue;
    }
    if (!controller::KeepPeers(*state, peers_source_)) {
      spdlog::warn("controller: an answer left out a peer list this gateway does not have; asking for it whole");
      peers_source_ = controller::GatewayState{};
      continue;
    }
    if (state->etag == known_etag_) continue;
    known_etag_ = state->etag;
    peers_source_.peers = state->peers;
    peers_source_.peers_etag = state->peers_etag;
    if (absl::Status applied = hooks_.apply(*state); !applied.ok()) {
      policy_error_ = absl::StrCat("policy version ", state->policy_version, " refused: ", applied.message());
      spdlog::error("controller: {}; the running policy stays", policy_error_);
      continue;
    }
    policy_error_.clear();
    Save(*state);
  }
}

}  // namespace braid::proxy
