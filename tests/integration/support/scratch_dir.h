// ScratchDir: a fresh directory for one integration test (PKI, configs,
// policies, gateway logs), removed with everything in it at the end.
// Under $TEST_TMPDIR when set, else /tmp. Set BRAID_KEEP_TEST_DIRS=1 to keep
// it for a post-mortem; the path is printed when a test fails.
#ifndef BRAID_TESTS_INTEGRATION_SUPPORT_SCRATCH_DIR_H_
#define BRAID_TESTS_INTEGRATION_SUPPORT_SCRATCH_DIR_H_

#include <string>

namespace braid::integration {

class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // path is empty if the directory could not be made.
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// WriteFileAtomically replaces `path` with `contents` by writing a
// temporary file beside it and renaming it over, so that a reader (a
// gateway reloading its policy) never sees half a file. Returns false on
// any error.
bool WriteFileAtomically(const std::string& path, const std::string& contents);

// ReadFile returns the whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace braid::integration

#endif  // BRAID_TESTS_INTEGRATION_SUPPORT_SCRATCH_DIR_H_
