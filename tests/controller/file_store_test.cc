// Tests of FileStore and ValidateStoreKey: the Store contract (round trip,
// overwrite, Create, Delete, List), key rules, clean-up at Open, and real
// crashes: a child process writing ~1 MiB self-checking values is SIGKILLed
// at a random moment, and the reopened store must hold one whole value the
// child wrote (never a mix, never less than what it had acknowledged).
#include "controller/store/file_store.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/temp_dir.h"

namespace braid::controller {
namespace {

using ::braid::testing::FileMode;
using ::braid::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::unique_ptr<FileStore> OpenOrDie(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// TempFiles lists the store's temporary files anywhere under `dir`.
std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with(kStoreTempPrefix)) found.push_back(entry.path().string());
  }
  return found;
}

TEST(ValidateStoreKeyTest, AcceptsGoodKeys) {
  for (const char* key : {"a", "policy/v000001", "gateways/gw-1.eu_x", "a/b/c/d", "..x", ".hidden", "a/..b"}) {
    EXPECT_TRUE(ValidateStoreKey(key).ok()) << key << ": " << ValidateStoreKey(key);
  }
  EXPECT_TRUE(ValidateStoreKey(std::string(kMaxStoreKeyLength, 'k')).ok());
}

TEST(ValidateStoreKeyTest, RejectsBadKeys) {
  struct Case {
    std::string key;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty"},
      {"A", "character 1"},
      {"a/B", "character 3"},
      {"~tmp.1.2", "character 1"},
      {"a b", "character 2"},
      {std::string("a\0b", 3), "character 2"},
      {"/a", "empty segment at character 1"},
      {"a/", "empty segment at character 3"},
      {"a//b", "empty segment at character 3"},
      {".", "\".\" or \"..\""},
      {"a/../b", "\".\" or \"..\""},
      {"a/.", "\".\" or \"..\""},
      {std::string(kMaxStoreKeyLength + 1, 'k'), "at most 200"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateStoreKey(c.key);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.key;
  }
}

TEST(ValidateStoreKeyTest, PrefixMayEndMidSegment) {
  for (const char* prefix : {"", "policy/", "policy/v", "a/.", "a/.."}) {
    EXPECT_TRUE(ValidateStoreKeyPrefix(prefix).ok()) << prefix;
  }
  for (const char* prefix : {"/", "a//", "../", "A", "a/./b"}) {
    EXPECT_EQ(ValidateStoreKeyPrefix(prefix).code(), absl::StatusCode::kInvalidArgument) << prefix;
  }
}

TEST(FileStoreTest, OpenCreatesPrivateDirectory) {
  TempDir tmp;
  const std::string dir = tmp.File("state/nested");
  std::unique_ptr<FileStore> store = OpenOrDie(dir + "/");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->dir(), dir);
  EXPECT_EQ(FileMode(dir), 0700);
  // Reopening an existing store is fine.
  EXPECT_NE(OpenOrDie(dir), nullptr);
}

TEST(FileStoreTest, OpenRefusesAFileAndNamesPaths) {
  TempDir tmp;
  std::ofstream(tmp.File("file")) << "x";
  absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(tmp.File("file"));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(tmp.File("file")));
  store = FileStore::Open(tmp.File("file/below"));
  EXPECT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(tmp.File("file")));
  EXPECT_EQ(FileStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileStoreTest, RoundTripAndOverwrite) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get("k").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Put("k", "one").ok());
  EXPECT_EQ(*store->Get("k"), "one");
  ASSERT_TRUE(store->Put("k", "").ok());
  EXPECT_EQ(*store->Get("k"), "");
  const std::string big(3 << 20, '\xa5');
  ASSERT_TRUE(store->Put("nested/dir/k", big).ok());
  EXPECT_EQ(*store->Get("nested/dir/k"), big);
  EXPECT_EQ(FileMode(tmp.File("k")), 0600);
  // Values survive a reopen.
  store = OpenOrDie(tmp.path());
  EXPECT_EQ(*store->Get("nested/dir/k"), big);
  EXPECT_THAT(TempFiles(tmp.path()), IsEmpty());
}

TEST(FileStoreTest, SwapReplacesOnlyTheExpectedValue) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("gateways/gw-a", "one").ok());
  ASSERT_TRUE(store->Swap("gateways/gw-a", "one", "two").ok());
  EXPECT_EQ(*store->Get("gateways/gw-a"), "two");
  // Another writer got there first: nothing changes.
  const absl::Status stale = store->Swap("gateways/gw-a", "one", "three");
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_EQ(*store->Get("gateways/gw-a"), "two");
  EXPECT_EQ(store->Swap("gateways/gw-b", "", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Swap("Bad", "a", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(TempFiles(tmp.path()), IsEmpty());
}

TEST(FileStoreTest, CreateRefusesAnExistingKey) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create("policy/v000001", "first").ok());
  const absl::Status again = store->Create("policy/v000001", "second");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("policy/v000001"));
  EXPECT_EQ(*store->Get("policy/v000001"), "first");
  EXPECT_THAT(TempFiles(tmp.path()), IsEmpty());
}

TEST(FileStoreTest, ConcurrentCreatesHaveOneWinner) {
  TempDir tmp;
  std::unique_ptr<FileStore> a = OpenOrDie(tmp.path());
  std::unique_ptr<FileStore> b = OpenOrDie(tmp.path());
  ASSERT_NE(b, nullptr);
  for (int round = 0; round < 20; ++round) {
    const std::string key = absl::StrCat("race/k", round);
    absl::Status sa, sb;
    std::thread ta([&] { sa = a->Create(key, "a"); });
    std::thread tb([&] { sb = b->Create(key, "b"); });
    ta.join();
    tb.join();
    ASSERT_NE(sa.ok(), sb.ok()) << sa << " / " << sb;
    const absl::Status& loser = sa.ok() ? sb : sa;
    EXPECT_EQ(loser.code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(*a->Get(key), sa.ok() ? "a" : "b");
  }
}

TEST(FileStoreTest, Delete) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Delete("k").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Put("k", "v").ok());
  ASSERT_TRUE(store->Delete("k").ok());
  EXPECT_EQ(store->Get("k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Delete("k").code(), absl::StatusCode::kNotFound);
  // Deleting the last key below "a" removes the directory, so "a" can then
  // hold a value itself.
  ASSERT_TRUE(store->Put("a/b", "v").ok());
  EXPECT_EQ(store->Delete("a").code(), absl::StatusCode::kNotFound);  // a directory, not a key
  ASSERT_TRUE(store->Delete("a/b").ok());
  EXPECT_FALSE(std::filesystem::exists(tmp.File("a")));
  EXPECT_TRUE(store->Put("a", "v").ok());
}

TEST(FileStoreTest, ListByPrefixAndNesting) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  for (const char* key : {"policy/v000002", "policy/current", "policy/v000001", "gateways/gw1", "gateways/eu/gw2",
                          "tokens/abc", "top"}) {
    ASSERT_TRUE(store->Put(key, "x").ok()) << key;
  }
  EXPECT_THAT(*store->List("policy/v"), ElementsAre("policy/v000001", "policy/v000002"));
  EXPECT_THAT(*store->List("policy/"), ElementsAre("policy/current", "policy/v000001", "policy/v000002"));
  EXPECT_THAT(*store->List("gateways/"), ElementsAre("gateways/eu/gw2", "gateways/gw1"));
  EXPECT_THAT(*store->List("t"), ElementsAre("tokens/abc", "top"));
  EXPECT_THAT(*store->List("nothing/here/"), IsEmpty());
  EXPECT_EQ(store->List("").value().size(), 7u);
  EXPECT_EQ(store->List("Policy").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->List("../").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileStoreTest, BadKeysAndValuesAreRejected) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  for (const char* key : {"", "../escape", "/abs", "Upper", "~tmp.1.1", "a//b"}) {
    EXPECT_EQ(store->Get(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Put(key, "v").code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Create(key, "v").code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Delete(key).code(), absl::StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store->Put("big", std::string(kMaxStoreValueBytes + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(tmp.File("escape")));
}

TEST(FileStoreTest, KeyCannotBeBothValueAndPrefix) {
  TempDir tmp;
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a", "v").ok());
  EXPECT_EQ(store->Put("a/b", "v").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->Put("c/d", "v").ok());
  EXPECT_EQ(store->Put("c", "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Create("c", "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Get("c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(TempFiles(tmp.path()), IsEmpty());
}

TEST(FileStoreTest, OpenRemovesLeftoverTempFiles) {
  TempDir tmp;
  {
    std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put("policy/current", "v1").ok());
  }
  const std::string top = absl::StrCat(tmp.path(), "/", std::string(kStoreTempPrefix), "999.0");
  const std::string nested = absl::StrCat(tmp.path(), "/policy/", std::string(kStoreTempPrefix), "999.1");
  std::ofstream(top) << "half a value";
  std::ofstream(nested) << "half a value";
  std::unique_ptr<FileStore> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(std::filesystem::exists(top));
  EXPECT_FALSE(std::filesystem::exists(nested));
  EXPECT_THAT(*store->List(""), ElementsAre("policy/current"));
  EXPECT_EQ(*store->Get("policy/current"), "v1");
}

// --- Crash tests -----------------------------------------------------------

constexpr size_t kCrashValueBytes = 1 << 20;
constexpr int kCrashRounds = 30;
// The rounds stop early past this, so that a slow disk bounds the test's
// time rather than failing it.
constexpr std::chrono::seconds kCrashTimeBudget{60};

// ValueFor returns value number `i`: a header naming i and a body whose
// every byte depends on both i and its offset, so that a value made of
// parts of two writes (at any granularity) does not check.
std::string ValueFor(uint64_t i, size_t size) {
  std::string value = absl::StrFormat("value %016x\n", i);
  value.reserve(size);
  for (size_t j = value.size(); j < size; ++j) {
    value.push_back(static_cast<char>(((i + 1) * 0x9e3779b97f4a7c15ull + j * 0xff51afd7ed558ccdull) >> 56));
  }
  return value;
}

// ValueNumber returns i if `value` is exactly ValueFor(i, its size).
std::optional<uint64_t> ValueNumber(const std::string& value) {
  uint64_t i = 0;
  if (value.size() < 23 || std::sscanf(value.c_str(), "value %16lx\n", &i) != 1) return std::nullopt;
  if (value != ValueFor(i, value.size())) return std::nullopt;
  return i;
}

// KillMidway forks a child that runs `work`, which calls `ack(i)` after
// each durable step. Once the child has acknowledged a first step, it is
// SIGKILLed after a random 0-40 ms. Returns the last i acknowledged. The
// test fails if the child ends any other way.
int64_t KillMidway(std::mt19937& rng, const std::function<void(const std::function<void(int64_t)>&)>& work) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    return -1;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    work([&](int64_t i) {
      if (write(fds[1], &i, sizeof(i)) != sizeof(i)) _exit(3);
    });
    _exit(2);  // work only returns on an error
  }
  close(fds[1]);
  int64_t last = -1;
  int64_t i = 0;
  if (read(fds[0], &i, sizeof(i)) == sizeof(i)) last = i;
  // A sleep on purpose: the point is to kill at an arbitrary moment, most
  // likely in the middle of writing the next value.
  std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 40'000)(rng)));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  while (read(fds[0], &i, sizeof(i)) == sizeof(i)) last = i;
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child ended on its own: status " << status << " (2: a store call failed)";
  return last;
}

class FileStoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const unsigned seed = std::random_device()();
    rng_.seed(seed);
    std::cout << "seed " << seed << "\n";
  }
  bool OutOfTime() const { return std::chrono::steady_clock::now() - start_ > kCrashTimeBudget; }

  TempDir tmp_;
  std::mt19937 rng_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TEST_F(FileStoreCrashTest, PutIsAtomicAndDurable) {
  int round = 0;
  for (; round < kCrashRounds && !OutOfTime(); ++round) {
    const uint64_t first = uint64_t(round) << 32;  // values of this round
    const int64_t acked = KillMidway(rng_, [&](const auto& ack) {
      absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(tmp_.path());
      if (!store.ok()) return;
      for (uint64_t i = first;; ++i) {
        if (!(*store)->Put("state/value", ValueFor(i, kCrashValueBytes)).ok()) return;
        ack(static_cast<int64_t>(i));
      }
    });
    ASSERT_GE(acked, static_cast<int64_t>(first)) << "round " << round << ": the child acknowledged nothing";
    std::unique_ptr<FileStore> store = OpenOrDie(tmp_.path());
    ASSERT_NE(store, nullptr);
    absl::StatusOr<std::string> value = store->Get("state/value");
    ASSERT_TRUE(value.ok()) << value.status();
    const std::optional<uint64_t> number = ValueNumber(*value);
    ASSERT_TRUE(number.has_value()) << "round " << round << ": a torn value of " << value->size() << " bytes";
    // The last acknowledged value, or the one being written when killed.
    EXPECT_GE(*number, static_cast<uint64_t>(acked)) << "round " << round << ": an acknowledged Put was lost";
    EXPECT_LE(*number, static_cast<uint64_t>(acked) + 1) << "round " << round;
    EXPECT_THAT(*store->List(""), ElementsAre("state/value"));
    EXPECT_THAT(TempFiles(tmp_.path()), IsEmpty());
  }
  EXPECT_GE(round, 5) << "too few rounds in the time budget";
}

// The controller's policy pattern: Create an append-only version, then Put
// the pointer to it. After any crash the store opens, the versions are
// contiguous and whole, and the pointer never dangles.
TEST_F(FileStoreCrashTest, CreateThenPutKeepsReferencesValid) {
  constexpr size_t kDocumentBytes = 64 << 10;
  int round = 0;
  for (; round < kCrashRounds && !OutOfTime(); ++round) {
    KillMidway(rng_, [&](const auto& ack) {
      absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(tmp_.path());
      if (!store.ok()) return;
      absl::StatusOr<std::vector<std::string>> versions = (*store)->List("policy/v");
      if (!versions.ok()) return;
      for (uint64_t n = versions->size() + 1;; ++n) {
        const std::string key = absl::StrFormat("policy/v%06d", n);
        if (!(*store)->Create(key, ValueFor(n, kDocumentBytes)).ok()) return;
        if (!(*store)->Put("policy/current", key).ok()) return;
        ack(static_cast<int64_t>(n));
      }
    });
    std::unique_ptr<FileStore> store = OpenOrDie(tmp_.path());
    ASSERT_NE(store, nullptr) << "round " << round;
    const std::vector<std::string> versions = *store->List("policy/v");
    for (size_t n = 1; n <= versions.size(); ++n) {
      ASSERT_EQ(versions[n - 1], absl::StrFormat("policy/v%06d", n)) << "round " << round;
      EXPECT_EQ(ValueNumber(*store->Get(versions[n - 1])), n) << versions[n - 1];
    }
    absl::StatusOr<std::string> current = store->Get("policy/current");
    ASSERT_TRUE(current.ok()) << current.status();
    ASSERT_FALSE(versions.empty());
    // The newest version, or the one before when the crash fell between
    // Create and Put.
    EXPECT_TRUE(*current == versions.back() || (versions.size() >= 2 && *current == versions[versions.size() - 2]))
        << "round " << round << ": policy/current is " << *current << " of " << versions.size();
    EXPECT_THAT(TempFiles(tmp_.path()), IsEmpty());
  }
  EXPECT_GE(round, 5) << "too few rounds in the time budget";
}

}  // namespace
}  // namespace braid::controller
