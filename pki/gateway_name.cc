#include "pki/gateway_name.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace braid::pki {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

// Quoted renders a possibly hostile name for an error message: printable
// ASCII as is, anything else as \xNN, cut at 80 characters.
std::string Quoted(std::string_view name) {
  std::string out = "\"";
  for (size_t i = 0; i < name.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (name.size() > 80) out += "...";
  return out + "\"";
}

}  // namespace

absl::Status ValidateGatewayName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("invalid gateway name: empty");
  if (name.size() > kMaxGatewayNameLength) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid gateway name %s: %d characters, at most %d allowed", Quoted(name),
                        name.size(), kMaxGatewayNameLength));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) {
      unsigned char c = static_cast<unsigned char>(name[i]);
      std::string shown = (c >= 0x20 && c < 0x7f) ? absl::StrCat("'", std::string(1, name[i]), "'")
                                                  : absl::StrFormat("byte 0x%02x", c);
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid gateway name %s: %s at position %d is not allowed (allowed: A-Z a-z 0-9 . - _)",
          Quoted(name), shown, i + 1));
    }
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid gateway name %s: empty label at position %d (no leading, trailing or doubled "
          "dots)",
          Quoted(name), start + 1));
    }
    if (label.size() > kMaxGatewayLabelLength) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid gateway name %s: label at position %d has %d characters, at most %d allowed",
          Quoted(name), start + 1, label.size(), kMaxGatewayLabelLength));
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid gateway name %s: label %s starts or ends with '-'", Quoted(name),
                          Quoted(label)));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CertificateGatewayName(const X509* cert) {
  if (cert == nullptr) return absl::InvalidArgumentError("no certificate");
  int critical = -1;
  bssl::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (names == nullptr) {
    return absl::InvalidArgumentError(critical == -2
                                          ? "certificate has more than one subjectAltName extension"
                                          : "certificate has no subjectAltName extension");
  }
  std::string found;
  int dns_names = 0;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* general = sk_GENERAL_NAME_value(names.get(), i);
    if (general->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = general->d.dNSName;
    ++dns_names;
    found.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                 static_cast<size_t>(ASN1_STRING_length(dns)));
  }
  if (dns_names == 0) return absl::InvalidArgumentError("certificate has no DNS subjectAltName");
  if (dns_names > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate has ", dns_names,
                     " DNS subjectAltNames; braid certificates carry exactly one"));
  }
  if (absl::Status valid = ValidateGatewayName(found); !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate DNS subjectAltName: ", valid.message()));
  }
  return found;
}

}  // namespace braid::pki
