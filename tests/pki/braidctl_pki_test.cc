// Runs the real braidctl binary: `braidctl pki init` and `braidctl pki issue`,
// their files and modes, exit codes (0 ok, 1 failure, 2 usage) and help.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_authority.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"
#include "pki/temp_dir.h"
#include "sanitizers/sanitizer_report.h"

extern char** environ;

namespace braid::pki {
namespace {

using ::braid::testing::FileMode;
using ::braid::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Contents returns the file's contents, or a marker that matches nothing.
std::string Contents(const std::string& path) { return ReadFile(path).value_or("<unreadable>"); }

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class BraidctlPkiTest : public ::testing::Test {
 protected:
  // Run runs braidctl with `args`, its stdout and stderr going to files in
  // the temporary directory.
  Result Run(const std::vector<std::string>& args) {
    const std::string out_path = tmp_.File("stdout");
    const std::string err_path = tmp_.File("stderr");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    std::vector<std::string> argv_strings = {BRAIDCTL_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    Result result;
    int rc = posix_spawn(&pid, BRAIDCTL_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "cannot run " << BRAIDCTL_PATH;
    if (rc != 0) return result;
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadFile(out_path).value_or("");
    result.err = ReadFile(err_path).value_or("");
    if (std::string report = ::braid::sanitizers::SanitizerReport(result.err); !report.empty()) {
      ADD_FAILURE() << "braidctl printed a sanitizer report:\n" << report;
    }
    return result;
  }

  std::string Pki(const std::string& name) const { return tmp_.File("pki/" + name); }
  std::string PkiDir() const { return tmp_.File("pki"); }

  TempDir tmp_;
};

TEST_F(BraidctlPkiTest, InitCreatesThePkiDirectoryAndTheCa) {
  Result r = Run({"pki", "init", PkiDir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(r.out, HasSubstr("wrote " + Pki("ca.key")));
  EXPECT_THAT(r.out, HasSubstr("wrote " + Pki("ca.crt")));
  EXPECT_EQ(FileMode(PkiDir()), 0700);
  EXPECT_EQ(FileMode(Pki("ca.key")), 0600);
  EXPECT_EQ(FileMode(Pki("ca.crt")), 0644);
  absl::StatusOr<CertificateAuthority> ca =
      CertificateAuthority::LoadFiles(Pki("ca.crt"), Pki("ca.key"));
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_THAT(r.out, HasSubstr(Fingerprint(ca->certificate())));
}

TEST_F(BraidctlPkiTest, IssueWritesACertificateSignedByTheCa) {
  ASSERT_EQ(Run({"pki", "init", PkiDir()}).exit_code, 0);
  Result r = Run({"pki", "issue", PkiDir(), "gw-onprem", "--days", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(r.out, HasSubstr("wrote " + Pki("gw-onprem.key")));
  EXPECT_THAT(r.out, HasSubstr("wrote " + Pki("gw-onprem.crt")));
  EXPECT_EQ(FileMode(Pki("gw-onprem.key")), 0600);
  EXPECT_EQ(FileMode(Pki("gw-onprem.crt")), 0644);

  absl::StatusOr<CertificateAuthority> ca =
      CertificateAuthority::LoadFiles(Pki("ca.crt"), Pki("ca.key"));
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<bssl::UniquePtr<X509>> cert = CertificateFromPem(Contents(Pki("gw-onprem.crt")));
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(VerifyCertificate(cert->get(), ca->certificate()).ok());
  EXPECT_EQ(CertificateGatewayName(cert->get()).value_or(""), "gw-onprem");
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = PrivateKeyFromPem(Contents(Pki("gw-onprem.key")));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(X509_check_private_key(cert->get(), key->get()), 1);
}

TEST_F(BraidctlPkiTest, RefusesToOverwriteWithoutForce) {
  ASSERT_EQ(Run({"pki", "init", PkiDir()}).exit_code, 0);
  const std::string ca_pem = Contents(Pki("ca.crt"));
  Result again = Run({"pki", "init", PkiDir()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_THAT(again.out, IsEmpty());
  EXPECT_EQ(Contents(Pki("ca.crt")), ca_pem);

  ASSERT_EQ(Run({"pki", "issue", PkiDir(), "gw-a"}).exit_code, 0);
  const std::string gw_pem = Contents(Pki("gw-a.crt"));
  Result issue_again = Run({"pki", "issue", PkiDir(), "gw-a"});
  EXPECT_EQ(issue_again.exit_code, 1);
  EXPECT_THAT(issue_again.err, HasSubstr("gw-a.key already exists"));
  EXPECT_EQ(Contents(Pki("gw-a.crt")), gw_pem);

  Result forced = Run({"pki", "issue", PkiDir(), "gw-a", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(Contents(Pki("gw-a.crt")), gw_pem);
  EXPECT_EQ(FileMode(Pki("gw-a.key")), 0600);

  Result init_forced = Run({"pki", "init", PkiDir(), "--force"});
  EXPECT_EQ(init_forced.exit_code, 0) << init_forced.err;
  EXPECT_NE(Contents(Pki("ca.crt")), ca_pem);
}

TEST_F(BraidctlPkiTest, BadArgumentsAreUsageErrors) {
  ASSERT_EQ(Run({"pki", "init", PkiDir()}).exit_code, 0);
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"pki", "issue", PkiDir(), "gw onprem"}, "invalid gateway name"},
      {{"pki", "issue", PkiDir(), "../evil"}, "'/' at position 3"},
      {{"pki", "issue", PkiDir(), "ca"}, "reserved"},
      {{"pki", "issue", PkiDir()}, "NAME"},
      {{"pki", "issue", PkiDir(), "gw", "--days", "0"}, "--days"},
      {{"pki", "init", PkiDir(), "--days", "many"}, "--days"},
      {{"pki"}, "subcommand"},
      {{"pki", "init"}, "DIR"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args.back() << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << c.args.back();
  }
  EXPECT_EQ(FileMode(tmp_.File("evil.key")), -1);
}

TEST_F(BraidctlPkiTest, FailuresExitOne) {
  Result no_ca = Run({"pki", "issue", PkiDir(), "gw-a"});
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_THAT(no_ca.err, HasSubstr("ca.crt"));
  EXPECT_THAT(no_ca.err, HasSubstr("braidctl pki init"));

  Result no_parent = Run({"pki", "init", tmp_.File("missing/pki")});
  EXPECT_EQ(no_parent.exit_code, 1);
  EXPECT_THAT(no_parent.err, HasSubstr("cannot create directory"));

  ASSERT_EQ(Run({"pki", "init", PkiDir(), "--days", "10"}).exit_code, 0);
  Result outlives = Run({"pki", "issue", PkiDir(), "gw-a"});
  EXPECT_EQ(outlives.exit_code, 1);
  EXPECT_THAT(outlives.err, HasSubstr("outlive the CA"));
}

TEST_F(BraidctlPkiTest, EveryCommandHasHelp) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"pki", "--help"}, {"pki", "init", "--help"}, {"pki", "issue", "--help"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << args[1];
    EXPECT_THAT(r.out, HasSubstr("Usage")) << args[1];
  }
  Result issue_help = Run({"pki", "issue", "--help"});
  EXPECT_THAT(issue_help.out, HasSubstr("--force"));
  EXPECT_THAT(issue_help.out, HasSubstr("--days"));
  EXPECT_THAT(issue_help.out, HasSubstr("NAME"));
}

}  // namespace
}  // namespace braid::pki
