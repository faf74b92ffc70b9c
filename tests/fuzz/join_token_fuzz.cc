// Fuzz target for join tokens (controller/enrollment/join_token.h): the
// text a new gateway's installer pastes, and the enrollment request carries.
//
// Checked, beside the sanitizers' own checks:
//   - a refused token is InvalidArgument, says "join token: ", and never
//     quotes the secret (the second ':'-separated field);
//   - an accepted token is well formed (64 lowercase hex digits of secret
//     and of fingerprint, a name pki::ValidateGatewayName accepts), is the
//     input without its surrounding whitespace, and FormatJoinToken of it
//     parses back to the same token; its TokenId is 64 hex digits and
//     SameTokenId agrees with string equality;
//   - NewJoinToken with the input as the gateway name agrees with
//     ValidateGatewayName, and its token parses back to itself.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// join_token_fuzz_replay, which replays the seed corpus as a test.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "controller/enrollment/join_token.h"
#include "pki/gateway_name.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::controller {
namespace {

using fuzz::Check;

constexpr size_t kMaxInput = 4096;
constexpr char kFingerprint[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool SameToken(const JoinToken& a, const JoinToken& b) {
  return a.gateway_name == b.gateway_name && a.secret_hex == b.secret_hex && a.ca_fingerprint == b.ca_fingerprint;
}

void CheckWellFormed(const JoinToken& token, std::string_view input) {
  Check(IsLowerHex64(token.secret_hex), "accepted a bad secret", input);
  Check(IsLowerHex64(token.ca_fingerprint), "accepted a bad fingerprint", input);
  Check(pki::ValidateGatewayName(token.gateway_name).ok(), "accepted a bad gateway name", input);
  const std::string text = FormatJoinToken(token);
  absl::StatusOr<JoinToken> again = ParseJoinToken(text);
  Check(again.ok() && SameToken(*again, token), "FormatJoinToken does not parse back to the token", text);
  const std::string id = TokenId(token);
  Check(IsLowerHex64(id), "TokenId is not 64 hex digits", id);
  Check(SameTokenId(id, TokenId(*again)), "SameTokenId refuses equal ids", id);
}

// The secret is the second ':'-separated field of the trimmed text.
std::string_view SecretField(std::string_view trimmed) {
  const size_t first = trimmed.find(':');
  if (first == std::string_view::npos) return {};
  const size_t second = trimmed.find(':', first + 1);
  return trimmed.substr(first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1);
}

// OtherSecret returns `secret` with every hex digit replaced by the next
// one of its case: another secret that every check treats the same.
std::string OtherSecret(std::string_view secret) {
  std::string out(secret);
  for (char& c : out) {
    if (c >= '0' && c <= '8') ++c;
    else if (c == '9') c = 'a';
    else if (c >= 'a' && c <= 'e') ++c;
    else if (c == 'f') c = '0';
    else if (c >= 'A' && c <= 'E') ++c;
    else if (c == 'F') c = 'A';
  }
  return out;
}

void FuzzParse(std::string_view input) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(absl::string_view(input.data(), input.size()));
  const std::string_view trimmed(stripped.data(), stripped.size());
  absl::StatusOr<JoinToken> token = ParseJoinToken(input);
  if (!token.ok()) {
    fuzz::CheckRejection(token.status(), "join token: ");
    // The message must not quote the secret: if it holds the secret's text,
    // so must the message for the same input with another secret that
    // fails or passes the same checks (the text then comes from the wording
    // or another field).
    const std::string_view secret = SecretField(trimmed);
    if (secret.size() >= 8 && fuzz::View(token.status()).find(secret) != std::string_view::npos) {
      std::string other(trimmed);
      other.replace(secret.data() - trimmed.data(), secret.size(), OtherSecret(secret));
      absl::StatusOr<JoinToken> without = ParseJoinToken(other);
      Check(!without.ok() && fuzz::View(without.status()).find(secret) != std::string_view::npos,
            "an error quotes the secret", fuzz::View(token.status()));
    }
    return;
  }
  Check(FormatJoinToken(*token) == trimmed, "an accepted token is not its text", input);
  CheckWellFormed(*token, input);
}

void FuzzNew(std::string_view name) {
  absl::StatusOr<JoinToken> token = NewJoinToken(name, kFingerprint);
  const bool valid = pki::ValidateGatewayName(name).ok();
  if (!token.ok()) {
    Check(!valid, "NewJoinToken refused a valid name: " + token.status().ToString(), name);
    fuzz::CheckRejection(token.status(), "join token: ");
    return;
  }
  Check(valid, "NewJoinToken accepted a bad name", name);
  Check(token->gateway_name == name && token->ca_fingerprint == kFingerprint, "NewJoinToken changed its input");
  CheckWellFormed(*token, name);
}

}  // namespace
}  // namespace braid::controller

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > braid::controller::kMaxInput) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  braid::controller::FuzzParse(input);
  if (size <= 300) braid::controller::FuzzNew(input);
  return 0;
}
