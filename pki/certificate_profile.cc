#include "pki/certificate_profile.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "pki/boringssl_error.h"
#include "pki/certificate_authority.h"

namespace braid::pki {
namespace {

constexpr size_t kSerialBytes = 16;
// RFC 5280 upper bound for a commonName (ub-common-name).
constexpr size_t kMaxCommonNameLength = 64;

// Key usage bits, numbered as in RFC 5280 4.2.1.3.
constexpr int kDigitalSignature = 0;
constexpr int kKeyCertSign = 5;
constexpr int kCrlSign = 6;

absl::Status AddExtension(X509* cert, int nid, void* value, bool critical) {
  if (!X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE)) {
    return BoringSslError(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// KeyIdentifier returns the SHA-1 of the subjectPublicKey bits, the key
// identifier of RFC 5280 4.2.1.2 method (1).
bssl::UniquePtr<ASN1_OCTET_STRING> KeyIdentifier(const X509* cert) {
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(cert);
  if (bits == nullptr) return nullptr;
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(ASN1_STRING_get0_data(bits), static_cast<size_t>(ASN1_STRING_length(bits)), digest);
  bssl::UniquePtr<ASN1_OCTET_STRING> id(ASN1_OCTET_STRING_new());
  if (id == nullptr || !ASN1_OCTET_STRING_set(id.get(), digest, sizeof(digest))) return nullptr;
  return id;
}

absl::Status AddBasicConstraints(X509* cert, bool ca) {
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return BoringSslError("cannot allocate basicConstraints");
  bc->ca = ca ? 0xff : 0;
  return AddExtension(cert, NID_basic_constraints, bc.get(), /*critical=*/true);
}

absl::Status AddKeyUsage(X509* cert, std::initializer_list<int> bits) {
  bssl::UniquePtr<ASN1_BIT_STRING> usage(ASN1_BIT_STRING_new());
  if (usage == nullptr) return BoringSslError("cannot allocate keyUsage");
  for (int bit : bits) {
    if (!ASN1_BIT_STRING_set_bit(usage.get(), bit, 1)) return BoringSslError("cannot set keyUsage");
  }
  return AddExtension(cert, NID_key_usage, usage.get(), /*critical=*/true);
}

}  // namespace

absl::Status CheckValidityDays(int days) {
  if (days < 1 || days > kMaxValidityDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity of ", days, " days is out of range (1 to ", kMaxValidityDays, ")"));
  }
  return absl::OkStatus();
}

bool IsP256(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_EC) return false;
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
  return ec != nullptr && EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) == NID_X9_62_prime256v1;
}

absl::StatusOr<bssl::UniquePtr<X509>> NewCertificate(EVP_PKEY* subject_key,
                                                     std::string_view common_name,
                                                     int validity_days) {
  if (absl::Status s = CheckValidityDays(validity_days); !s.ok()) return s;
  if (common_name.empty() || common_name.size() > kMaxCommonNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("the common name must have 1 to ", kMaxCommonNameLength, " characters"));
  }
  bssl::UniquePtr<X509> cert(X509_new());
  if (cert == nullptr || !X509_set_version(cert.get(), X509_VERSION_3)) {
    return BoringSslError("cannot allocate a certificate");
  }

  // Serial: 128 random bits read as an unsigned number, so always positive
  // (RFC 5280 allows up to 20 octets; the DER form takes 16 or 17).
  uint8_t random[kSerialBytes];
  RAND_bytes(random, sizeof(random));
  random[kSerialBytes - 1] |= 1;  // Never zero.
  bssl::UniquePtr<BIGNUM> serial_bn(BN_bin2bn(random, sizeof(random), nullptr));
  bssl::UniquePtr<ASN1_INTEGER> serial(serial_bn ? BN_to_ASN1_INTEGER(serial_bn.get(), nullptr)
                                                 : nullptr);
  if (serial == nullptr || !X509_set_serialNumber(cert.get(), serial.get())) {
    return BoringSslError("cannot set the serial number");
  }

  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                  reinterpret_cast<const uint8_t*>(common_name.data()),
                                  static_cast<int>(common_name.size()), -1, 0)) {
    return BoringSslError(absl::StrCat("cannot set the subject CN=", std::string(common_name)));
  }

  const time_t now = std::time(nullptr);
  if (!ASN1_TIME_adj(X509_getm_notBefore(cert.get()), now, 0, -kBackdateSeconds) ||
      !ASN1_TIME_adj(X509_getm_notAfter(cert.get()), now, validity_days, 0)) {
    return BoringSslError("cannot set the validity");
  }
  if (!X509_set_pubkey(cert.get(), subject_key)) return BoringSslError("cannot set the public key");

  bssl::UniquePtr<ASN1_OCTET_STRING> ski = KeyIdentifier(cert.get());
  if (ski == nullptr) return BoringSslError("cannot compute the subject key identifier");
  if (absl::Status s = AddExtension(cert.get(), NID_subject_key_identifier, ski.get(), false);
      !s.ok()) {
    return s;
  }
  return cert;
}

absl::Status AddCaExtensions(X509* cert) {
  if (absl::Status s = AddBasicConstraints(cert, /*ca=*/true); !s.ok()) return s;
  return AddKeyUsage(cert, {kKeyCertSign, kCrlSign});
}

absl::Status AddGatewayExtensions(X509* cert, std::string_view name) {
  bssl::UniquePtr<GENERAL_NAMES> names(GENERAL_NAMES_new());
  bssl::UniquePtr<GENERAL_NAME> dns(GENERAL_NAME_new());
  bssl::UniquePtr<ASN1_IA5STRING> text(ASN1_IA5STRING_new());
  if (names == nullptr || dns == nullptr || text == nullptr ||
      !ASN1_STRING_set(text.get(), name.data(), static_cast<int>(name.size()))) {
    return BoringSslError("cannot allocate subjectAltName");
  }
  GENERAL_NAME_set0_value(dns.get(), GEN_DNS, text.release());
  if (!bssl::PushToStack(names.get(), std::move(dns))) {
    return BoringSslError("cannot allocate subjectAltName");
  }
  // Not critical: the subject is not empty (RFC 5280 4.2.1.6).
  if (absl::Status s = AddExtension(cert, NID_subject_alt_name, names.get(), false); !s.ok()) {
    return s;
  }
  if (absl::Status s = AddBasicConstraints(cert, /*ca=*/false); !s.ok()) return s;
  if (absl::Status s = AddKeyUsage(cert, {kDigitalSignature}); !s.ok()) return s;

  // OBJ_nid2obj returns static objects, which the stack's deleter leaves alone.
  bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
  if (eku == nullptr || !sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth)) ||
      !sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth))) {
    return BoringSslError("cannot allocate extendedKeyUsage");
  }
  return AddExtension(cert, NID_ext_key_usage, eku.get(), false);
}

absl::Status SignWithIssuer(X509* cert, X509* issuer_cert, EVP_PKEY* issuer_key) {
  if (!X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert))) {
    return BoringSslError("cannot set the issuer name");
  }
  // The authority key identifier is the issuer's subject key identifier, so
  // that a verifier holding several CAs with one name ("braid CA" from
  // another directory) picks the right one, or none.
  //
  // Read with X509_get_ext_d2i, not X509_get0_subject_key_id: the latter
  // caches the certificate's extension flags, and on a self-signed
  // certificate not yet signed it would cache them as invalid for good
  // (BoringSSL hashes the whole certificate while caching).
  bssl::UniquePtr<ASN1_OCTET_STRING> issuer_id(static_cast<ASN1_OCTET_STRING*>(
      X509_get_ext_d2i(issuer_cert, NID_subject_key_identifier, nullptr, nullptr)));
  if (issuer_id == nullptr) issuer_id = KeyIdentifier(issuer_cert);
  bssl::UniquePtr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
  if (issuer_id == nullptr || akid == nullptr) {
    return BoringSslError("cannot compute the authority key identifier");
  }
  akid->keyid = issuer_id.release();
  if (absl::Status s = AddExtension(cert, NID_authority_key_identifier, akid.get(), false);
      !s.ok()) {
    return s;
  }
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
    return BoringSslError("cannot sign the certificate");
  }
  return absl::OkStatus();
}

}  // namespace braid::pki
