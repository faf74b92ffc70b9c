// Tests of gateway name validation (pki/gateway_name.h), table-driven.
#include "pki/gateway_name.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::pki {
namespace {

using ::testing::HasSubstr;

struct NameCase {
  std::string name;
  std::string error;  // Empty: valid.
};

TEST(PkiGatewayNameTest, ValidatesNames) {
  const std::vector<NameCase> cases = {
      {"gw-onprem", ""},
      {"gw1.eu.example", ""},
      {"a", ""},
      {"GW_Cloud-2", ""},
      {std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(61, 'd'),
       ""},  // 253 characters.
      {"", "empty"},
      {std::string(254, 'a'), "254 characters, at most 253"},
      {"gw onprem", "' ' at position 3 is not allowed"},
      {"../etc", "'/' at position 3"},
      {"gw/x", "'/' at position 3"},
      {"*.example", "'*' at position 1"},
      {"gw\n", "byte 0x0a at position 3"},
      {"g\xc3\xa9", "byte 0xc3 at position 2"},
      {".gw", "empty label at position 1"},
      {"gw.", "empty label at position 4"},
      {"gw..x", "empty label at position 4"},
      {"-gw", "starts or ends with '-'"},
      {"gw-.x", "starts or ends with '-'"},
      {std::string(64, 'a'), "64 characters, at most 63"},
  };
  for (const NameCase& c : cases) {
    absl::Status status = ValidateGatewayName(c.name);
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(status.message(), HasSubstr(c.error)) << c.name;
      EXPECT_THAT(status.message(), HasSubstr("invalid gateway name")) << c.name;
    }
  }
}

TEST(PkiGatewayNameTest, CertificateGatewayNameNeedsACertificate) {
  absl::StatusOr<std::string> name = CertificateGatewayName(nullptr);
  EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::pki
