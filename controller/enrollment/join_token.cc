#include "controller/enrollment/join_token.h"

#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pki/gateway_name.h"

namespace braid::controller {
namespace {

constexpr size_t kHexDigits = 64;  // of a secret and of a fingerprint

absl::string_view AbslView(std::string_view text) { return absl::string_view(text.data(), text.size()); }

std::string ToHex(const uint8_t* bytes, size_t size) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), size));
}

// CheckHex returns OK if `value` is kHexDigits lowercase hex digits, else
// InvalidArgument naming `field` and the first problem. It never quotes
// `value`: it may be a secret.
absl::Status CheckHex(std::string_view field, std::string_view value) {
  if (value.size() != kHexDigits) {
    return absl::InvalidArgumentError(absl::StrCat("join token: ", std::string(field), ": expected ", kHexDigits,
                                                   " lowercase hex digits, got ", value.size(), " characters"));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) continue;
    const bool upper = c >= 'A' && c <= 'F';
    return absl::InvalidArgumentError(absl::StrCat("join token: ", std::string(field), ": character ", i + 1,
                                                   upper ? " is an uppercase hex digit (only lowercase is accepted)"
                                                         : " is not a hex digit"));
  }
  return absl::OkStatus();
}

absl::Status CheckName(std::string_view name) {
  if (absl::Status status = pki::ValidateGatewayName(name); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("join token: ", status.message()));
  }
  return absl::OkStatus();
}

// CheckVersion explains a first field that is not kJoinTokenPrefix.
absl::Status CheckVersion(std::string_view first) {
  if (first == kJoinTokenPrefix) return absl::OkStatus();
  const std::string_view family = "braid";
  std::string_view version = first;
  if (version.starts_with(family)) version.remove_prefix(family.size());
  const bool numbered = first.starts_with(family) && !version.empty() &&
                        version.find_first_not_of("0123456789") == std::string_view::npos;
  if (numbered && version.size() <= 9) {
    return absl::InvalidArgumentError(absl::StrCat("join token: version \"", std::string(first),
                                                   "\" is not supported (this braid reads \"",
                                                   std::string(kJoinTokenPrefix), "\" tokens)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("join token: not a braid join token (it starts with \"", std::string(kJoinTokenPrefix), ":\")"));
}

}  // namespace

absl::StatusOr<JoinToken> NewJoinToken(std::string_view gateway_name, std::string_view ca_fingerprint) {
  if (absl::Status status = CheckName(gateway_name); !status.ok()) return status;
  if (absl::Status status = CheckHex("CA fingerprint", ca_fingerprint); !status.ok()) return status;
  uint8_t secret[kJoinTokenSecretBytes];
  if (RAND_bytes(secret, sizeof(secret)) != 1) return absl::InternalError("RAND_bytes failed");
  JoinToken token{std::string(gateway_name), ToHex(secret, sizeof(secret)), std::string(ca_fingerprint)};
  OPENSSL_cleanse(secret, sizeof(secret));
  return token;
}

std::string FormatJoinToken(const JoinToken& token) {
  return absl::StrCat(std::string(kJoinTokenPrefix), ":", token.secret_hex, ":", token.ca_fingerprint, ":",
                      token.gateway_name);
}

absl::StatusOr<JoinToken> ParseJoinToken(std::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AbslView(text));
  if (trimmed.empty()) return absl::InvalidArgumentError("join token: empty");
  const std::vector<absl::string_view> fields = absl::StrSplit(trimmed, ':');
  const std::string_view first(fields[0].data(), fields[0].size());
  if (absl::Status status = CheckVersion(first); !status.ok()) return status;
  if (fields.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("join token: expected 4 ':'-separated fields (",
                                                   std::string(kJoinTokenPrefix),
                                                   ":SECRET:CA_FINGERPRINT:GATEWAY_NAME), got ", fields.size()));
  }
  JoinToken token{std::string(fields[3]), std::string(fields[1]), std::string(fields[2])};
  if (absl::Status status = CheckHex("secret", token.secret_hex); !status.ok()) return status;
  if (absl::Status status = CheckHex("CA fingerprint", token.ca_fingerprint); !status.ok()) return status;
  if (absl::Status status = CheckName(token.gateway_name); !status.ok()) return status;
  return token;
}

std::string TokenId(const JoinToken& token) {
  // A well-formed token hashes its 32 secret bytes. Anything else (a
  // hand-built struct) hashes its text, an input of another length, so its
  // id matches no real token's.
  std::string secret = CheckHex("secret", token.secret_hex).ok() ? absl::HexStringToBytes(token.secret_hex)
                                                                : token.secret_hex;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), digest);
  OPENSSL_cleanse(secret.data(), secret.size());
  return ToHex(digest, sizeof(digest));
}

bool SameTokenId(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace braid::controller
