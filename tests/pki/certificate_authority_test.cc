// Tests of the CA (pki/certificate_authority.h): the CA certificate, the
// gateway certificates it issues, CSR signing, and loading a CA from files.
// Every check on a certificate goes through BoringSSL's own parser and verifier.
#include "pki/certificate_authority.h"

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"
#include "pki/temp_dir.h"

namespace braid::pki {
namespace {

using ::braid::testing::TempDir;
using ::testing::HasSubstr;

CertificateAuthority MakeCa() {
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Create();
  EXPECT_TRUE(ca.ok()) << ca.status();
  return std::move(*ca);
}

// IsCritical returns 1 or 0 for an extension's criticality, -1 if absent.
int IsCritical(X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

std::string CommonName(X509* cert) {
  char buf[256];
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// ValidityDays returns notAfter - now in whole days.
int ValidityDays(X509* cert) {
  int days = 0;
  int seconds = 0;
  bssl::UniquePtr<ASN1_TIME> now(ASN1_TIME_set(nullptr, std::time(nullptr)));
  EXPECT_TRUE(ASN1_TIME_diff(&days, &seconds, now.get(), X509_get0_notAfter(cert)));
  return days;
}

// VerifyWithPurpose runs X509_verify_cert against `ca` alone for a TLS purpose.
int VerifyWithPurpose(X509* cert, X509* ca, int purpose) {
  bssl::UniquePtr<X509_STORE> store(X509_STORE_new());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca);
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

// MakeCsr returns a PEM CSR for `subject_key`, signed by `signing_key`, that
// asks for a subject and a CA:TRUE extension the CA must ignore.
std::string MakeCsr(EVP_PKEY* subject_key, EVP_PKEY* signing_key) {
  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  X509_REQ_set_version(req.get(), X509_REQ_VERSION_1);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const uint8_t*>("evil"), 4, -1, 0);
  X509_REQ_set_pubkey(req.get(), subject_key);
  bssl::UniquePtr<STACK_OF(X509_EXTENSION)> exts(sk_X509_EXTENSION_new_null());
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  bc->ca = 0xff;
  sk_X509_EXTENSION_push(exts.get(), X509V3_EXT_i2d(NID_basic_constraints, 1, bc.get()));
  X509_REQ_add_extensions(req.get(), exts.get());
  EXPECT_GT(X509_REQ_sign(req.get(), signing_key, EVP_sha256()), 0);
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

bool SamePublicKey(X509* cert, EVP_PKEY* key) {
  bssl::UniquePtr<EVP_PKEY> cert_key(X509_get_pubkey(cert));
  return EVP_PKEY_cmp(cert_key.get(), key) == 1;
}

TEST(CertificateAuthorityTest, CreateMakesASelfSignedCaCertificate) {
  CertificateAuthority ca = MakeCa();
  X509* cert = ca.certificate();
  EXPECT_EQ(CommonName(cert), "braid CA");
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_EQ(IsCritical(cert, NID_basic_constraints), 1);
  EXPECT_EQ(IsCritical(cert, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  ASSERT_NE(X509_get0_subject_key_id(cert), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(cert), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(cert), X509_get0_authority_key_id(cert)),
            0);
  EXPECT_TRUE(VerifyCertificate(cert, cert).ok());
  EXPECT_NEAR(ValidityDays(cert), 3650, 1);
  EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);

  bssl::UniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_FALSE(BN_is_zero(serial.get()));
  EXPECT_LE(BN_num_bits(serial.get()), 128u);
  EXPECT_GT(BN_num_bits(serial.get()), 64u);  // Random 128-bit; fails with p = 2^-64.
}

TEST(CertificateAuthorityTest, CreateHonoursOptionsAndRejectsBadOnes) {
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Create({"test CA", 30});
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(CommonName(ca->certificate()), "test CA");
  EXPECT_NEAR(ValidityDays(ca->certificate()), 30, 1);
  for (int days : {0, -1, kMaxValidityDays + 1}) {
    absl::StatusOr<CertificateAuthority> bad = CertificateAuthority::Create({"braid CA", days});
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << days;
    EXPECT_THAT(bad.status().message(), HasSubstr("out of range")) << days;
  }
  EXPECT_FALSE(CertificateAuthority::Create({"", 30}).ok());
}

TEST(CertificateAuthorityTest, IssuedCertificateVerifiesAndNamesTheGateway) {
  CertificateAuthority ca = MakeCa();
  absl::StatusOr<IssuedIdentity> id = ca.Issue("gw-onprem");
  ASSERT_TRUE(id.ok()) << id.status();
  X509* cert = id->certificate.get();

  EXPECT_EQ(VerifyWithPurpose(cert, ca.certificate(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(VerifyWithPurpose(cert, ca.certificate(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_TRUE(VerifyCertificate(cert, ca.certificate()).ok());
  EXPECT_EQ(X509_check_host(cert, "gw-onprem", 9, 0, nullptr), 1);

  absl::StatusOr<std::string> name = CertificateGatewayName(cert);
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "gw-onprem");
  EXPECT_EQ(CommonName(cert), "gw-onprem");
  EXPECT_EQ(X509_check_ca(cert), 0);
  EXPECT_EQ(IsCritical(cert, NID_basic_constraints), 1);
  EXPECT_EQ(IsCritical(cert, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
                                  X509_get0_subject_key_id(ca.certificate())),
            0);
  EXPECT_NEAR(ValidityDays(cert), 365, 1);
  EXPECT_EQ(X509_check_private_key(cert, id->key.get()), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca.certificate())), 0);
}

TEST(CertificateAuthorityTest, SerialNumbersAreUnique) {
  CertificateAuthority ca = MakeCa();
  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<IssuedIdentity> id = ca.Issue("gw");
    ASSERT_TRUE(id.ok());
    bssl::UniquePtr<BIGNUM> bn(
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(id->certificate.get()), nullptr));
    char* hex = BN_bn2hex(bn.get());
    serials.insert(hex);
    OPENSSL_free(hex);
  }
  EXPECT_EQ(serials.size(), 20u);
}

TEST(CertificateAuthorityTest, CertificateFromAnotherCaDoesNotVerify) {
  CertificateAuthority ca = MakeCa();
  CertificateAuthority other = MakeCa();  // Same name, "braid CA", other key.
  absl::StatusOr<IssuedIdentity> id = other.Issue("gw-rogue");
  ASSERT_TRUE(id.ok());
  EXPECT_NE(VerifyWithPurpose(id->certificate.get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT),
            X509_V_OK);
  absl::Status status = VerifyCertificate(id->certificate.get(), ca.certificate());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("does not verify"));
}

TEST(CertificateAuthorityTest, ValidityIsCheckedAgainstTheCa) {
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Create({"braid CA", 100});
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<IssuedIdentity> id = ca->Issue("gw", {30});
  ASSERT_TRUE(id.ok());
  EXPECT_NEAR(ValidityDays(id->certificate.get()), 30, 1);
  absl::StatusOr<IssuedIdentity> too_long = ca->Issue("gw", {365});
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_long.status().message(), HasSubstr("outlive the CA"));
  EXPECT_EQ(ca->Issue("gw", {0}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CertificateAuthorityTest, IssueRejectsBadNames) {
  CertificateAuthority ca = MakeCa();
  for (const char* name : {"", "a b", "a/b", "x..y", "-x"}) {
    absl::StatusOr<IssuedIdentity> id = ca.Issue(name);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(id.status().message(), HasSubstr("invalid gateway name")) << name;
  }
}

TEST(CertificateAuthorityTest, CertificateGatewayNameNeedsOneDnsName) {
  CertificateAuthority ca = MakeCa();
  absl::StatusOr<std::string> name = CertificateGatewayName(ca.certificate());
  EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(name.status().message(), HasSubstr("no subjectAltName"));
}

TEST(CertificateAuthorityTest, SignCsrSetsItsOwnProfile) {
  CertificateAuthority ca = MakeCa();
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = GenerateKey();
  ASSERT_TRUE(key.ok());
  std::string csr = MakeCsr(key->get(), key->get());

  absl::StatusOr<bssl::UniquePtr<X509>> cert = ca.SignCsr(csr, "gw-enrolled", {90});
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(SamePublicKey(cert->get(), key->get()));
  EXPECT_EQ(CertificateGatewayName(cert->get()).value_or(""), "gw-enrolled");
  EXPECT_EQ(CommonName(cert->get()), "gw-enrolled");  // Not the CSR's "evil".
  EXPECT_EQ(X509_check_ca(cert->get()), 0);           // The CSR's CA:TRUE is ignored.
  EXPECT_EQ(X509_get_extended_key_usage(cert->get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_NEAR(ValidityDays(cert->get()), 90, 1);
  EXPECT_EQ(VerifyWithPurpose(cert->get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST(CertificateAuthorityTest, SignCsrRejectsBadRequests) {
  CertificateAuthority ca = MakeCa();
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = GenerateKey();
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> other = GenerateKey();
  ASSERT_TRUE(key.ok() && other.ok());

  // Signed by another key than the one it asks to certify: no proof of
  // possession.
  absl::StatusOr<bssl::UniquePtr<X509>> forged =
      ca.SignCsr(MakeCsr(key->get(), other->get()), "gw");
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(forged.status().message(), HasSubstr("signature does not verify"));

  absl::StatusOr<bssl::UniquePtr<X509>> garbage = ca.SignCsr("not a CSR", "gw");
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("does not parse"));

  bssl::UniquePtr<EC_KEY> p384(EC_KEY_new_by_curve_name(NID_secp384r1));
  ASSERT_TRUE(EC_KEY_generate_key(p384.get()));
  bssl::UniquePtr<EVP_PKEY> p384_key(EVP_PKEY_new());
  EVP_PKEY_set1_EC_KEY(p384_key.get(), p384.get());
  absl::StatusOr<bssl::UniquePtr<X509>> wrong_curve =
      ca.SignCsr(MakeCsr(p384_key.get(), p384_key.get()), "gw");
  EXPECT_EQ(wrong_curve.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_curve.status().message(), HasSubstr("P-256"));

  absl::StatusOr<bssl::UniquePtr<X509>> bad_name =
      ca.SignCsr(MakeCsr(key->get(), key->get()), "a b");
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CertificateAuthorityTest, LoadsFromFilesAndChecksTheKey) {
  TempDir dir;
  CertificateAuthority ca = MakeCa();
  ASSERT_TRUE(WriteKeyAndCertificate(dir.File("ca.key"), ca.key(), dir.File("ca.crt"),
                                     ca.certificate(), false)
                  .ok());
  absl::StatusOr<CertificateAuthority> loaded =
      CertificateAuthority::LoadFiles(dir.File("ca.crt"), dir.File("ca.key"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(Fingerprint(loaded->certificate()), Fingerprint(ca.certificate()));
  EXPECT_EQ(Fingerprint(ca.certificate()).size(), 64u);
  absl::StatusOr<IssuedIdentity> id = loaded->Issue("gw-b");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(VerifyCertificate(id->certificate.get(), ca.certificate()).ok());

  // Another CA's key with this CA's certificate.
  CertificateAuthority other = MakeCa();
  absl::StatusOr<CertificateAuthority> mismatched = CertificateAuthority::FromPem(
      *CertificateToPem(ca.certificate()), *PrivateKeyToPem(other.key()));
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatched.status().message(), HasSubstr("does not belong"));

  // A gateway certificate is not a CA.
  absl::StatusOr<CertificateAuthority> not_ca = CertificateAuthority::FromPem(
      *CertificateToPem(id->certificate.get()), *PrivateKeyToPem(id->key.get()));
  EXPECT_THAT(not_ca.status().message(), HasSubstr("not a CA certificate"));

  absl::StatusOr<CertificateAuthority> absent =
      CertificateAuthority::LoadFiles(dir.File("none.crt"), dir.File("none.key"));
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace braid::pki
