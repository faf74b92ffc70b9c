// Tests of join tokens: format and parse round trip, whitespace from a
// paste, every kind of malformed token (table-driven, each with the message
// it must produce and without leaking the secret), and token ids.
#include "controller/enrollment/join_token.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kFingerprint(64, 'c');
const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string Token(const std::string& secret, const std::string& fingerprint, const std::string& name) {
  return absl::StrCat("braid1:", secret, ":", fingerprint, ":", name);
}

TEST(JoinTokenTest, NewTokenRoundTrips) {
  absl::StatusOr<JoinToken> token = NewJoinToken("gw1.eu.example", kFingerprint);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->gateway_name, "gw1.eu.example");
  EXPECT_EQ(token->ca_fingerprint, kFingerprint);
  EXPECT_EQ(token->secret_hex.size(), 64u);
  const std::string text = FormatJoinToken(*token);
  EXPECT_EQ(text, Token(token->secret_hex, kFingerprint, "gw1.eu.example"));
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->gateway_name, token->gateway_name);
  EXPECT_EQ(parsed->secret_hex, token->secret_hex);
  EXPECT_EQ(parsed->ca_fingerprint, token->ca_fingerprint);
  EXPECT_EQ(TokenId(*parsed), TokenId(*token));
}

TEST(JoinTokenTest, PastedWhitespaceIsTrimmed) {
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(absl::StrCat("  \t", Token(kSecret, kFingerprint, "gw"), "\r\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->gateway_name, "gw");
}

TEST(JoinTokenTest, NewTokenRejectsBadInput) {
  EXPECT_EQ(NewJoinToken("bad name", kFingerprint).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewJoinToken("a:b", kFingerprint).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewJoinToken("gw", "abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewJoinToken("gw", std::string(64, 'C')).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JoinTokenTest, BadTokensSayWhatIsWrong) {
  struct Case {
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty"},
      {"   \n", "empty"},
      {"hello", "not a braid join token"},
      {Token(kSecret, kFingerprint, "gw").substr(1), "not a braid join token"},
      {absl::StrCat("braid2:", kSecret, ":", kFingerprint, ":gw"), "version \"braid2\" is not supported"},
      {absl::StrCat("braid:", kSecret, ":", kFingerprint, ":gw"), "not a braid join token"},
      {absl::StrCat("BRAID1:", kSecret, ":", kFingerprint, ":gw"), "not a braid join token"},
      {absl::StrCat("braid1:", kSecret, ":", kFingerprint), "expected 4 ':'-separated fields"},
      {absl::StrCat("braid1:", kSecret), "got 2"},
      {Token(kSecret, kFingerprint, "gw:extra"), "got 5"},
      {Token(kSecret.substr(2), kFingerprint, "gw"), "secret: expected 64 lowercase hex digits, got 62"},
      {Token(kSecret + "00", kFingerprint, "gw"), "secret: expected 64 lowercase hex digits, got 66"},
      {Token("", kFingerprint, "gw"), "secret: expected 64 lowercase hex digits, got 0"},
      {Token("g" + kSecret.substr(1), kFingerprint, "gw"), "secret: character 1 is not a hex digit"},
      {Token(kSecret.substr(0, 10) + "A" + kSecret.substr(11), kFingerprint, "gw"),
       "secret: character 11 is an uppercase hex digit"},
      {Token(kSecret, std::string(63, 'c'), "gw"), "CA fingerprint: expected 64 lowercase hex digits, got 63"},
      {Token(kSecret, std::string(63, 'c') + "z", "gw"), "CA fingerprint: character 64 is not a hex digit"},
      {Token(kSecret, kFingerprint, ""), "invalid gateway name: empty"},
      {Token(kSecret, kFingerprint, "gw one"), "invalid gateway name"},
      {Token(kSecret, kFingerprint, "-gw"), "starts or ends with '-'"},
      {Token(kSecret, kFingerprint, "gw..x"), "empty label"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JoinToken> parsed = ParseJoinToken(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr("join token")) << c.text;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr(kSecret.substr(12, 20)))) << "leaks the secret";
  }
}

TEST(JoinTokenTest, IdsDifferPerToken) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<JoinToken> token = NewJoinToken("gw", kFingerprint);
    ASSERT_TRUE(token.ok());
    const std::string id = TokenId(*token);
    EXPECT_EQ(id.size(), 64u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_NE(id, token->secret_hex) << "the id must not be the secret";
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
}

TEST(JoinTokenTest, IdIsSha256OfSecretBytes) {
  // SHA-256 of the 32 bytes 00 01 02 ... 1f.
  JoinToken token{"gw", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", kFingerprint};
  EXPECT_EQ(TokenId(token), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
}

TEST(JoinTokenTest, ForgedSecretGivesAnotherId) {
  absl::StatusOr<JoinToken> token = ParseJoinToken(Token(kSecret, kFingerprint, "gw"));
  ASSERT_TRUE(token.ok());
  const std::string id = TokenId(*token);
  // Same name and CA, one secret digit changed: the id no longer matches.
  std::string forged_secret = kSecret;
  forged_secret.back() = 'e';
  absl::StatusOr<JoinToken> forged = ParseJoinToken(Token(forged_secret, kFingerprint, "gw"));
  ASSERT_TRUE(forged.ok());
  EXPECT_FALSE(SameTokenId(id, TokenId(*forged)));
  // The name and fingerprint are not part of the id: only the secret is.
  absl::StatusOr<JoinToken> renamed = ParseJoinToken(Token(kSecret, std::string(64, 'd'), "other"));
  ASSERT_TRUE(renamed.ok());
  EXPECT_TRUE(SameTokenId(id, TokenId(*renamed)));
}

TEST(JoinTokenTest, SameTokenId) {
  EXPECT_TRUE(SameTokenId("abc", "abc"));
  EXPECT_FALSE(SameTokenId("abc", "abd"));
  EXPECT_FALSE(SameTokenId("abc", "abcd"));
  EXPECT_TRUE(SameTokenId("", ""));
}

}  // namespace
}  // namespace braid::controller
