// braidctl pki init | issue: make braid's private CA and gateway certificates.
//
// The layout of a PKI directory is fixed so that configs can point into it:
//   DIR/ca.crt, DIR/ca.key       the CA (pki init)
//   DIR/NAME.crt, DIR/NAME.key   gateway NAME (pki issue)
// Keys are written 0600, certificates 0644, each atomically; nothing that
// exists is replaced without --force.
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braidctl/command.h"
#include "pki/certificate_authority.h"
#include "pki/gateway_name.h"
#include "pki/pem_files.h"

namespace braid::ctl {
namespace {

constexpr char kCaBaseName[] = "ca";

struct PkiArgs {
  std::string dir;
  std::string name;
  int days = 0;
  bool force = false;
};

std::string PathIn(const std::string& dir, const std::string& file) {
  if (!dir.empty() && dir.back() == '/') return dir + file;
  return dir + "/" + file;
}

// Fail prints "braidctl pki COMMAND: MESSAGE" on stderr and returns the
// failure exit code; an existing file gets the --force hint.
int Fail(const char* command, const absl::Status& status) {
  std::cerr << "braidctl pki " << command << ": " << status.message();
  if (absl::IsAlreadyExists(status)) std::cerr << " (pass --force to replace it)";
  std::cerr << "\n";
  return kExitFailure;
}

// EnsureDirectory creates `dir` with mode 0700 if it does not exist: it will
// hold the CA key. An existing directory is used as it is.
absl::Status EnsureDirectory(const std::string& dir, bool* created) {
  *created = false;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(dir + " is not a directory");
    return absl::OkStatus();
  }
  if (mkdir(dir.c_str(), 0700) != 0) {
    return absl::InternalError("cannot create directory " + dir + ": " + strerror(errno));
  }
  *created = true;
  return absl::OkStatus();
}

int RunInit(const PkiArgs& args) {
  bool created = false;
  if (absl::Status s = EnsureDirectory(args.dir, &created); !s.ok()) return Fail("init", s);
  if (created) std::cout << "created " << args.dir << " (mode 0700)\n";
  pki::CaOptions options;
  options.validity_days = args.days;
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Create(options);
  if (!ca.ok()) return Fail("init", ca.status());
  const std::string key_path = PathIn(args.dir, std::string(kCaBaseName) + ".key");
  const std::string cert_path = PathIn(args.dir, std::string(kCaBaseName) + ".crt");
  if (absl::Status s = pki::WriteKeyAndCertificate(key_path, ca->key(), cert_path,
                                                   ca->certificate(), args.force);
      !s.ok()) {
    return Fail("init", s);
  }
  std::cout << "wrote " << key_path << " (CA private key, ECDSA P-256, mode 0600: keep it secret)\n"
            << "wrote " << cert_path << " (CA certificate \"" << pki::kDefaultCaCommonName
            << "\", valid until " << pki::NotAfterText(ca->certificate())
            << ", SHA-256 fingerprint " << pki::Fingerprint(ca->certificate()) << ")\n";
  return kExitOk;
}

int RunIssue(const PkiArgs& args) {
  const std::string ca_cert_path = PathIn(args.dir, std::string(kCaBaseName) + ".crt");
  const std::string ca_key_path = PathIn(args.dir, std::string(kCaBaseName) + ".key");
  absl::StatusOr<pki::CertificateAuthority> ca =
      pki::CertificateAuthority::LoadFiles(ca_cert_path, ca_key_path);
  if (!ca.ok()) {
    if (absl::IsNotFound(ca.status())) {
      std::cerr << "braidctl pki issue: " << ca.status().message() << " (run braidctl pki init "
                << args.dir << " first)\n";
      return kExitFailure;
    }
    return Fail("issue", ca.status());
  }
  pki::IssueOptions options;
  options.validity_days = args.days;
  absl::StatusOr<pki::IssuedIdentity> issued = ca->Issue(args.name, options);
  if (!issued.ok()) return Fail("issue", issued.status());
  const std::string key_path = PathIn(args.dir, args.name + ".key");
  const std::string cert_path = PathIn(args.dir, args.name + ".crt");
  if (absl::Status s = pki::WriteKeyAndCertificate(key_path, issued->key.get(), cert_path,
                                                   issued->certificate.get(), args.force);
      !s.ok()) {
    return Fail("issue", s);
  }
  std::cout << "wrote " << key_path << " (private key of " << args.name
            << ", ECDSA P-256, mode 0600)\n"
            << "wrote " << cert_path << " (certificate for " << args.name << " (DNS:" << args.name
            << ", server+client auth), signed by " << ca_cert_path << ", valid until "
            << pki::NotAfterText(issued->certificate.get()) << ")\n";
  return kExitOk;
}

// GatewayNameValidator rejects, as a usage error, a name the PKI would
// refuse, and "ca", whose files would collide with the CA's own.
CLI::Validator GatewayNameValidator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        if (absl::Status s = pki::ValidateGatewayName(name); !s.ok()) {
          return std::string(s.message());
        }
        if (name == kCaBaseName) {
          return "the name \"ca\" is reserved: DIR/ca.crt and DIR/ca.key are the CA's files";
        }
        return "";
      },
      "GATEWAY NAME");
}

}  // namespace

void AddPkiCommands(CLI::App& app, int& exit_code) {
  CLI::App* pki = app.add_subcommand("pki", "Make braid's private CA and gateway certificates");
  pki->require_subcommand(1, 1);

  auto init_args = std::make_shared<PkiArgs>();
  init_args->days = pki::kDefaultCaValidityDays;
  CLI::App* init = pki->add_subcommand(
      "init", "Create a CA: writes DIR/ca.crt and DIR/ca.key (DIR is created 0700 if missing)");
  init->add_option("DIR", init_args->dir, "PKI directory")->required();
  init->add_option("--days", init_args->days, "Validity of the CA certificate in days")
      ->check(CLI::Range(1, pki::kMaxValidityDays))
      ->capture_default_str();
  init->add_flag("--force", init_args->force, "Replace an existing ca.crt and ca.key");
  init->callback([init_args, &exit_code] { exit_code = RunInit(*init_args); });

  auto issue_args = std::make_shared<PkiArgs>();
  issue_args->days = pki::kDefaultCertificateValidityDays;
  CLI::App* issue = pki->add_subcommand(
      "issue",
      "Issue a certificate for gateway NAME: writes DIR/NAME.crt and DIR/NAME.key, signed by "
      "DIR/ca.crt and DIR/ca.key");
  issue->add_option("DIR", issue_args->dir, "PKI directory made by 'braidctl pki init'")
      ->required();
  issue
      ->add_option("NAME", issue_args->name,
                   "Gateway name, also its DNS subjectAltName (1-253 of A-Z a-z 0-9 . - _)")
      ->required()
      ->check(GatewayNameValidator());
  issue->add_option("--days", issue_args->days, "Validity of the certificate in days")
      ->check(CLI::Range(1, pki::kMaxValidityDays))
      ->capture_default_str();
  issue->add_flag("--force", issue_args->force, "Replace an existing NAME.crt and NAME.key");
  issue->callback([issue_args, &exit_code] { exit_code = RunIssue(*issue_args); });
}

}  // namespace braid::ctl
