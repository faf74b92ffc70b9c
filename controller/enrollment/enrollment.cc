#include "controller/enrollment/enrollment.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "controller/api/control_tls.h"
#include "controller/api/json_fields.h"
#include "controller/enrollment/join_token.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"

namespace braid::controller {
namespace {

constexpr char kPrefix[] = "tokens/";

std::string Rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Enrollment::Enrollment(Store& store, GatewayRegistry& gateways, const pki::CertificateAuthority& ca,
                       std::chrono::seconds token_ttl, int certificate_validity_days)
    : store_(store),
      gateways_(gateways),
      ca_(ca),
      ca_fingerprint_(pki::Fingerprint(ca.certificate())),
      token_ttl_(token_ttl),
      certificate_validity_days_(certificate_validity_days) {}

absl::StatusOr<CreatedToken> Enrollment::CreateToken(const std::string& name, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) ttl = token_ttl_;
  absl::StatusOr<JoinToken> token = NewJoinToken(name, ca_fingerprint_);
  if (!token.ok()) return token.status();
  const std::time_t now = std::time(nullptr);
  const std::time_t expires = now + ttl.count();
  nlohmann::json record = {{"name", name}, {"created_at", Rfc3339(now)}, {"expires", static_cast<int64_t>(expires)}};
  if (absl::Status s = store_.Create(absl::StrCat(kPrefix, TokenId(*token)), record.dump()); !s.ok()) return s;
  return CreatedToken{FormatJoinToken(*token), Rfc3339(expires)};
}

absl::StatusOr<EnrolledGateway> Enrollment::Enroll(const std::string& token_text, const std::string& csr_pem) {
  absl::StatusOr<JoinToken> token = ParseJoinToken(token_text);
  if (!token.ok()) return token.status();
  if (token->ca_fingerprint != ca_fingerprint_) {
    return absl::PermissionDeniedError("token was made by a controller with another CA");
  }
  const std::string key = absl::StrCat(kPrefix, TokenId(*token));
  absl::StatusOr<std::string> record = store_.Get(key);
  if (absl::IsNotFound(record.status())) {
    return absl::PermissionDeniedError("token not valid: unknown, already used, or revoked");
  }
  if (!record.ok()) return record.status();
  JsonFields f(std::string_view(*record), key);
  const std::string name = f.String("name");
  f.String("created_at");
  const uint64_t expires = f.Uint("expires");
  if (absl::Status s = f.Finish(); !s.ok()) return absl::DataLossError(s.message());
  // The name travels in the token too; the stored one is what was granted.
  if (GatewayKey(name) != GatewayKey(token->gateway_name)) {
    return absl::PermissionDeniedError("token not valid: unknown, already used, or revoked");
  }
  // Used up now, whatever follows: a token never works twice. Of two
  // controllers redeeming it at once (a shared store), one deletes it.
  if (absl::Status s = store_.Delete(key); !s.ok()) {
    if (absl::IsNotFound(s)) return absl::PermissionDeniedError("token not valid: unknown, already used, or revoked");
    return s;
  }
  if (static_cast<uint64_t>(std::time(nullptr)) >= expires) {
    return absl::PermissionDeniedError(
        absl::StrCat("token expired at ", Rfc3339(static_cast<std::time_t>(expires))));
  }
  pki::IssueOptions options;
  options.validity_days = certificate_validity_days_;
  absl::StatusOr<bssl::UniquePtr<X509>> cert = ca_.SignCsr(csr_pem, name, options);
  if (!cert.ok()) return cert.status();
  if (absl::Status s = gateways_.Enrolled(name, CertificateSerial(cert->get())); !s.ok()) return s;
  absl::StatusOr<std::string> cert_pem = pki::CertificateToPem(cert->get());
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> ca_pem = pki::CertificateToPem(ca_.certificate());
  if (!ca_pem.ok()) return ca_pem.status();
  return EnrolledGateway{name, *std::move(cert_pem), *std::move(ca_pem)};
}

absl::Status Enrollment::RevokeTokens(const std::string& name) {
  absl::StatusOr<std::vector<std::string>> keys = store_.List(kPrefix);
  if (!keys.ok()) return keys.status();
  for (const std::string& key : *keys) {
    absl::StatusOr<std::string> record = store_.Get(key);
    if (!record.ok()) continue;
    nlohmann::json r = nlohmann::json::parse(*record, nullptr, false);
    if (r.is_object() && r.contains("name") && r["name"].is_string() &&
        GatewayKey(r["name"].get<std::string>()) == GatewayKey(name)) {
      if (absl::Status s = store_.Delete(key); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace braid::controller
