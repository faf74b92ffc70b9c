// PolicyRegistry and GatewayRegistry on a real FileStore: versions numbered
// without gaps and read back after a restart, dry runs and invalid texts
// that store nothing, rollbacks as new versions; gateways' certificates
// recorded, revoked and refused.
#include <string>

#include "controller/registry/gateway_registry.h"
#include "controller/registry/policy_registry.h"
#include "controller/store/file_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/temp_dir.h"

namespace braid::controller {
namespace {

using ::testing::HasSubstr;

std::string Policy(const std::string& rule, int port) {
  return R"({"name": "p", "default": "deny", "rules": [{"id": ")" + rule +
         R"(", "action": "permit", "proto": "tcp", "dst_ports": [)" + std::to_string(port) + "]}]}";
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    Reopen();
  }
  // Reopen reads everything again from disk, as a restarted controller does.
  void Reopen() {
    policies_.reset();
    gateways_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(dir_.path() + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<PolicyRegistry>> policies = PolicyRegistry::Load(*store_);
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = *std::move(policies);
    absl::StatusOr<std::unique_ptr<GatewayRegistry>> gateways = GatewayRegistry::Load(*store_);
    ASSERT_TRUE(gateways.ok()) << gateways.status();
    gateways_ = *std::move(gateways);
  }

  braid::testing::TempDir dir_;
  std::unique_ptr<FileStore> store_;
  std::unique_ptr<PolicyRegistry> policies_;
  std::unique_ptr<GatewayRegistry> gateways_;
};

TEST_F(RegistryTest, VersionsAreNumberedStoredAndReadBack) {
  EXPECT_EQ(policies_->Current(), nullptr);
  absl::StatusOr<ApplyResult> first = policies_->Apply(Policy("a", 1), "admin", false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version, 1u);
  EXPECT_TRUE(first->stored);
  EXPECT_EQ(first->diff.added, std::vector<std::string>{"a"});

  absl::StatusOr<ApplyResult> dry = policies_->Apply(Policy("b", 2), "admin", true);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->version, 2u);
  EXPECT_FALSE(dry->stored);
  EXPECT_EQ(policies_->versions().size(), 1u);

  ASSERT_TRUE(policies_->Apply(Policy("b", 2), "ops", false).ok());
  absl::StatusOr<ApplyResult> back = policies_->Rollback(1, "admin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 3u);
  EXPECT_EQ(back->diff.removed, std::vector<std::string>{"b"});
  EXPECT_EQ(policies_->Rollback(9, "admin").status().code(), absl::StatusCode::kNotFound);

  Reopen();
  ASSERT_EQ(policies_->versions().size(), 3u);
  EXPECT_EQ(policies_->Current()->version, 3u);
  EXPECT_EQ(policies_->Current()->text, Policy("a", 1));
  EXPECT_EQ(policies_->Current()->origin, "rollback to 1");
  EXPECT_EQ(policies_->Find(2)->created_by, "ops");
}

TEST_F(RegistryTest, InvalidPolicyIsRefusedWithEveryErrorAndStoresNothing) {
  ASSERT_TRUE(policies_->Apply(Policy("a", 1), "admin", false).ok());
  absl::StatusOr<ApplyResult> bad = policies_->Apply(
      R"({"default": "deny", "rules": [{"id": "x", "action": "allow"}, {"id": "y", "dst_ports": [70000]}]})",
      "admin", false);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("allow"));
  EXPECT_THAT(bad.status().message(), HasSubstr("70000"));
  Reopen();
  EXPECT_EQ(policies_->versions().size(), 1u);
}

TEST_F(RegistryTest, TamperedRecordIsReportedAsDataLoss) {
  ASSERT_TRUE(policies_->Apply(Policy("a", 1), "admin", false).ok());
  ASSERT_TRUE(store_->Put("policy/v0000000002", "{\"version\": 7}").ok());
  policies_.reset();
  EXPECT_EQ(PolicyRegistry::Load(*store_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(RegistryTest, RevocationCoversEverySerialSeenAndSurvivesARestart) {
  ASSERT_TRUE(gateways_->Authenticate("gw-a", "aa01").ok());
  ASSERT_TRUE(gateways_->Authenticate("GW-A", "aa02").ok());  // names ignore case
  ASSERT_TRUE(gateways_->Authenticate("gw-b", "bb01").ok());
  absl::StatusOr<GatewayRecord*> b = gateways_->Authenticate("gw-b", "bb01");
  ASSERT_TRUE(b.ok());
  GatewayReport report;
  report.tunnel_port = 4433;
  ASSERT_TRUE(gateways_->Reported(**b, report, "127.0.0.2").ok());

  ASSERT_TRUE(gateways_->Revoke("gw-a").ok());
  EXPECT_EQ(gateways_->Revoke("gw-z").code(), absl::StatusCode::kNotFound);
  Reopen();
  for (const char* serial : {"aa01", "aa02", "aa03"}) {
    EXPECT_EQ(gateways_->Authenticate("gw-a", serial).status().code(), absl::StatusCode::kPermissionDenied) << serial;
  }
  ASSERT_EQ(gateways_->Revoked().size(), 1u);
  EXPECT_EQ(gateways_->Revoked()[0].serials, (std::vector<std::string>{"aa01", "aa02"}));
  // gw-b is gw-a's peer, with the address it reported; gw-a is nobody's.
  ASSERT_EQ(gateways_->Peers("gw-a").size(), 1u);
  EXPECT_EQ(gateways_->Peers("gw-a")[0].address, "127.0.0.2:4433");
  EXPECT_TRUE(gateways_->Peers("gw-b").empty());

  // Enrolling again brings the name back with a new certificate only.
  ASSERT_TRUE(gateways_->Enrolled("gw-a", "aa09").ok());
  EXPECT_TRUE(gateways_->Authenticate("gw-a", "aa09").ok());
  EXPECT_FALSE(gateways_->Authenticate("gw-a", "aa01").ok());
}

// Two controllers sharing one store, each with its own registry: a
// revocation through one and an address recorded through the other at the
// same time both stay (the second write is made over the first), and the
// stale one sees the revocation when it checks a certificate.
TEST_F(RegistryTest, ChangesThroughTwoControllersNeverOverwriteEachOther) {
  absl::StatusOr<GatewayRecord*> gw = gateways_->Authenticate("gw-a", "aa01");
  ASSERT_TRUE(gw.ok());
  absl::StatusOr<std::unique_ptr<GatewayRegistry>> other = GatewayRegistry::Load(*store_);
  ASSERT_TRUE(other.ok()) << other.status();

  ASSERT_TRUE(gateways_->Revoke("gw-a").ok());
  // The other has not read the revocation; it records gw-a's new address.
  GatewayRecord* stale = (*other)->Find("gw-a");
  ASSERT_NE(stale, nullptr);
  GatewayReport report;
  report.tunnel_port = 4433;
  ASSERT_TRUE((*other)->Reported(*stale, report, "127.0.0.9").ok());

  Reopen();
  const GatewayRecord* stored = gateways_->Find("gw-a");
  ASSERT_NE(stored, nullptr);
  EXPECT_TRUE(stored->revoked);
  EXPECT_EQ(stored->address, "127.0.0.9:4433");
  EXPECT_EQ(gateways_->Authenticate("gw-a", "aa01").status().code(), absl::StatusCode::kPermissionDenied);
  // A certificate the other has not seen: checked against the fresh record.
  EXPECT_EQ((*other)->Authenticate("gw-a", "aa05").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(GatewayApiTest, StateAndReportRoundTripAndUnknownKeysAreRefused) {
  GatewayState state;
  state.etag = "e1";
  state.policy_version = 3;
  state.policy_text = Policy("a", 1);
  state.peers = {{"gw-b", "127.0.0.1:4433"}};
  state.revoked = {{"gw-x", {"01", "02"}}};
  absl::StatusOr<GatewayState> parsed = ParseGatewayState(GatewayStateToJson(state).dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->policy_text, state.policy_text);
  EXPECT_EQ(parsed->peers, state.peers);
  EXPECT_EQ(parsed->revoked, state.revoked);

  nlohmann::json extra = GatewayStateToJson(state);
  extra["surprise"] = 1;
  EXPECT_THAT(ParseGatewayState(extra.dump()).status().message(), HasSubstr("surprise: unknown key"));
  EXPECT_FALSE(ParseGatewayState(R"({"etag": "e", "etag": "f"})").ok());

  // A state that leaves its peers out names the list it means; a gateway
  // completes it from the list it has, and only if it has that one.
  GatewayState slim = state;
  slim.peers_etag = PeersEtag(state.peers);
  slim.peers.clear();
  slim.peers_unchanged = true;
  absl::StatusOr<GatewayState> answer = ParseGatewayState(GatewayStateToJson(slim).dump());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(answer->peers_unchanged);
  GatewayState have = state;
  have.peers_etag = PeersEtag(state.peers);
  GatewayState completed = *answer;
  ASSERT_TRUE(KeepPeers(completed, have));
  EXPECT_EQ(completed.peers, state.peers);
  EXPECT_FALSE(completed.peers_unchanged);
  GatewayState other = have;
  other.peers_etag = PeersEtag({{"gw-c", "127.0.0.1:1"}});
  GatewayState refused = *answer;
  EXPECT_FALSE(KeepPeers(refused, other));
  EXPECT_NE(PeersEtag(state.peers), PeersEtag({}));
  nlohmann::json contradictory = GatewayStateToJson(slim);
  contradictory["peers"] = nlohmann::json::array({{{"name", "gw-b"}, {"address", "127.0.0.1:4433"}}});
  EXPECT_FALSE(ParseGatewayState(contradictory.dump()).ok());

  GatewayReport report;
  report.tunnel_port = 4433;
  report.rule_hits = {{"a", 5}, {"default", 1}};
  absl::StatusOr<GatewayReport> r = ParseGatewayReport(GatewayReportToJson(report).dump());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rule_hits, report.rule_hits);
  nlohmann::json bad = GatewayReportToJson(report);
  bad["tunnel_port"] = 70000;
  EXPECT_FALSE(ParseGatewayReport(bad.dump()).ok());
}

}  // namespace
}  // namespace braid::controller
