// The TLS of braid's control plane: the controller's HTTPS API, and the
// clients that call it (gateways and braidctl).
//
// Everything is TLS 1.3 with certificates from braid's one CA, as on the
// lanes, but through asio::ssl::stream: the control plane carries a few
// small JSON bodies, so the lanes' hand-driven record batching buys nothing
// here. What each side checks:
//   - The controller presents its certificate (its name is "controller"
//     unless configured otherwise) and asks every client for one, verified
//     against the CA. A client without one is still served, but only the
//     endpoints that need no identity (enrollment): the API server decides
//     per request (docs/controller.md).
//   - A client verifies that the controller's certificate chains to the CA
//     and carries the expected name, and presents its own certificate when
//     it has one.
//
// Thread-safety: a context is immutable once made; streams made from it may
// live on any thread.
#ifndef BRAID_CONTROLLER_API_CONTROL_TLS_H_
#define BRAID_CONTROLLER_API_CONTROL_TLS_H_

#include <openssl/base.h>

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"

namespace braid::controller {

// kDefaultControllerName: the name in the controller's certificate that
// clients expect (`braidctl pki issue DIR controller` makes it).
inline constexpr std::string_view kDefaultControllerName = "controller";

// MakeServerTls builds the controller's context from PEM files: its
// certificate chain and key, and the CA that client certificates must chain
// to. Returns NotFound or InvalidArgument naming the file that is missing or
// does not load.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeServerTls(const std::string& cert_file,
                                                                         const std::string& key_file,
                                                                         const std::string& ca_file);

struct ClientTlsOptions {
  // The CA to verify the controller against, as PEM text.
  std::string ca_pem;
  // The name the controller's certificate must carry.
  std::string server_name{kDefaultControllerName};
  // This client's identity (PEM files); empty for none (enrollment).
  std::string cert_file;
  std::string key_file;
  // verify_server false accepts any server certificate: only to fetch the
  // CA during enrollment, which the caller then checks against the token's
  // fingerprint before trusting anything it read.
  bool verify_server = true;
};

// MakeClientTls builds a client context. Returns InvalidArgument naming what
// does not load (the CA text, the certificate or key file), NotFound for a
// missing file.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeClientTls(const ClientTlsOptions& options);

// PeerIdentity is what a verified client certificate says.
struct PeerIdentity {
  std::string name;    // the certificate's gateway name (its DNS SAN)
  std::string serial;  // lowercase hex, no leading zeros
};

// GetPeerIdentity reads the verified peer certificate of an established
// connection. Returns FailedPrecondition if the peer sent none,
// InvalidArgument if it does not carry exactly one valid name.
absl::StatusOr<PeerIdentity> GetPeerIdentity(const SSL* ssl);

// CertificateSerial returns `cert`'s serial number as lowercase hex.
std::string CertificateSerial(const X509* cert);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_API_CONTROL_TLS_H_
