// braidctl enroll: a new gateway joins the fleet with a join token.
//
//   1. The token names the gateway and carries the CA's fingerprint.
//   2. The CA is fetched from the controller over TLS without verification
//      and accepted only if its fingerprint is the token's: from then on the
//      controller is verified like any other time (its certificate chains
//      to that CA and names the controller). The token's secret travels
//      only on that verified connection.
//   3. The private key is made here and never leaves the machine; the
//      controller gets a CSR and answers with the certificate.
//   4. DIR/NAME.key (0600), DIR/NAME.crt and DIR/ca.crt are written, none
//      of them over an existing file.
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "braidctl/command.h"
#include "controller/api/control_client.h"
#include "controller/api/control_tls.h"
#include "controller/enrollment/join_token.h"
#include "nlohmann/json.hpp"
#include "pki/certificate_authority.h"
#include "pki/pem_files.h"

namespace braid::ctl {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> Call(const controller::ClientTlsOptions& tls_options, const std::string& address,
                          boost::beast::http::verb verb, const std::string& target, const std::string& body) {
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> tls = controller::MakeClientTls(tls_options);
  if (!tls.ok()) return tls.status();
  absl::StatusOr<controller::ControlResponse> response =
      controller::RequestBlocking(*std::move(tls), address, verb, target, body, std::chrono::seconds(30));
  if (!response.ok()) return response.status();
  if (absl::Status s = controller::ErrorFromResponse(*response); !s.ok()) return s;
  json parsed = json::parse(response->body, nullptr, false);
  if (!parsed.is_object()) return absl::DataLossError("the controller's answer is not a JSON object");
  return parsed;
}

absl::Status Enroll(const std::string& address, const std::string& token_text, const std::string& out_dir,
                    const std::string& controller_name) {
  absl::StatusOr<controller::JoinToken> token = controller::ParseJoinToken(token_text);
  if (!token.ok()) return token.status();
  const std::string& name = token->gateway_name;
  const std::filesystem::path dir(out_dir);
  const std::string key_path = (dir / (name + ".key")).string();
  const std::string cert_path = (dir / (name + ".crt")).string();
  const std::string ca_path = (dir / "ca.crt").string();
  // Refuse before the token is spent.
  for (const std::string& path : {key_path, cert_path, ca_path}) {
    if (std::filesystem::exists(path)) return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
  }

  controller::ClientTlsOptions fetch;
  fetch.verify_server = false;
  absl::StatusOr<json> ca_answer = Call(fetch, address, boost::beast::http::verb::get, "/v1/ca", "");
  if (!ca_answer.ok()) return ca_answer.status();
  if (!ca_answer->contains("ca") || !(*ca_answer)["ca"].is_string()) {
    return absl::DataLossError("the controller sent no CA");
  }
  const std::string ca_pem = (*ca_answer)["ca"].get<std::string>();
  absl::StatusOr<bssl::UniquePtr<X509>> ca = pki::CertificateFromPem(ca_pem);
  if (!ca.ok()) return absl::DataLossError(absl::StrCat("the controller's CA: ", ca.status().message()));
  if (pki::Fingerprint(ca->get()) != token->ca_fingerprint) {
    return absl::PermissionDeniedError(absl::StrCat("the controller at ", address, " has CA fingerprint ",
                                                    pki::Fingerprint(ca->get()), ", the token expects ",
                                                    token->ca_fingerprint, ": not the controller that made the token"));
  }

  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::MakeCsrPem(key->get(), name);
  if (!csr.ok()) return csr.status();
  controller::ClientTlsOptions verified;
  verified.ca_pem = ca_pem;
  verified.server_name = controller_name;
  absl::StatusOr<json> answer = Call(verified, address, boost::beast::http::verb::post, "/v1/enroll",
                                     json{{"token", token_text}, {"csr", *csr}}.dump());
  if (!answer.ok()) return answer.status();
  if (!answer->contains("certificate") || !(*answer)["certificate"].is_string()) {
    return absl::DataLossError("the controller sent no certificate");
  }
  absl::StatusOr<bssl::UniquePtr<X509>> cert = pki::CertificateFromPem((*answer)["certificate"].get<std::string>());
  if (!cert.ok()) return absl::DataLossError(absl::StrCat("the certificate: ", cert.status().message()));
  if (absl::Status s = pki::VerifyCertificate(cert->get(), ca->get()); !s.ok()) return s;
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return absl::DataLossError("the certificate is not for the key sent");
  }
  std::filesystem::create_directories(dir);
  if (absl::Status s = pki::WriteKeyAndCertificate(key_path, key->get(), cert_path, cert->get(), false); !s.ok()) {
    return s;
  }
  if (absl::Status s = pki::WriteFileAtomically(ca_path, ca_pem, 0644, false); !s.ok()) return s;
  std::cout << "enrolled as gateway " << name << ": wrote " << key_path << ", " << cert_path << " and " << ca_path
            << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddEnrollCommand(CLI::App& app, int& exit_code) {
  CLI::App* enroll = app.add_subcommand("enroll", "Join the fleet: make a key here and get its certificate with a token");
  static std::string address, token, out, controller_name = "controller";
  enroll->add_option("--controller", address, "Controller address HOST:PORT")->required();
  enroll->add_option("--token", token, "Join token from `braidctl token create`")->required();
  enroll->add_option("--out", out, "Directory for NAME.key, NAME.crt and ca.crt")->required();
  enroll->add_option("--controller-name", controller_name, "Name in the controller's certificate")
      ->default_val("controller");
  enroll->callback([&exit_code] {
    if (absl::Status s = Enroll(address, token, out, controller_name); !s.ok()) {
      std::cerr << "braidctl enroll: " << s.message() << "\n";
      exit_code = kExitFailure;
    }
  });
}

}  // namespace braid::ctl
