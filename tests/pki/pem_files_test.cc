// Tests of PEM encoding and of the files braid_pki writes (pki/pem_files.h):
// exact modes, atomic replacement, refusal to overwrite.
#include "pki/pem_files.h"

#include <dirent.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_authority.h"
#include "pki/temp_dir.h"

namespace braid::pki {
namespace {

using ::braid::testing::FileMode;
using ::braid::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Contents returns the file's contents, or a marker that matches nothing.
std::string Contents(const std::string& path) { return ReadFile(path).value_or("<unreadable>"); }

CertificateAuthority MakeCa() {
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Create();
  EXPECT_TRUE(ca.ok()) << ca.status();
  return std::move(*ca);
}

std::vector<std::string> DirectoryEntries(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  while (dir != nullptr) {
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) break;
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (dir != nullptr) closedir(dir);
  return names;
}

TEST(PkiPemFilesTest, WritesModesAtomicallyAndRefusesToOverwrite) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  CertificateAuthority ca = MakeCa();
  absl::StatusOr<IssuedIdentity> id = ca.Issue("gw-a");
  ASSERT_TRUE(id.ok());
  const std::string key_path = dir.File("gw-a.key");
  const std::string cert_path = dir.File("gw-a.crt");

  // Modes are exact whatever the umask.
  mode_t old_umask = umask(077);
  absl::Status written =
      WriteKeyAndCertificate(key_path, id->key.get(), cert_path, id->certificate.get(), false);
  umask(old_umask);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(FileMode(key_path), 0600);
  EXPECT_EQ(FileMode(cert_path), 0644);

  const std::string pem = Contents(cert_path);
  absl::StatusOr<bssl::UniquePtr<X509>> reread = CertificateFromPem(pem);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(X509_cmp(reread->get(), id->certificate.get()), 0);
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = PrivateKeyFromPem(Contents(key_path));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(X509_check_private_key(id->certificate.get(), key->get()), 1);
  EXPECT_THAT(Contents(key_path), HasSubstr("-----BEGIN PRIVATE KEY-----"));

  // A second pair is refused and the first one is left as it was.
  absl::StatusOr<IssuedIdentity> second = ca.Issue("gw-a");
  ASSERT_TRUE(second.ok());
  absl::Status refused = WriteKeyAndCertificate(key_path, second->key.get(), cert_path,
                                                second->certificate.get(), false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(refused.message(), HasSubstr("gw-a.key already exists"));
  EXPECT_EQ(Contents(cert_path), pem);

  // So is a single file.
  absl::Status single = WriteFileAtomically(cert_path, "x", kCertificateFileMode, false);
  EXPECT_EQ(single.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Contents(cert_path), pem);

  // Overwriting is explicit.
  ASSERT_TRUE(WriteKeyAndCertificate(key_path, second->key.get(), cert_path,
                                     second->certificate.get(), true)
                  .ok());
  EXPECT_NE(Contents(cert_path), pem);
  EXPECT_EQ(FileMode(key_path), 0600);

  // No temporary file is left behind.
  EXPECT_THAT(DirectoryEntries(dir.path()), UnorderedElementsAre("gw-a.crt", "gw-a.key"));
}

TEST(PkiPemFilesTest, ReportsMissingAndMalformedInput) {
  TempDir dir;
  absl::StatusOr<std::string> missing = ReadFile(dir.File("nope.pem"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.pem"));
  EXPECT_EQ(CertificatesFromPem("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      PrivateKeyFromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").ok());

  absl::Status no_dir = WriteFileAtomically(dir.File("none/x.crt"), "x", 0644, false);
  EXPECT_EQ(no_dir.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_dir.message(), HasSubstr("none/x.crt"));

  CertificateAuthority a = MakeCa();
  CertificateAuthority b = MakeCa();
  std::string bundle = CertificateToPem(a.certificate()).value_or("") +
                       CertificateToPem(b.certificate()).value_or("");
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = CertificatesFromPem(bundle);
  ASSERT_TRUE(certs.ok());
  EXPECT_EQ(certs->size(), 2u);
  EXPECT_EQ(CertificateFromPem(bundle).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::pki
