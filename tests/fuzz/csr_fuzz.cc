// Fuzz target for the enrollment CSR path: pki::CertificateAuthority::SignCsr
// with a CA made once at start, the way the controller signs the request of
// a gateway that redeems a join token.
//
// Input: text that starts with "-----" is passed as it is (PEM); anything
// else is taken as a DER request and armoured as "CERTIFICATE REQUEST" PEM
// first, so that the fuzzer mutates the ASN.1 rather than the base64.
//
// Checked, beside the sanitizers' own checks:
//   - a refused request is InvalidArgument (the CA is valid and the name
//     good, so nothing else may come back) and leaves BoringSSL's error
//     queue empty, as boringssl_error.h promises;
//   - an issued certificate verifies against the CA, names the gateway the
//     caller asked for (never what the request says), and certifies the
//     request's own key, which is ECDSA P-256.
//
// Built as a libFuzzer binary with -DBRAID_FUZZ=ON (clang), and always as
// csr_fuzz_replay, which replays the seed corpus as a test.
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pki/certificate_authority.h"
#include "pki/gateway_name.h"
#include "tests/fuzz/fuzz_check.h"

namespace braid::pki {
namespace {

using fuzz::Check;

constexpr size_t kMaxInput = 20 * 1024;  // beyond SignCsr's own 16 KiB bound
constexpr char kName[] = "gw-fuzz";

const CertificateAuthority& Ca() {
  static const CertificateAuthority* ca = [] {
    absl::StatusOr<CertificateAuthority> made = CertificateAuthority::Create();
    Check(made.ok(), "cannot make the CA: " + made.status().ToString());
    return new CertificateAuthority(*std::move(made));
  }();
  return *ca;
}

std::string Armour(std::string_view der) {
  size_t encoded_size = 0;
  Check(EVP_EncodedLength(&encoded_size, der.size()) == 1, "EVP_EncodedLength");
  std::string base64(encoded_size, '\0');
  const size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(base64.data()),
                                   reinterpret_cast<const uint8_t*>(der.data()), der.size());
  base64.resize(n);
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < base64.size(); i += 64) pem += base64.substr(i, 64) + "\n";
  return pem + "-----END CERTIFICATE REQUEST-----\n";
}

void CheckIssued(X509* cert, std::string_view pem) {
  Check(VerifyCertificate(cert, Ca().certificate()).ok(), "an issued certificate does not verify", pem);
  absl::StatusOr<std::string> name = CertificateGatewayName(cert);
  Check(name.ok() && *name == kName, "an issued certificate does not name the gateway", pem);

  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  bssl::UniquePtr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  Check(req != nullptr, "signed a request that does not parse here", pem);
  bssl::UniquePtr<EVP_PKEY> requested(X509_REQ_get_pubkey(req.get()));
  bssl::UniquePtr<EVP_PKEY> certified(X509_get_pubkey(cert));
  Check(requested != nullptr && certified != nullptr && EVP_PKEY_cmp(certified.get(), requested.get()) == 1,
        "the certificate is not for the request's key", pem);
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(certified.get());
  Check(ec != nullptr && EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) == NID_X9_62_prime256v1,
        "certified a key that is not P-256", pem);
  ERR_clear_error();  // the checks above may queue errors of their own
}

}  // namespace
}  // namespace braid::pki

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::pki;
  if (size > kMaxInput) return 0;
  const CertificateAuthority& ca = Ca();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string pem = input.starts_with("-----") ? std::string(input) : Armour(input);
  ERR_clear_error();
  absl::StatusOr<bssl::UniquePtr<X509>> cert = ca.SignCsr(pem, kName);
  braid::fuzz::Check(ERR_peek_error() == 0, "SignCsr left errors on BoringSSL's queue", pem);
  if (!cert.ok()) {
    braid::fuzz::CheckRejection(cert.status(), "");
    return 0;
  }
  CheckIssued(cert->get(), pem);
  return 0;
}
