// Join tokens: the one-time secret with which a new gateway enrolls.
//
// An operator runs `braidctl token create NAME` and hands the printed token
// to whoever installs gateway NAME. The token carries everything the new
// gateway needs to enroll safely on first contact:
//
//   braid1:<secret>:<ca fingerprint>:<gateway name>
//
//   secret          64 lowercase hex digits: 32 bytes from RAND_bytes. It
//                   proves to the controller that the holder was given the
//                   token; it is good for one enrollment.
//   ca fingerprint  64 lowercase hex digits: SHA-256 of the CA certificate's
//                   DER (pki::Fingerprint). The gateway pins the controller's
//                   CA with it before it trusts anything the controller says.
//   gateway name    the name the certificate will be issued for. Last,
//                   because a gateway name may hold dots but never ':'.
//
// The controller never stores a token, only its TokenId (SHA-256 of the
// secret bytes): a copy of its state directory enrolls no one. It compares
// ids with SameTokenId, in constant time.
//
// A token is a secret: nothing here puts the token or its secret into an
// error message, and callers must keep it out of logs too.
//
// All functions are pure and thread-safe (RAND_bytes is).
#ifndef BRAID_CONTROLLER_ENROLLMENT_JOIN_TOKEN_H_
#define BRAID_CONTROLLER_ENROLLMENT_JOIN_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::controller {

inline constexpr std::string_view kJoinTokenPrefix = "braid1";
inline constexpr size_t kJoinTokenSecretBytes = 32;

// A JoinToken from NewJoinToken or ParseJoinToken is always well formed:
// 64 lowercase hex digits in secret_hex and in ca_fingerprint, and a name
// pki::ValidateGatewayName accepts.
struct JoinToken {
  std::string gateway_name;
  std::string secret_hex;
  std::string ca_fingerprint;
};

// NewJoinToken makes a token for `gateway_name` with a fresh random secret.
// Returns InvalidArgument for a name pki::ValidateGatewayName rejects or a
// `ca_fingerprint` that is not 64 lowercase hex digits; Internal if the
// random generator fails.
absl::StatusOr<JoinToken> NewJoinToken(std::string_view gateway_name, std::string_view ca_fingerprint);

// FormatJoinToken returns the token's text, "braid1:SECRET:CA:NAME".
std::string FormatJoinToken(const JoinToken& token);

// ParseJoinToken reads a token's text, ignoring leading and trailing
// whitespace (tokens are pasted). Returns InvalidArgument saying precisely
// what is wrong: not a braid token or an unsupported version, the wrong
// number of ':'-separated fields, a secret or fingerprint of the wrong
// length or with a character that is not a lowercase hex digit (and where),
// or a bad gateway name. The messages never include the secret.
absl::StatusOr<JoinToken> ParseJoinToken(std::string_view text);

// TokenId returns the SHA-256 of the token's secret bytes, as 64 lowercase
// hex digits: what the controller stores in place of the token.
std::string TokenId(const JoinToken& token);

// SameTokenId compares two token ids in time that does not depend on where
// they differ (CRYPTO_memcmp). Ids of different lengths are unequal; the
// length of an id is no secret.
bool SameTokenId(std::string_view a, std::string_view b);

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_ENROLLMENT_JOIN_TOKEN_H_
