// The build must link BoringSSL, never the system OpenSSL. This file fails
// to compile if the headers found are not BoringSSL's, and the test fails if
// the library loaded at run time is not.
#include <openssl/base.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <string>

#include "gtest/gtest.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "braid must be built against BoringSSL (android-libboringssl-dev), not OpenSSL"
#endif

namespace {

TEST(BoringSslTest, LinkedLibraryIsBoringSsl) {
  // OpenSSL_version exists in both; BoringSSL answers "BoringSSL".
  EXPECT_EQ(std::string(OpenSSL_version(OPENSSL_VERSION)), "BoringSSL");
  EXPECT_EQ(CRYPTO_is_confidential_build(), 0);
}

TEST(BoringSslTest, Tls13IsAvailable) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION), 1);
}

}  // namespace
