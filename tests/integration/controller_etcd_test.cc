// braid-controller with its state on etcd (controller.etcd, EtcdStore),
// real processes:
//   - policies applied through one controller, which is then killed
//     (SIGKILL) while applies are running, are all there, numbered without
//     gaps, for another controller process started on the same etcd (a
//     standby taking over), and through the first again;
//   - enrolled gateways are there too;
//   - two controllers serving at once on one etcd: a policy applied through
//     one reaches gateways connected to the other (its follower wakes their
//     held polls) within 2 s, and data flows under it; a token made
//     through one enrolls through the other, once; applies racing through
//     both never both win a version: each is stored or refused as a
//     conflict (409), and both controllers end with the same history,
//     numbered without gaps, holding exactly the applies acknowledged;
//   - gateways and braidctl given both controllers move to the other when
//     one is killed: the next policy, applied through the survivor,
//     reaches the gateways within 5 s and is enforced;
//   - etcd of three members with one killed: every acknowledged version is
//     there, and a policy change still goes through;
//   - the fleet bench's simulator, small: 30 gateways over two controllers
//     all get a push, also with one controller killed during it;
//   - with etcd down, a controller refuses to start and says why, rather
//     than serve without its state;
//   - a config with both state_dir and etcd, or a member that is not on
//     loopback, is refused at start with a precise error.
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/controller.h"
#include "integration/support/etcd.h"
#include "integration/support/gateway_pair_test.h"
#include "integration/support/net.h"

namespace braid::integration {
namespace {

using ::testing::HasSubstr;

class ControllerEtcdTest : public GatewayPairTest {
 protected:
  void SetUp() override {
    if (!EtcdServer::Installed()) GTEST_SKIP() << "etcd is not installed here (scripts/bootstrap installs etcd-server)";
    GatewayPairTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(IssueCert(Path("pki"), "controller", dir_.path()));
    ASSERT_TRUE(IssueCert(Path("pki"), "admin", dir_.path()));
    std::filesystem::create_directories(Path("etcd"));
    etcd_ = std::make_unique<EtcdServer>("m1", Path("etcd"));
    std::string error;
    ASSERT_TRUE(etcd_->Start(&error)) << error;
  }

  // Controller makes a controller in DIR/NAME whose state is on the etcd.
  std::unique_ptr<ControllerProcess> Controller(const std::string& name) {
    std::filesystem::create_directories(Path(name));
    auto c = std::make_unique<ControllerProcess>(Path(name), Path("pki"));
    c->config().erase("state_dir");
    c->config()["etcd"] = {{"endpoints", {etcd_->endpoint()}}, {"timeout", "2s"}};
    return c;
  }

  std::unique_ptr<EtcdServer> etcd_;
};

TEST_F(ControllerEtcdTest, AStandbyControllerServesEveryAcknowledgedApply) {
  std::unique_ptr<ControllerProcess> first = Controller("ctl-a");
  ASSERT_TRUE(first->Start());
  EXPECT_TRUE(first->WaitForLog("state in etcd " + etcd_->endpoint() + " under braid/", Millis(1'000)));
  const std::string token = first->Token(kCloud);
  ASSERT_FALSE(token.empty());
  RunResult enrolled = first->Enroll(token, Path("enrolled-cloud"));
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;

  // Applies, one after another, while the controller is killed.
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::thread applier([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string file = Path("p" + std::to_string(i) + ".json");
      WriteFileAtomically(file, PermitPolicy(static_cast<uint16_t>(1000 + i)).dump());
      if (first->Ctl({"policy", "apply", file}).exit_code == 0) ++acknowledged;
    }
  });
  std::this_thread::sleep_for(Millis(2'000));
  first->Kill();
  stop.store(true);
  applier.join();
  ASSERT_GT(acknowledged.load(), 0) << first->Log();

  // The standby, a process of its own on the same etcd.
  std::unique_ptr<ControllerProcess> standby = Controller("ctl-b");
  ASSERT_TRUE(standby->Start());
  for (ControllerProcess* c : {standby.get(), first.get()}) {
    if (c == first.get()) {
      ASSERT_TRUE(first->Start());
    }
    const nlohmann::json history = c->CtlJson({"policy", "history"});
    ASSERT_TRUE(history.contains("versions")) << history;
    const auto& versions = history["versions"];
    EXPECT_GE(static_cast<int>(versions.size()), acknowledged.load());
    for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i]["version"], i + 1);
    const RunResult current = c->Ctl({"policy", "get"});
    EXPECT_EQ(current.exit_code, 0) << current.err;
    const nlohmann::json fleet = c->CtlJson({"gateways"});
    ASSERT_TRUE(fleet.contains("gateways")) << fleet;
    ASSERT_EQ(fleet["gateways"].size(), 1u) << fleet;
    EXPECT_EQ(fleet["gateways"][0]["name"], kCloud);
  }
}

TEST_F(ControllerEtcdTest, TwoControllersServeOneFleet) {
  std::unique_ptr<ControllerProcess> a = Controller("ctl-a");
  std::unique_ptr<ControllerProcess> b = Controller("ctl-b");
  ASSERT_TRUE(a->Start());
  ASSERT_TRUE(b->Start());

  // Tokens made through one controller enroll through the other, once.
  for (const char* name : {kCloud, kOnprem}) {
    const std::string token = b->Token(name);
    ASSERT_FALSE(token.empty());
    const RunResult enrolled = a->Enroll(token, Path(std::string("enrolled-") + name));
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
    const RunResult again = b->Enroll(token, Path(std::string("again-") + name));
    EXPECT_NE(again.exit_code, 0);
    EXPECT_THAT(again.err, HasSubstr("already used"));
  }

  // Gateways that know only controller B.
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000)));
  ASSERT_TRUE(StartCloud(ManagedGatewayConfig(CloudConfig(), kCloud, b->address())));
  ASSERT_TRUE(StartOnprem(ManagedGatewayConfig(OnpremConfig(1, sink.port()), kOnprem, b->address())));

  // A policy applied through A reaches them through B.
  WritePolicy("v1.json", PermitPolicy(sink.port()));
  const RunResult applied = a->Ctl({"policy", "apply", Path("v1.json")});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    EXPECT_TRUE(gw->WaitForLog("controller: policy version 1 applied", Millis(2'000))) << gw->name();
  }
  EXPECT_TRUE(b->WaitForLog("the shared state changed: policy version 1", Millis(2'000)));
  const OneWayResult r = SendAndClose(service_port(), 11, 4 << 20, Millis(30'000));
  ASSERT_TRUE(received.WaitFor(1, After(Millis(30'000))));
  EXPECT_EQ(received.Values()[0].sha256, PatternDigest(11, 4 << 20)) << DescribeOneWay(r);

  // Applies racing through both controllers.
  std::atomic<int> stored{0}, conflicts{0}, other{0};
  auto race = [&](ControllerProcess& c, const std::string& tag) {
    for (int i = 0; i < 15; ++i) {
      const std::string file = Path(tag + std::to_string(i) + ".json");
      WriteFileAtomically(file, PermitPolicy(sink.port()).dump());
      const RunResult result = c.Ctl({"policy", "apply", file});
      if (result.exit_code == 0) {
        ++stored;
      } else if (result.err.find("stored meanwhile through another controller") != std::string::npos) {
        ++conflicts;
      } else {
        ++other;
        ADD_FAILURE() << result.err;
      }
    }
  };
  std::thread through_a([&] { race(*a, "a"); });
  race(*b, "b");
  through_a.join();
  EXPECT_EQ(other.load(), 0);
  std::cout << "racing applies: " << stored.load() << " stored, " << conflicts.load() << " conflicts\n";
  // Once both have followed the last write, they tell the same history.
  const size_t expected = 1 + static_cast<size_t>(stored.load());
  for (ControllerProcess* c : {a.get(), b.get()}) {
    nlohmann::json history;
    const Deadline deadline = After(Millis(5'000));
    do {
      history = c->CtlJson({"policy", "history"});
    } while (history["versions"].size() != expected && Clock::now() < deadline &&
             (std::this_thread::sleep_for(Millis(50)), true));
    ASSERT_EQ(history["versions"].size(), expected) << history;
    for (size_t i = 0; i < expected; ++i) EXPECT_EQ(history["versions"][i]["version"], i + 1);
  }
}

TEST_F(ControllerEtcdTest, GatewaysAndBraidctlMoveToAnotherControllerWhenOneDies) {
  std::unique_ptr<ControllerProcess> a = Controller("ctl-a");
  std::unique_ptr<ControllerProcess> b = Controller("ctl-b");
  ASSERT_TRUE(a->Start());
  ASSERT_TRUE(b->Start());
  const std::string both = a->address() + "," + b->address();
  b->set_ctl_controllers(both);
  for (const char* name : {kCloud, kOnprem}) {
    const RunResult enrolled = a->Enroll(a->Token(name), Path(std::string("enrolled-") + name));
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  }
  Collector<ReceiveResult> received;
  TcpServer sink(DrainHandler(&received, Millis(30'000)));
  const nlohmann::json controllers = {a->address(), b->address()};
  nlohmann::json cloud = ManagedGatewayConfig(CloudConfig(), kCloud, "");
  nlohmann::json onprem = ManagedGatewayConfig(OnpremConfig(1, sink.port()), kOnprem, "");
  cloud["controller"]["address"] = onprem["controller"]["address"] = controllers;
  ASSERT_TRUE(StartCloud(cloud));
  ASSERT_TRUE(StartOnprem(onprem));
  WritePolicy("v1.json", PermitPolicy(sink.port()));
  RunResult applied = b->Ctl({"policy", "apply", Path("v1.json")});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    EXPECT_TRUE(gw->WaitForLog("controller: policy version 1 applied", Millis(2'000))) << gw->name();
  }

  // A dies. braidctl, given both, reaches B; the gateways, whose held polls
  // were on A, move to B and get the next version from it.
  a->Kill();
  WritePolicy("v2.json", DenyPolicy(sink.port(), "deny-sink"));
  applied = b->Ctl({"policy", "apply", Path("v2.json")});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  for (GatewayProcess* gw : {onprem_.get(), cloud_.get()}) {
    EXPECT_TRUE(gw->WaitForLog("controller: policy version 2 applied", Millis(5'000))) << gw->name();
    EXPECT_TRUE(gw->WaitForLog("controller: reachable at " + b->address(), Millis(1'000))) << gw->name();
  }
  // Enforced: the new version's deny refuses the flow.
  const OneWayResult refused = SendAndClose(service_port(), 12, 64 << 10, Millis(10'000));
  EXPECT_TRUE(SourceSawReset(refused)) << DescribeOneWay(refused);
  // A write whose first controller cannot be reached is sent to the next;
  // with none reachable braidctl says why for each.
  b->Kill();
  const RunResult none = b->Ctl({"policy", "history"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.err, HasSubstr(a->address()));
  EXPECT_THAT(none.err, HasSubstr(b->address()));
}

// The fleet bench's simulator, small (bench/controller): 30 simulated
// gateways over two controllers, a push with both up, then one with the
// second killed during it: every gateway reports the new version, none
// ever goes back.
TEST_F(ControllerEtcdTest, FleetSimulatorPushesToEveryGatewayEvenWithAControllerKilled) {
#ifndef BRAID_FLEET_SIM_PATH
  GTEST_SKIP() << "built without the benchmarks (BRAID_BUILD_BENCH=OFF): no braid-fleet-sim";
#else
  std::unique_ptr<ControllerProcess> a = Controller("ctl-a");
  std::unique_ptr<ControllerProcess> b = Controller("ctl-b");
  ASSERT_TRUE(a->Start());
  ASSERT_TRUE(b->Start());
  WritePolicy("v1.json", PermitPolicy(5432));
  ASSERT_EQ(a->Ctl({"policy", "apply", Path("v1.json")}).exit_code, 0);
  for (const bool kill : {false, true}) {
    WritePolicy("next.json", PermitPolicy(kill ? 5434 : 5433));
    std::vector<std::string> argv = {BRAID_FLEET_SIM_PATH,
                                     "--controllers", a->address() + "," + b->address(),
                                     "--ca-cert", Path("pki/ca.crt"), "--ca-key", Path("pki/ca.key"),
                                     "--admin-cert", Path("pki/admin.crt"), "--admin-key", Path("pki/admin.key"),
                                     "--scratch", Path("sim"), "--policy", Path("next.json"),
                                     "--gateways", "30", "--deadline-s", "30"};
    if (kill) {
      for (const std::string& arg : {std::string("--kill-pid"), std::to_string(b->pid())}) argv.push_back(arg);
    }
    const RunResult run = RunToExit(argv, dir_.path(), Millis(90'000));
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    const size_t at = run.out.find("result ");
    ASSERT_NE(at, std::string::npos) << run.out << run.err;
    const nlohmann::json result = nlohmann::json::parse(run.out.substr(at + 7), nullptr, false);
    ASSERT_TRUE(result.is_object()) << run.out;
    EXPECT_EQ(result["missing"], 0) << result;
    EXPECT_EQ(result["regressed"], 0) << result;
    EXPECT_EQ(result["version"], kill ? 3 : 2) << result;
    // The push changed the policy, not the fleet: answers left the peer
    // list out for the gateways that had it.
    EXPECT_GE(result["slim_answers"].get<int>(), 30) << result;
    if (kill) {
      EXPECT_GT(result["failovers"].get<int>(), 0) << result;
    }
    std::cout << "fleet simulator: " << result.dump() << "\n";
  }
#endif
}

// etcd of three members, one killed: nothing acknowledged is lost, and a
// policy change still goes through (once the two left have a leader).
TEST_F(ControllerEtcdTest, AnEtcdMemberOfThreeKilledLosesNothing) {
  std::filesystem::create_directories(Path("etcd3"));
  std::vector<std::unique_ptr<EtcdServer>> cluster = EtcdServer::Cluster(3, Path("etcd3"));
  std::string error;
  for (auto& member : cluster) ASSERT_TRUE(member->Launch(&error)) << error;
  for (auto& member : cluster) ASSERT_TRUE(member->WaitHealthy(&error)) << error;
  std::unique_ptr<ControllerProcess> c = Controller("ctl");
  c->config()["etcd"]["endpoints"] = {cluster[0]->endpoint(), cluster[1]->endpoint(), cluster[2]->endpoint()};
  ASSERT_TRUE(c->Start());
  for (int v = 1; v <= 3; ++v) {
    WritePolicy("v.json", PermitPolicy(static_cast<uint16_t>(5000 + v)));
    const RunResult r = c->Ctl({"policy", "apply", Path("v.json")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The member the controller talks to first.
  cluster[0]->Kill();
  WritePolicy("v.json", PermitPolicy(5004));
  RunResult applied;
  const Deadline deadline = After(Millis(20'000));
  do {
    applied = c->Ctl({"policy", "apply", Path("v.json")});
  } while (applied.exit_code != 0 && Clock::now() < deadline && (std::this_thread::sleep_for(Millis(200)), true));
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  // Restarted, the controller reads every version from the two left.
  c->Kill();
  ASSERT_TRUE(c->Start());
  const nlohmann::json history = c->CtlJson({"policy", "history"});
  ASSERT_EQ(history["versions"].size(), 4u) << history;
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(history["versions"][i]["version"], i + 1);
}

TEST_F(ControllerEtcdTest, WithEtcdDownTheControllerRefusesToStart) {
  etcd_->Kill();
  std::unique_ptr<ControllerProcess> c = Controller("ctl");
  const ::testing::AssertionResult started = c->Start(Millis(15'000));
  ASSERT_FALSE(started);
  EXPECT_THAT(c->Log(), HasSubstr("etcd: no member answered: " + etcd_->endpoint()));
}

TEST_F(ControllerEtcdTest, ConfigsThatMisplaceTheStateAreRefused) {
  std::unique_ptr<ControllerProcess> both = Controller("ctl-both");
  both->config()["state_dir"] = Path("ctl-both/state");
  ASSERT_FALSE(both->Start(Millis(10'000)));
  EXPECT_THAT(both->Log(), HasSubstr("etcd: state_dir is set too: the state lives in one place"));

  std::unique_ptr<ControllerProcess> remote = Controller("ctl-remote");
  remote->config()["etcd"]["endpoints"] = {"192.0.2.7:2379"};
  ASSERT_FALSE(remote->Start(Millis(10'000)));
  EXPECT_THAT(remote->Log(), HasSubstr("etcd.endpoints[0]: \"192.0.2.7:2379\" is not a loopback address"));
}

}  // namespace
}  // namespace braid::integration
