// ControllerConfig: the validated configuration of the braid controller.
//
// Loaded from a JSON file with the gateway's conventions (the same strict
// reader, proxy::ConfigReader): unknown and duplicate keys are errors, every
// error is reported at once, one per line as `SOURCE: KEY.PATH: what is
// wrong`, and relative paths are resolved against the directory of the
// config file.
//
//   {
//     "listen": "0.0.0.0:7443",                        // IP:port; port 0 in tests
//     "identity": {"cert": "pki/controller.crt", "key": "pki/controller.key"},
//     "ca": {"cert": "pki/ca.crt", "key": "pki/ca.key"},
//     "state_dir": "/var/lib/braid-controller",        // or, to share the state:
//     "etcd": {"endpoints": ["127.0.0.1:2379"], "prefix": "braid/", "timeout": "5s"},
//     "admins": ["admin"],                              // certificate names allowed to administer
//     "enrollment": {"token_ttl": "1h", "certificate_validity": "365d"},  // optional
//     "gateway_poll": "20s",                            // optional
//     "log": {"level": "info", "json": false}           // optional
//   }
//
// Durations are an integer and one unit: ms, s, m, h, or d (days), which
// the controller accepts beyond the gateway's units because certificate
// lifetimes are counted in days.
//
// Exactly one of state_dir (FileStore, one controller) and etcd (EtcdStore,
// controllers sharing a cluster) says where the state lives.
//
// Referenced files are not opened here: loading the CA and the identity
// names the file in its own errors, and state_dir is created by the store.
//
// A ControllerConfig is plain data, immutable once loaded; share it between
// threads as std::shared_ptr<const ControllerConfig>.
#ifndef BRAID_CONTROLLER_CONFIG_CONTROLLER_CONFIG_H_
#define BRAID_CONTROLLER_CONFIG_CONTROLLER_CONFIG_H_

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/config/gateway_config.h"

namespace braid::controller {

// Bounds of the duration keys, inclusive.
inline constexpr proxy::Duration kMinTokenTtl = std::chrono::minutes(1);
inline constexpr proxy::Duration kMaxTokenTtl = std::chrono::days(30);
inline constexpr std::chrono::days kMinCertificateValidity{1};
inline constexpr std::chrono::days kMaxCertificateValidity{3650};
inline constexpr proxy::Duration kMinGatewayPoll = std::chrono::seconds(1);
inline constexpr proxy::Duration kMaxGatewayPoll = std::chrono::seconds(120);
inline constexpr proxy::Duration kMinEtcdTimeout = std::chrono::milliseconds(100);
inline constexpr proxy::Duration kMaxEtcdTimeout = std::chrono::seconds(60);

struct ControllerConfig {
  std::string source;      // the file it was loaded from (absolute after LoadControllerConfig)
  proxy::Endpoint listen;  // an IP literal; port 0 picks a free port (tests)
  // Absolute, lexically normal paths after loading.
  std::string identity_cert;  // the controller's own certificate and key (TLS server)
  std::string identity_key;
  std::string ca_cert;        // the CA that signs enrolled gateways' certificates
  std::string ca_key;
  std::string state_dir;      // the FileStore directory; "" with etcd
  // The etcd cluster holding the state instead (EtcdStore), when set.
  struct Etcd {
    std::vector<proxy::Endpoint> endpoints;  // loopback IP literals
    std::string prefix = "braid/";
    proxy::Duration timeout = std::chrono::seconds(5);
  };
  std::optional<Etcd> etcd;
  // Names (in client certificates) allowed to administer: non-empty, each a
  // valid gateway name, no duplicates, in file order.
  std::vector<std::string> admins;
  proxy::Duration token_ttl = std::chrono::hours(1);  // how long a join token stays usable
  std::chrono::days certificate_validity{365};        // of certificates issued at enrollment
  proxy::Duration gateway_poll = std::chrono::seconds(20);  // how long a gateway's state request is held open
  proxy::LogConfig log;  // as the gateway's "log" key
};

// ParseControllerConfig validates JSON text. `source` names the text in
// errors and becomes `source`; relative paths are resolved against
// `base_dir` (itself made absolute against the working directory). Returns
// InvalidArgument listing every error, one per line.
absl::StatusOr<ControllerConfig> ParseControllerConfig(std::string_view json_text, std::string source,
                                                       std::filesystem::path base_dir);

// LoadControllerConfig reads and validates the file at `path`; relative
// paths in it are resolved against its directory, and `source` is its
// absolute path. Returns InvalidArgument with every error, or, when the
// file itself cannot be read, the errno's status code (NotFound,
// PermissionDenied, ...) with `PATH: cannot read: REASON`.
absl::StatusOr<ControllerConfig> LoadControllerConfig(const std::string& path);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_CONFIG_CONTROLLER_CONFIG_H_
