// Tests of LoadGatewayConfig (proxy/config/gateway_config.h) on real files
// in a temporary directory: paths resolved against the config's directory,
// referenced files that are missing or unreadable, and problems with the
// config file itself, all reported at once.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxy/config/example_config.h"
#include "proxy/config/gateway_config.h"

namespace braid::proxy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::kExample;
using testing::Message;
using testing::Patched;

namespace fs = std::filesystem;

// LoadGatewayConfig: real files in a temporary directory.

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "braid_config_test.XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

  // Write creates `relative` (and its directories) with `content`.
  fs::path Write(const std::string& relative, const std::string& content) const {
    fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << content;
    return file;
  }

 private:
  fs::path path_;
};

// WriteGateway lays out the example's files under `dir/conf` and returns the
// path of the config file.
fs::path WriteGateway(const TempDir& dir, const std::string& config_text = kExample) {
  for (const char* file : {"pki/gw-onprem.crt", "pki/gw-onprem.key", "pki/ca.crt", "policies/db-replication.json"}) {
    dir.Write(std::string("conf/") + file, "x");
  }
  return dir.Write("conf/gw.json", config_text);
}

TEST(LoadGatewayConfigTest, LoadsAndResolvesAgainstTheConfigDirectory) {
  TempDir dir;
  const fs::path config_path = WriteGateway(dir);
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path.string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source_path, config_path.string());
  EXPECT_EQ(config->identity.cert, (dir.path() / "conf/pki/gw-onprem.crt").string());
  EXPECT_EQ(config->identity.key, (dir.path() / "conf/pki/gw-onprem.key").string());
  EXPECT_EQ(config->identity.ca, (dir.path() / "conf/pki/ca.crt").string());
  EXPECT_EQ(config->policy.file, (dir.path() / "conf/policies/db-replication.json").string());
}

TEST(LoadGatewayConfigTest, RelativeConfigPath) {
  // `braid-proxy --config conf/gw.json` run from the parent directory: the
  // paths inside resolve against conf/, not the working directory.
  TempDir dir;
  WriteGateway(dir);
  const fs::path saved = fs::current_path();
  fs::current_path(dir.path());
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig("conf/gw.json");
  fs::current_path(saved);
  ASSERT_TRUE(config.ok()) << config.status();
  const fs::path real = fs::canonical(dir.path());
  EXPECT_EQ(fs::path(config->source_path), fs::path(real / "conf/gw.json"));
  EXPECT_EQ(fs::path(config->policy.file), fs::path(real / "conf/policies/db-replication.json"));
}

TEST(LoadGatewayConfigTest, MissingReferencedFilesAreAllReported) {
  TempDir dir;
  const fs::path config_path = WriteGateway(dir);
  fs::remove(dir.path() / "conf/pki/gw-onprem.key");
  fs::remove(dir.path() / "conf/policies/db-replication.json");
  fs::create_directories(dir.path() / "conf/policies/db-replication.json");  // a directory in its place
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path.string());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string file = config_path.string();
  EXPECT_THAT(std::vector<std::string>(absl::StrSplit(Message(config), '\n')),
              ElementsAre(file + ": identity.key: cannot read \"" + (dir.path() / "conf/pki/gw-onprem.key").string() +
                              "\": No such file or directory",
                          file + ": policy.file: cannot read \"" +
                              (dir.path() / "conf/policies/db-replication.json").string() +
                              "\": not a regular file"));
}

TEST(LoadGatewayConfigTest, UnreadableReferencedFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  const fs::path config_path = WriteGateway(dir);
  ::chmod((dir.path() / "conf/pki/ca.crt").c_str(), 0);
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path.string());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config), config_path.string() + ": identity.ca: cannot read \"" +
                                           (dir.path() / "conf/pki/ca.crt").string() + "\": Permission denied");
}

TEST(LoadGatewayConfigTest, ConfigErrorsAndFileErrorsTogether) {
  TempDir dir;
  const fs::path config_path = WriteGateway(dir, Patched(R"({"tunnel": {"lanes": -2}})"));
  fs::remove(dir.path() / "conf/pki/ca.crt");
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path.string());
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::vector<std::string>(absl::StrSplit(Message(config), '\n')),
              ElementsAre(HasSubstr(": tunnel.lanes: -2 is out of range"), HasSubstr(": identity.ca: cannot read")));
}

TEST(LoadGatewayConfigTest, ConfigFileProblems) {
  TempDir dir;
  const std::string missing = (dir.path() / "nope.json").string();
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(missing);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(config), missing + ": cannot read: No such file or directory");

  config = LoadGatewayConfig(dir.path().string());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config), HasSubstr("is a directory"));

  const fs::path huge = dir.Write("huge.json", std::string(2u << 20, ' '));
  config = LoadGatewayConfig(huge.string());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config), HasSubstr("larger than 1 MiB"));

  const fs::path broken = dir.Write("broken.json", "{");
  config = LoadGatewayConfig(broken.string());
  EXPECT_THAT(Message(config), StartsWith(broken.string() + ": line 1, column 2: invalid JSON"));
}


}  // namespace
}  // namespace braid::proxy
