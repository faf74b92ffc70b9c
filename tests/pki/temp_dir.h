// TempDir: a fresh directory under $TEST_TMPDIR (or /tmp) for one test,
// removed with everything in it when the test ends. Shared by the PKI and
// TLS tests.
#ifndef BRAID_TESTS_PKI_TEMP_DIR_H_
#define BRAID_TESTS_PKI_TEMP_DIR_H_

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

namespace braid::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/braid-test-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // path is empty if the directory could not be made.
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// FileMode returns the permission bits of `path`, or -1 if it does not exist.
inline int FileMode(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

}  // namespace braid::testing

#endif  // BRAID_TESTS_PKI_TEMP_DIR_H_
