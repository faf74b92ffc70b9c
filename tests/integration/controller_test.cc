// The controller with real processes: braid-controller, two managed
// braid-proxy gateways enrolled with join tokens through the real braidctl,
// and flows between them checked end to end:
//   - a pushed policy is enforced on new and live flows within 2 seconds,
//     on both gateways; the fleet view and the rule statistics follow;
//   - tokens work once, expire, and cannot be forged or used against
//     another CA; a gateway cannot act under another's name;
//   - the admin API refuses gateway certificates and strangers;
//   - a revoked gateway loses its tunnels and its handshakes;
//   - with the controller killed (SIGKILL), gateways keep enforcing, a
//     gateway restarted meanwhile starts from its kept policy, and the
//     restarted controller has every version and pushes again;
//   - SIGKILL in the middle of applies leaves the store intact;
//   - an invalid policy is refused with the engine's errors, and nothing
//     changes.
#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/controller.h"
#include "integration/support/gateway_pair_test.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// The issue's bound for a pushed policy to reach both gateways.
constexpr Millis kPushDeadline(2'000);

class ControllerTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    GatewayPairTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(IssueCert(Path("pki"), "controller", dir_.path()));
    ASSERT_TRUE(IssueCert(Path("pki"), "admin", dir_.path()));
    std::filesystem::create_directories(Path("ctl"));
    controller_ = std::make_unique<ControllerProcess>(Path("ctl"), Path("pki"));
    ASSERT_TRUE(controller_->Start());
    sink_ = std::make_unique<TcpServer>(DrainHandler(&received_, Millis(30'000)));
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "---- controller log ----\n" << controller_->Log();
    GatewayPairTest::TearDown();
  }

  // Enroll makes a token for `name` and enrolls it into DIR/enrolled-NAME.
  void Enroll(const std::string& name) {
    const std::string token = controller_->Token(name);
    ASSERT_FALSE(token.empty());
    RunResult r = controller_->Enroll(token, Path("enrolled-" + name));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("enrolled as gateway " + name));
  }

  nlohmann::json Managed(nlohmann::json config, const std::string& name) {
    return ManagedGatewayConfig(std::move(config), name, controller_->address());
  }

  // StartManagedPair enrolls and starts gw-cloud, then gw-onprem with its
  // service "sink" to this test's sink through gw-cloud. With
  // `cloud_in_file`, gw-onprem's config also names gw-cloud's address
  // itself (a file entry wins over the controller's).
  void StartManagedPair(bool cloud_in_file = false) {
    Enroll(kCloud);
    Enroll(kOnprem);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(StartCloud(Managed(CloudConfig(), kCloud)));
    nlohmann::json onprem = Managed(OnpremConfig(1, sink_->port()), kOnprem);
    if (cloud_in_file) {
      onprem["peers"] = {{{"name", kCloud}, {"address", "127.0.0.1:" + std::to_string(cloud_->tunnel_port())}}};
    }
    ASSERT_TRUE(StartOnprem(onprem));
    // Each reports, and so learns where the other is.
    ASSERT_TRUE(WaitConnected({kOnprem, kCloud}));
  }

  // Apply runs `braidctl policy apply` on `policy` (written to NAME.json).
  RunResult Apply(const nlohmann::json& policy, const std::string& name, bool dry_run = false) {
    WritePolicy(name + ".json", policy);
    std::vector<std::string> args = {"policy", "apply", Path(name + ".json")};
    if (dry_run) args.push_back("--dry-run");
    return controller_->Ctl(args);
  }

  // Fleet returns `braidctl gateways --json`'s entry for `name`.
  nlohmann::json FleetEntry(const std::string& name) {
    nlohmann::json fleet = controller_->CtlJson({"gateways"});
    if (fleet.is_null()) return nullptr;
    for (const auto& g : fleet["gateways"]) {
      if (g["name"] == name) return g;
    }
    return nullptr;
  }

  ::testing::AssertionResult WaitConnected(const std::vector<std::string>& names) {
    const Deadline deadline = After(Millis(10'000));
    for (;;) {
      bool all = true;
      for (const std::string& name : names) {
        nlohmann::json g = FleetEntry(name);
        all = all && !g.is_null() && g["connected"] == true && !g["address"].get<std::string>().empty();
      }
      if (all) return ::testing::AssertionSuccess();
      if (Clock::now() >= deadline) return ::testing::AssertionFailure() << "gateways not connected in time";
      std::this_thread::sleep_for(Millis(100));
    }
  }

  // ExpectApplied waits for both gateways to log that they run `version`.
  void ExpectApplied(uint64_t version, Millis within = kPushDeadline) {
    const std::string line = "controller: policy version " + std::to_string(version) + " applied";
    EXPECT_TRUE(onprem_->WaitForLog(line, within));
    EXPECT_TRUE(cloud_->WaitForLog(line, within));
  }

  // TransferOk sends `size` bytes through the service and checks them.
  void ExpectTransferIntact(uint64_t seed, uint64_t size) {
    const size_t before = received_.Values().size();
    OneWayResult r = SendAndClose(service_port(), seed, size, Millis(30'000));
    ASSERT_EQ(r.sent.bytes, size) << DescribeOneWay(r);
    ASSERT_TRUE(received_.WaitFor(before + 1, After(Millis(30'000))));
    const ReceiveResult got = received_.Values()[before];
    EXPECT_EQ(got.end, StreamEnd::kEof);
    EXPECT_EQ(got.sha256, PatternDigest(seed, size));
  }

  void ExpectRefused() {
    OneWayResult r = SendAndClose(service_port(), 7, 64 * 1024, Millis(10'000));
    EXPECT_TRUE(SourceSawReset(r)) << DescribeOneWay(r);
  }

  std::unique_ptr<ControllerProcess> controller_;
  Collector<ReceiveResult> received_;
  std::unique_ptr<TcpServer> sink_;
};

TEST_F(ControllerTest, PushedPolicyIsEnforcedOnNewAndLiveFlowsOnBothGateways) {
  StartManagedPair();
  ASSERT_FALSE(HasFatalFailure());

  // No policy anywhere yet: everything is denied.
  ExpectRefused();

  RunResult applied = Apply(PermitPolicy(sink_->port()), "permit");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("+ rule permit-sink"));
  EXPECT_THAT(applied.out, HasSubstr("stored as version 1"));
  ExpectApplied(1);
  ExpectTransferIntact(11, 8 * kMiB);

  // A dry run shows the change and stores nothing.
  RunResult dry = Apply(DenyPolicy(sink_->port(), "deny-sink"), "deny", /*dry_run=*/true);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("+ rule deny-sink"));
  EXPECT_THAT(dry.out, HasSubstr("would be stored as version 2"));
  EXPECT_EQ(controller_->CtlJson({"policy", "history"})["versions"].size(), 1u);

  // A live flow that the next version denies is aborted on both gateways.
  // Version 2 adds a rule that never matches (for the statistics below).
  nlohmann::json both = PermitPolicy(sink_->port());
  both["rules"].push_back({{"id", "permit-unused"}, {"action", "permit"}, {"proto", "tcp"},
                           {"dst", {"127.0.0.1"}}, {"dst_ports", {1}}});
  ASSERT_EQ(Apply(both, "both").exit_code, 0);
  ExpectApplied(2);
  std::atomic<bool> stop{false};
  Socket source = Connect(service_port(), After(Millis(10'000)));
  ASSERT_TRUE(source.valid());
  SendResult sent;
  std::thread sender([&] {
    SendOptions options;
    options.seed = 3;
    options.size = UINT64_MAX;
    options.stop = &stop;
    sent = SendPattern(source, options, After(Millis(30'000)));
  });
  // Let it run a little, then deny it.
  std::this_thread::sleep_for(Millis(300));
  ASSERT_EQ(Apply(DenyPolicy(sink_->port(), "deny-sink"), "deny").exit_code, 0);
  const auto stored = Clock::now();
  ExpectApplied(3);
  sender.join();
  const auto aborted_after = std::chrono::duration_cast<Millis>(Clock::now() - stored);
  EXPECT_TRUE(SawReset(sent)) << "sent " << sent.bytes << " error " << sent.error;
  EXPECT_LT(aborted_after, kPushDeadline) << "the source saw the abort late";
  EXPECT_TRUE(onprem_->WaitForLog("end=policy_revoked", kPushDeadline));
  EXPECT_TRUE(cloud_->WaitForLog("end=policy_revoked", kPushDeadline));
  ExpectRefused();

  // The fleet view: both connected, both on version 3.
  for (const char* name : {kOnprem, kCloud}) {
    const Deadline deadline = After(Millis(5'000));
    nlohmann::json g;
    do {
      g = FleetEntry(name);
    } while ((g.is_null() || g["policy_version"] != 3) && Clock::now() < deadline &&
             (std::this_thread::sleep_for(Millis(100)), true));
    ASSERT_FALSE(g.is_null()) << name;
    EXPECT_EQ(g["connected"], true) << g.dump();
    EXPECT_EQ(g["policy_version"], 3) << g.dump();
    EXPECT_EQ(g["policy_error"], "") << g.dump();
  }
  // Statistics: the permit rule admitted the transfer on both sides, the
  // deny rule refused since; permit-unused never matched.
  {
    const Deadline deadline = After(Millis(10'000));
    nlohmann::json stats;
    auto hits = [&](const std::string& rule) -> uint64_t {
      for (const auto& r : stats["rules"]) {
        if (r["rule"] == rule) return r["total"].get<uint64_t>();
      }
      return 0;
    };
    do {
      stats = controller_->CtlJson({"policy", "stats"});
    } while ((hits("deny-sink") == 0 || hits("permit-sink") < 2) && Clock::now() < deadline &&
             (std::this_thread::sleep_for(Millis(200)), true));
    EXPECT_GE(hits("permit-sink"), 2u) << stats.dump(2);
    EXPECT_GE(hits("deny-sink"), 1u) << stats.dump(2);
    EXPECT_EQ(hits("permit-unused"), 0u) << stats.dump(2);
  }

  // History, get and rollback.
  nlohmann::json history = controller_->CtlJson({"policy", "history"});
  ASSERT_EQ(history["versions"].size(), 3u);
  EXPECT_EQ(history["versions"][2]["created_by"], "admin");
  RunResult get = controller_->Ctl({"policy", "get", "--version", "1"});
  EXPECT_THAT(get.out, HasSubstr("permit-sink"));
  EXPECT_THAT(get.out, Not(HasSubstr("deny-sink")));
  RunResult rollback = controller_->Ctl({"policy", "rollback", "1"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  EXPECT_THAT(rollback.out, HasSubstr("- rule deny-sink"));
  ExpectApplied(4);
  ExpectTransferIntact(12, 1 * kMiB);
  EXPECT_EQ(controller_->CtlJson({"policy", "history"})["versions"][3]["origin"], "rollback to 1");
}

TEST_F(ControllerTest, ManagedGatewayConfigPassesCheckWithoutAPolicy) {
  Enroll(kOnprem);
  ASSERT_FALSE(HasFatalFailure());
  const std::string path = Path("managed.json");
  ASSERT_TRUE(WriteFileAtomically(path, Managed(OnpremConfig(1, sink_->port()), kOnprem).dump(2)));
  RunResult check = RunToExit({kBraidProxy, "--config", path, "--check"}, dir_.path());
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("configuration and identity are valid (policy from the controller at"));
  // Control: the same config naming a policy file too is refused.
  nlohmann::json both = Managed(OnpremConfig(1, sink_->port()), kOnprem);
  both["policy"] = {{"file", "whatever.json"}};
  ASSERT_TRUE(WriteFileAtomically(path, both.dump(2)));
  RunResult refused = RunToExit({kBraidProxy, "--config", path, "--check"}, dir_.path());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("not with \"controller\""));
}

TEST_F(ControllerTest, InvalidPolicyIsRefusedWithTheEnginesErrorsAndNothingChanges) {
  StartManagedPair();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Apply(PermitPolicy(sink_->port()), "permit").exit_code, 0);
  ExpectApplied(1);

  nlohmann::json bad = PermitPolicy(sink_->port());
  bad["rules"][0]["dst_ports"] = {70000};
  bad["rules"].push_back({{"id", "permit-sink"}, {"action", "allow"}});
  WritePolicy("bad.json", bad);
  RunResult check = RunToExit({kBraidctl, "policy", "check", Path("bad.json")}, dir_.path());
  ASSERT_EQ(check.exit_code, 1);
  RunResult apply = controller_->Ctl({"policy", "apply", Path("bad.json")});
  EXPECT_EQ(apply.exit_code, 1);
  EXPECT_EQ(apply.err, check.err) << "apply reports exactly what check reports";
  EXPECT_EQ(controller_->CtlJson({"policy", "history"})["versions"].size(), 1u);
  // The gateways were not asked to change: still version 1, still carrying.
  ExpectTransferIntact(21, 1 * kMiB);
  EXPECT_EQ(onprem_->CountInLog("controller: policy version 2"), 0);
}

TEST_F(ControllerTest, TokensWorkOnceExpireAndCannotBeForged) {
  const std::string token = controller_->Token("gw-new");
  ASSERT_FALSE(token.empty());
  RunResult first = controller_->Enroll(token, Path("first"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  for (const char* file : {"gw-new.crt", "gw-new.key", "ca.crt"}) {
    EXPECT_TRUE(std::filesystem::exists(Path(std::string("first/") + file))) << file;
  }
  EXPECT_EQ(std::filesystem::status(Path("first/gw-new.key")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  RunResult again = controller_->Enroll(token, Path("again"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already used"));
  EXPECT_FALSE(std::filesystem::exists(Path("again/gw-new.key")));

  const std::string short_lived = controller_->Token("gw-late", "1s");
  std::this_thread::sleep_for(Millis(2'100));
  RunResult late = controller_->Enroll(short_lived, Path("late"));
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_THAT(late.err, HasSubstr("expired"));

  // Forged: a secret the controller never issued (one hex digit changed).
  std::string forged = controller_->Token("gw-forged");
  forged[8] = forged[8] == 'a' ? 'b' : 'a';
  RunResult f = controller_->Enroll(forged, Path("forged"));
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_THAT(f.err, HasSubstr("not valid"));

  // Another CA: the token's fingerprint names a CA this controller does
  // not have, and braidctl stops before it sends the token.
  ASSERT_TRUE(MakeCa(Path("other-ca"), dir_.path()));
  std::string other = controller_->Token("gw-other");
  const size_t fp = other.find(':', other.find(':') + 1) + 1;
  other.replace(fp, 64, std::string(64, 'e'));
  RunResult o = controller_->Enroll(other, Path("other"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("not the controller that made the token"));
  // Malformed.
  RunResult m = controller_->Enroll("braid1:nothex", Path("malformed"));
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_THAT(m.err, HasSubstr("token"));
}

TEST_F(ControllerTest, AdminApiRefusesGatewaysAndStrangers) {
  // A gateway's certificate from the same CA: authenticated, not an admin.
  RunResult gw = controller_->Ctl({"gateways"}, kOnprem);
  EXPECT_EQ(gw.exit_code, 1);
  EXPECT_THAT(gw.err, HasSubstr("not an admin"));
  RunResult token = controller_->Ctl({"token", "create", "gw-x"}, kOnprem);
  EXPECT_EQ(token.exit_code, 1);
  // A certificate named admin from another CA: refused in the handshake.
  ASSERT_TRUE(MakeCa(Path("other"), dir_.path()));
  ASSERT_TRUE(IssueCert(Path("other"), "admin", dir_.path()));
  RunResult stranger = RunToExit({kBraidctl, "gateways", "--controller", controller_->address(), "--cert",
                                  Path("other/admin.crt"), "--key", Path("other/admin.key"), "--ca",
                                  Path("pki/ca.crt")},
                                 dir_.path());
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_TRUE(controller_->WaitForLog("handshake with 127.0.0.1 failed", Millis(5'000)));
  // A gateway cannot act under another gateway's name: its certificate is
  // its name, and a gateway configured as gw-cloud with gw-onprem's
  // certificate does not start.
  ASSERT_TRUE(WriteDefaultPolicies(sink_->port()));
  nlohmann::json impostor = CloudConfig();
  impostor["identity"] = {{"cert", "pki/gw-onprem.crt"}, {"key", "pki/gw-onprem.key"}, {"ca", "pki/ca.crt"}};
  GatewayProcess fake(kCloud, dir_.path(), impostor);
  EXPECT_FALSE(fake.Start(Millis(10'000)));
  EXPECT_THAT(fake.Log(), HasSubstr("identity.cert names gateway \"gw-onprem\", but this gateway is \"gw-cloud\""));
}

TEST_F(ControllerTest, RevokedGatewayLosesItsTunnelsAndHandshakes) {
  // gw-onprem knows gw-cloud's address from its own file, so that it keeps
  // dialing it after the revocation: the handshake itself must refuse it.
  StartManagedPair(/*cloud_in_file=*/true);
  ASSERT_FALSE(HasFatalFailure());
  const std::string unused_token = controller_->Token(kCloud);
  ASSERT_EQ(Apply(PermitPolicy(sink_->port()), "permit").exit_code, 0);
  ExpectApplied(1);
  ExpectTransferIntact(31, 1 * kMiB);  // the tunnel is up

  RunResult revoke = controller_->Ctl({"gateways", "revoke", kCloud});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("revoked gateway gw-cloud"));
  EXPECT_TRUE(onprem_->WaitForLog("closed: gateway gw-cloud revoked by the controller", kPushDeadline));
  // A new flow needs a new tunnel, and gw-cloud's certificate is refused in
  // the handshake.
  ExpectRefused();
  EXPECT_TRUE(onprem_->WaitForLog("its certificate is revoked by the controller", Millis(5'000)));
  // The controller refuses gw-cloud from now on, and its unused token.
  EXPECT_TRUE(controller_->WaitForLog("refused gateway gw-cloud", Millis(15'000)));
  nlohmann::json g = FleetEntry(kCloud);
  EXPECT_EQ(g["revoked"], true) << g.dump();
  EXPECT_EQ(g["connected"], false) << g.dump();
  RunResult reenroll = controller_->Enroll(unused_token, Path("reenroll"));
  EXPECT_EQ(reenroll.exit_code, 1);
  EXPECT_THAT(reenroll.err, HasSubstr("not valid"));
}

TEST_F(ControllerTest, GatewaysKeepEnforcingWithoutTheControllerAndCatchUp) {
  StartManagedPair();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Apply(PermitPolicy(sink_->port()), "permit").exit_code, 0);
  ExpectApplied(1);

  controller_->Kill();
  ExpectTransferIntact(41, 2 * kMiB);
  EXPECT_TRUE(onprem_->WaitForLog("the last applied policy stays enforced", Millis(15'000)));

  // Restarted while the controller is down: starts from the kept state.
  onprem_->Stop();
  nlohmann::json config = onprem_->config();
  onprem_.reset();
  ASSERT_TRUE(StartOnprem(config));
  EXPECT_TRUE(onprem_->WaitForLog("starting from the controller state kept", Millis(5'000)));
  ExpectTransferIntact(42, 2 * kMiB);

  // The controller returns with every version, and pushes again.
  ASSERT_TRUE(controller_->Start());
  EXPECT_EQ(controller_->CtlJson({"policy", "history"})["versions"].size(), 1u);
  ASSERT_EQ(Apply(DenyPolicy(sink_->port(), "deny-sink"), "deny").exit_code, 0);
  // Within the gateways' backoff (at most a few seconds after a short outage).
  ExpectApplied(2, Millis(35'000));
  ExpectRefused();
}

TEST_F(ControllerTest, KillDuringAppliesLeavesTheStoreIntact) {
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::atomic<int> acknowledged{0};
    std::thread applier([&] {
      for (int i = 0; !stop.load(); ++i) {
        nlohmann::json policy = PermitPolicy(static_cast<uint16_t>(1000 + i));
        const std::string file = Path("p" + std::to_string(round) + "-" + std::to_string(i) + ".json");
        WriteFileAtomically(file, policy.dump());
        RunResult r = controller_->Ctl({"policy", "apply", file});
        if (r.exit_code == 0) ++acknowledged;
      }
    });
    std::this_thread::sleep_for(Millis(1'500 + 500 * round));
    controller_->Kill();
    stop.store(true);
    applier.join();
    ASSERT_TRUE(controller_->Start()) << "round " << round;
    nlohmann::json history = controller_->CtlJson({"policy", "history"});
    ASSERT_TRUE(history.contains("versions"));
    const auto& versions = history["versions"];
    // Every acknowledged apply is there; numbered without gaps; each one
    // readable.
    EXPECT_GE(static_cast<int>(versions.size()), acknowledged.load()) << "round " << round;
    for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i]["version"], i + 1);
    RunResult last = controller_->Ctl({"policy", "get"});
    EXPECT_EQ(last.exit_code, 0) << last.err;
  }
}

}  // namespace
}  // namespace braid::integration
