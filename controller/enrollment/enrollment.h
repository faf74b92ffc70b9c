// Enrollment: join tokens, and certificates for the gateways that redeem
// them.
//
// An admin asks for a token for gateway NAME (CreateToken); the token holds
// a random secret and the CA's fingerprint (join_token.h). The controller
// stores only a hash of the secret ("tokens/<id>": the name, the expiry), so
// its state directory never holds a usable token. The new gateway makes its
// key, sends a CSR with the token (Enroll), and gets a certificate for NAME,
// whatever the CSR asked for.
//
// A token is used at most once: Enroll deletes its record durably before it
// signs anything, so a crash between the two costs the operator a new token
// and never lets a token work twice. An expired token, a token the
// controller never made (forged), one made by another controller (another
// CA) and one of a name revoked since are all refused, with the reason.
//
// Thread-safety: none; the controller's single event loop owns it.
#ifndef BRAID_CONTROLLER_ENROLLMENT_ENROLLMENT_H_
#define BRAID_CONTROLLER_ENROLLMENT_ENROLLMENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/registry/gateway_registry.h"
#include "controller/store/store.h"
#include "pki/certificate_authority.h"

namespace braid::controller {

struct CreatedToken {
  std::string token;       // the text to hand to the new gateway
  std::string expires_at;  // RFC 3339
};

struct EnrolledGateway {
  std::string name;
  std::string certificate_pem;
  std::string ca_pem;
};

class Enrollment {
 public:
  Enrollment(Store& store, GatewayRegistry& gateways, const pki::CertificateAuthority& ca,
             std::chrono::seconds token_ttl, int certificate_validity_days);

  // CreateToken makes a one-time token for gateway `name`, valid for `ttl`
  // (the configured default when zero). InvalidArgument for a bad name.
  absl::StatusOr<CreatedToken> CreateToken(const std::string& name, std::chrono::seconds ttl);

  // Enroll redeems `token_text` for a certificate to the key in `csr_pem`.
  // Returns PermissionDenied for a token that is unknown, used, expired,
  // revoked or of another CA; InvalidArgument for a malformed token or CSR.
  absl::StatusOr<EnrolledGateway> Enroll(const std::string& token_text, const std::string& csr_pem);

  // RevokeTokens deletes every unused token of `name` (its revocation).
  absl::Status RevokeTokens(const std::string& name);

 private:
  Store& store_;
  GatewayRegistry& gateways_;
  const pki::CertificateAuthority& ca_;
  std::string ca_fingerprint_;
  std::chrono::seconds token_ttl_;
  int certificate_validity_days_;
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_ENROLLMENT_ENROLLMENT_H_
