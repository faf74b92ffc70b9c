// EtcdStore against a real etcd (the Debian package's 3.4), started per
// test on loopback: the Store contract of controller/store/store.h as
// FileStore keeps it (file_store_test.cc), and what only a cluster shows:
//   - Get, Put, Create, Delete, List, with their errors (NotFound,
//     AlreadyExists, InvalidArgument for bad keys and oversized values,
//     FailedPrecondition for a key that would be a prefix of another);
//   - Create is exclusive: of 8 threads creating one key at once, exactly
//     one succeeds, and the value is its;
//   - a value of several MiB (a large policy) round-trips byte for byte;
//   - writes acknowledged before etcd is killed (SIGKILL) are there when it
//     starts again on the same data; while it is down every operation fails
//     with Unavailable, naming the member, within the timeout;
//   - with two endpoints of which the first is dead, requests go to the
//     second; with none answering, Open fails;
//   - two namespaces (prefixes) on one cluster do not see each other.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "controller/store/etcd_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/support/etcd.h"
#include "integration/support/net.h"
#include "integration/support/scratch_dir.h"

namespace braid::integration {
namespace {

using controller::EtcdEndpoint;
using controller::EtcdOptions;
using controller::EtcdStore;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdServer::Installed()) GTEST_SKIP() << "etcd is not installed here (scripts/bootstrap installs etcd-server)";
    etcd_ = std::make_unique<EtcdServer>("m1", scratch_.path());
    std::string error;
    ASSERT_TRUE(etcd_->Start(&error)) << error;
  }

  EtcdOptions Options(std::string prefix = "braid/") const {
    EtcdOptions o;
    o.endpoints = {EtcdEndpoint{"127.0.0.1", etcd_->client_port()}};
    o.prefix = std::move(prefix);
    o.timeout = std::chrono::milliseconds(2'000);
    return o;
  }

  std::unique_ptr<EtcdStore> Open(std::string prefix = "braid/") {
    absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(Options(std::move(prefix)));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  ScratchDir scratch_;
  std::unique_ptr<EtcdServer> etcd_;
};

TEST_F(EtcdStoreTest, GetPutCreateDeleteList) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get("policy/current").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Put("policy/current", "v000001").ok());
  EXPECT_EQ(*store->Get("policy/current"), "v000001");
  ASSERT_TRUE(store->Put("policy/current", "v000002").ok());
  EXPECT_EQ(*store->Get("policy/current"), "v000002");
  ASSERT_TRUE(store->Put("empty", "").ok());
  EXPECT_EQ(*store->Get("empty"), "");

  ASSERT_TRUE(store->Create("policy/v000001", "one").ok());
  const absl::Status again = store->Create("policy/v000001", "other");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(*store->Get("policy/v000001"), "one");
  ASSERT_TRUE(store->Create("policy/v000002", "two").ok());
  ASSERT_TRUE(store->Create("gateways/gw-onprem", "{}").ok());

  EXPECT_THAT(*store->List("policy/v"), ElementsAre("policy/v000001", "policy/v000002"));
  EXPECT_THAT(*store->List(""), ElementsAre("empty", "gateways/gw-onprem", "policy/current", "policy/v000001",
                                            "policy/v000002"));
  EXPECT_TRUE(store->List("nothing/").value().empty());
  // Scan: the keys with their values, in one read.
  using KV = std::pair<std::string, std::string>;
  EXPECT_THAT(*store->Scan("policy/v"), ElementsAre(KV{"policy/v000001", "one"}, KV{"policy/v000002", "two"}));
  EXPECT_THAT(*store->Scan("empty"), ElementsAre(KV{"empty", ""}));

  ASSERT_TRUE(store->Delete("policy/v000001").ok());
  EXPECT_EQ(store->Delete("policy/v000001").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Get("policy/v000001").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store->List("policy/"), ElementsAre("policy/current", "policy/v000002"));
}

TEST_F(EtcdStoreTest, SwapReplacesOnlyTheExpectedValue) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("gateways/gw-a", "one").ok());
  ASSERT_TRUE(store->Swap("gateways/gw-a", "one", "two").ok());
  EXPECT_EQ(*store->Get("gateways/gw-a"), "two");
  const absl::Status stale = store->Swap("gateways/gw-a", "one", "three");
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_EQ(*store->Get("gateways/gw-a"), "two");
  EXPECT_EQ(store->Swap("gateways/gw-b", "", "x").code(), absl::StatusCode::kNotFound);
  // Of 8 threads swapping from one value, exactly one wins.
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { won += store->Swap("gateways/gw-a", "two", "by-" + std::to_string(i)).ok(); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
}

TEST_F(EtcdStoreTest, BadKeysValuesAndClashesChangeNothing) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  for (const char* key : {"", "Upper", "a//b", "a/../b", "/a", "a/", "a b"}) {
    EXPECT_EQ(store->Put(key, "x").code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Get(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store->List("a b").status().code(), absl::StatusCode::kInvalidArgument);
  const std::string too_big(controller::kMaxStoreValueBytes + 1, 'x');
  EXPECT_EQ(store->Put("big", too_big).code(), absl::StatusCode::kInvalidArgument);

  // A key may not be a whole-segment prefix of another, either way round.
  ASSERT_TRUE(store->Put("gateways/gw-a", "a").ok());
  absl::Status clash = store->Put("gateways", "x");
  EXPECT_EQ(clash.code(), absl::StatusCode::kFailedPrecondition) << clash;
  EXPECT_THAT(clash.message(), HasSubstr("gateways/gw-a"));
  clash = store->Create("gateways/gw-a/more", "x");
  EXPECT_EQ(clash.code(), absl::StatusCode::kFailedPrecondition) << clash;
  EXPECT_THAT(clash.message(), HasSubstr("clashes with the stored key gateways/gw-a"));
  // A plain string prefix is no clash.
  EXPECT_TRUE(store->Put("gateways/gw-ab", "ab").ok());
  EXPECT_THAT(*store->List(""), ElementsAre("gateways/gw-a", "gateways/gw-ab"));
}

TEST_F(EtcdStoreTest, ConcurrentCreatesOfOneKeyHaveOneWinner) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> threads;
  std::atomic<int> winner{-1};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const absl::Status s = store->Create("tokens/t1", "by-" + std::to_string(i));
      if (s.ok()) {
        ++won;
        winner = i;
      } else if (s.code() == absl::StatusCode::kAlreadyExists) {
        ++lost;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  EXPECT_EQ(*store->Get("tokens/t1"), "by-" + std::to_string(winner.load()));
}

TEST_F(EtcdStoreTest, LargeValueRoundTrips) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  std::string policy(6 << 20, '\0');
  for (size_t i = 0; i < policy.size(); ++i) policy[i] = static_cast<char>((i * 131 + 7) & 0xff);
  ASSERT_TRUE(store->Create("policy/v000001", policy).ok());
  EXPECT_EQ(*store->Get("policy/v000001"), policy);
}

TEST_F(EtcdStoreTest, AcknowledgedWritesSurviveAKillAndAnOutageIsUnavailable) {
  std::unique_ptr<EtcdStore> store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Create("gateways/gw-" + std::to_string(i), "record " + std::to_string(i)).ok());
  }
  ASSERT_TRUE(store->Put("policy/current", "v000007").ok());
  etcd_->Kill();

  // Down: every operation fails, and says where and why, within the timeout.
  const auto started = std::chrono::steady_clock::now();
  const absl::StatusOr<std::string> down = store->Get("policy/current");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_THAT(down.status().message(), HasSubstr(etcd_->endpoint()));
  EXPECT_EQ(store->Put("policy/current", "v000008").code(), absl::StatusCode::kUnavailable);

  std::string error;
  ASSERT_TRUE(etcd_->Start(&error)) << error;
  EXPECT_EQ(*store->Get("policy/current"), "v000007");
  EXPECT_EQ(store->List("gateways/").value().size(), 20u);
  EXPECT_EQ(*store->Get("gateways/gw-13"), "record 13");
}

TEST_F(EtcdStoreTest, ADeadEndpointIsSkippedAndNoneAnsweringFailsOpen) {
  EtcdOptions options = Options();
  // Nothing listens on a port just freed.
  options.endpoints.insert(options.endpoints.begin(), EtcdEndpoint{"127.0.0.1", FreePort()});
  absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ(*(*store)->Get("k"), "v");

  etcd_->Kill();
  const absl::StatusOr<std::unique_ptr<EtcdStore>> none = EtcdStore::Open(options);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(none.status().message(), HasSubstr("no member answered"));
  for (const EtcdEndpoint& e : options.endpoints) EXPECT_THAT(none.status().message(), HasSubstr(e.ToString()));
}

TEST_F(EtcdStoreTest, OptionsAreChecked) {
  EtcdOptions no_member = Options();
  no_member.endpoints.clear();
  EXPECT_EQ(EtcdStore::Open(no_member).status().code(), absl::StatusCode::kInvalidArgument);
  EtcdOptions remote = Options();
  remote.endpoints = {EtcdEndpoint{"192.0.2.1", 2379}};
  const absl::Status refused = EtcdStore::Open(remote).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("not a loopback address"));
  for (const char* prefix : {"", "braid", "Braid/", "a//"}) {
    EXPECT_EQ(EtcdStore::Open(Options(prefix)).status().code(), absl::StatusCode::kInvalidArgument) << prefix;
  }
}

TEST_F(EtcdStoreTest, NamespacesDoNotSeeEachOther) {
  std::unique_ptr<EtcdStore> a = Open("braid/site-a/");
  std::unique_ptr<EtcdStore> b = Open("braid/site-b/");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Put("policy/current", "a").ok());
  ASSERT_TRUE(b->Put("policy/current", "b").ok());
  EXPECT_EQ(*a->Get("policy/current"), "a");
  EXPECT_EQ(*b->Get("policy/current"), "b");
  EXPECT_THAT(*a->List(""), ElementsAre("policy/current"));
  ASSERT_TRUE(a->Delete("policy/current").ok());
  EXPECT_EQ(*b->Get("policy/current"), "b");
}

}  // namespace
}  // namespace braid::integration
