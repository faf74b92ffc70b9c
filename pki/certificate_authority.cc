#include "pki/certificate_authority.h"

#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/boringssl_error.h"
#include "pki/certificate_profile.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"

namespace braid::pki {
namespace {

// A P-256 CSR in PEM is about 500 bytes; anything near this is not one.
constexpr size_t kMaxCsrSize = 16 * 1024;

// Prefixed adds "WHAT: " in front of a status message, keeping its code.
absl::Status Prefixed(std::string_view what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(std::string(what), ": ", status.message()));
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateKey() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (ec == nullptr || !EC_KEY_generate_key(ec.get())) {
    return BoringSslError("cannot generate a P-256 key");
  }
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (key == nullptr || !EVP_PKEY_assign_EC_KEY(key.get(), ec.get())) {
    return BoringSslError("cannot wrap the P-256 key");
  }
  ec.release();  // Now owned by `key`.
  return key;
}

absl::StatusOr<std::string> MakeCsrPem(EVP_PKEY* key, std::string_view name) {
  if (absl::Status s = ValidateGatewayName(name); !s.ok()) return s;
  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  bssl::UniquePtr<X509_NAME> subject(X509_NAME_new());
  if (req == nullptr || subject == nullptr ||
      !X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const uint8_t*>(name.data()),
                                  static_cast<int>(name.size()), -1, 0) ||
      !X509_REQ_set_subject_name(req.get(), subject.get()) || !X509_REQ_set_pubkey(req.get(), key) ||
      !X509_REQ_sign(req.get(), key, EVP_sha256())) {
    return BoringSslError("cannot make the certificate signing request");
  }
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_X509_REQ(bio.get(), req.get())) {
    return BoringSslError("cannot encode the certificate signing request");
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

absl::Status VerifyCertificate(X509* cert, X509* ca_cert) {
  bssl::UniquePtr<X509_STORE> store(X509_STORE_new());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || !X509_STORE_add_cert(store.get(), ca_cert) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr)) {
    return BoringSslError("cannot set up certificate verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("certificate does not verify against the CA: ",
                                                   X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

std::string Fingerprint(const X509* cert) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!X509_digest(cert, EVP_sha256(), digest, &len)) {
    ERR_clear_error();
    return "";
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string NotAfterText(const X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !ASN1_TIME_print(bio.get(), X509_get0_notAfter(cert))) {
    ERR_clear_error();
    return "(unknown)";
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Create(const CaOptions& options) {
  if (options.common_name.empty()) {
    return absl::InvalidArgumentError("the CA common name must not be empty");
  }
  if (absl::Status s = CheckValidityDays(options.validity_days); !s.ok()) {
    return Prefixed("CA certificate", s);
  }
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = GenerateKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<bssl::UniquePtr<X509>> cert =
      NewCertificate(key->get(), options.common_name, options.validity_days);
  if (!cert.ok()) return cert.status();
  if (absl::Status s = AddCaExtensions(cert->get()); !s.ok()) return s;
  // Self-signed: the CA is its own issuer, and its AKI equals its SKI.
  if (absl::Status s = SignWithIssuer(cert->get(), cert->get(), key->get()); !s.ok()) return s;
  return CertificateAuthority(std::move(*cert), std::move(*key));
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::FromPem(std::string_view cert_pem,
                                                                   std::string_view key_pem) {
  absl::StatusOr<bssl::UniquePtr<X509>> cert = CertificateFromPem(cert_pem);
  if (!cert.ok()) return Prefixed("CA certificate", cert.status());
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = PrivateKeyFromPem(key_pem);
  if (!key.ok()) return Prefixed("CA key", key.status());
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError(
        "the CA certificate is not a CA certificate "
        "(no basicConstraints CA:TRUE)");
  }
  if (!X509_check_private_key(cert->get(), key->get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the CA key does not belong to the CA certificate");
  }
  return CertificateAuthority(std::move(*cert), std::move(*key));
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::LoadFiles(const std::string& cert_path,
                                                                     const std::string& key_path) {
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_path);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key_path);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<CertificateAuthority> ca = FromPem(*cert_pem, *key_pem);
  if (!ca.ok()) {
    return Prefixed(absl::StrCat("cannot load the CA from ", cert_path, " and ", key_path),
                    ca.status());
  }
  return ca;
}

absl::StatusOr<IssuedIdentity> CertificateAuthority::Issue(std::string_view name,
                                                           const IssueOptions& options) const {
  // Validate before generating a key, so that a typo costs nothing.
  if (absl::Status s = ValidateGatewayName(name); !s.ok()) return s;
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = GenerateKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<bssl::UniquePtr<X509>> cert = SignPublicKey(key->get(), name, options);
  if (!cert.ok()) return cert.status();
  return IssuedIdentity{std::move(*key), std::move(*cert)};
}

absl::StatusOr<bssl::UniquePtr<X509>> CertificateAuthority::SignCsr(
    std::string_view csr_pem, std::string_view name, const IssueOptions& options) const {
  // A CSR arrives from the network: bound it before parsing.
  if (csr_pem.size() > kMaxCsrSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate signing request is larger than ", kMaxCsrSize, " bytes"));
  }
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  bssl::UniquePtr<X509_REQ> req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr)
                                    : nullptr);
  if (req == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument,
                          "certificate signing request does not parse");
  }
  bssl::UniquePtr<EVP_PKEY> public_key(X509_REQ_get_pubkey(req.get()));
  if (public_key == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument,
                          "certificate signing request has no usable public key");
  }
  // The signature proves that the requester holds the private key; without
  // this check anyone could have a certificate issued to someone else's key.
  if (X509_REQ_verify(req.get(), public_key.get()) != 1) {
    return BoringSslError(absl::StatusCode::kInvalidArgument,
                          "certificate signing request signature does not verify");
  }
  return SignPublicKey(public_key.get(), name, options);
}

absl::StatusOr<bssl::UniquePtr<X509>> CertificateAuthority::SignPublicKey(
    EVP_PKEY* public_key, std::string_view name, const IssueOptions& options) const {
  if (absl::Status s = ValidateGatewayName(name); !s.ok()) return s;
  if (!IsP256(public_key)) {
    return absl::InvalidArgumentError("the key to certify is not an ECDSA P-256 key");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert_.get())) <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA certificate expired on ", NotAfterText(cert_.get())));
  }
  absl::StatusOr<bssl::UniquePtr<X509>> cert =
      NewCertificate(public_key, name, options.validity_days);
  if (!cert.ok()) return cert.status();
  // A certificate that outlives its CA would stop verifying early anyway;
  // say so now rather than on the day the CA expires.
  int days = 0;
  int seconds = 0;
  if (!ASN1_TIME_diff(&days, &seconds, X509_get0_notAfter(cert_.get()),
                      X509_get0_notAfter(cert->get()))) {
    return BoringSslError("cannot compare validity periods");
  }
  if (days > 0 || seconds > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("a certificate valid for ", options.validity_days,
                     " days would outlive the CA, which "
                     "expires on ",
                     NotAfterText(cert_.get()), "; ask for fewer days or make a new CA"));
  }
  if (absl::Status s = AddGatewayExtensions(cert->get(), name); !s.ok()) return s;
  if (absl::Status s = SignWithIssuer(cert->get(), cert_.get(), key_.get()); !s.ok()) return s;
  return cert;
}

}  // namespace braid::pki
