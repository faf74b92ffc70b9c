// FileStore: a Store kept as one file per key in a local directory.
//
// Layout: key "policy/v000001" is the file DIR/policy/v000001; key segments
// become subdirectories, created (mode 0700) and made durable on first use,
// and removed again when their last key is deleted. Values are files of
// mode 0600: a store holds the controller's state, readable by it alone.
//
// Crash safety comes from the file system's own atomic operations, each
// followed by the fsyncs that make it durable:
//   Put:    write DIR/.../~tmp.PID.N, fsync it, rename(2) it over the key's
//           file, fsync the directory.
//   Create: the same temporary file, then link(2) it to the key's file
//           (which fails if the key exists, atomically against any other
//           writer), unlink the temporary file, fsync the directory.
//   Delete: unlink(2), fsync the directory.
// A crash leaves at most a stray temporary file beside a key that holds its
// old or its new value. Temporary names start with '~', which no key can
// hold, so they never collide with a key and List never returns them; Open
// removes them.
//
// One FileStore per directory at a time: Open removes every temporary file
// it finds, which would break a write another live FileStore has in flight
// on the same directory. (Create stays atomic even then; it is Open's
// clean-up that is not.)
//
// Memory bound: one value (kMaxStoreValueBytes) per call in progress, plus
// List's key names.
//
// Thread-safety: internally synchronized. One mutex is held across every
// call, I/O and fsyncs included: writes are rare and small, and serializing
// them keeps the reasoning about directories created and pruned under
// concurrent Puts and Deletes trivial. Apart from the temporary-file
// counter, the state the mutex protects is the directory itself, which
// ABSL_GUARDED_BY cannot name.
#ifndef BRAID_CONTROLLER_STORE_FILE_STORE_H_
#define BRAID_CONTROLLER_STORE_FILE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/store/store.h"

namespace braid::controller {

// kStoreTempPrefix starts every temporary file name. '~' is not a key
// character, so no key segment starts with it.
inline constexpr std::string_view kStoreTempPrefix = "~tmp.";

class FileStore final : public Store {
 public:
  // Open uses (creating it, and any missing parents, 0700 if needed)
  // directory `dir`, and removes the leftover temporary files of writes a
  // crash interrupted. Returns InvalidArgument for an empty `dir`,
  // FailedPrecondition if `dir` exists but is not a directory, and for an
  // I/O failure an error (NotFound, PermissionDenied, ... from errno) whose
  // message names the path and the system's reason.
  static absl::StatusOr<std::unique_ptr<FileStore>> Open(std::string dir);

  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  // The directory, as given to Open (without trailing '/').
  const std::string& dir() const { return dir_; }

  // Store. Beyond the errors Store documents: Get returns
  // FailedPrecondition for a file larger than kMaxStoreValueBytes that
  // something other than this class put there. I/O errors carry errno's
  // status code and name the path.
  absl::StatusOr<std::string> Get(std::string_view key) override;
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status Create(std::string_view key, std::string_view value) override;
  absl::Status Swap(std::string_view key, std::string_view expected, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::vector<std::string>> List(std::string_view prefix) override;

 private:
  explicit FileStore(std::string dir) : dir_(std::move(dir)) {}

  // Write is Put (`replace`) or Create (not `replace`).
  absl::Status Write(std::string_view key, std::string_view value, bool replace);
  // MakeParents creates the directories of `key`'s leading segments.
  absl::Status MakeParents(std::string_view key);
  // WriteTemp writes `value` to a new, fsynced temporary file in directory
  // `parent` and stores its path in *tmp_path.
  absl::Status WriteTemp(const std::string& parent, std::string_view value, std::string* tmp_path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PruneParents removes the directories of `key` that are now empty.
  void PruneParents(std::string_view key);
  // Walk adds to *keys the keys in directory `rel` (relative to dir_, "" or
  // ending in '/') and below it; with `remove_temps` it also removes the
  // temporary files it meets.
  absl::Status Walk(const std::string& rel, bool remove_temps, std::vector<std::string>* keys);

  std::string PathOf(std::string_view key) const;

  const std::string dir_;
  absl::Mutex mu_;
  uint64_t next_temp_ ABSL_GUARDED_BY(mu_) = 0;
  // Held by every write (Put, Create, Swap, Delete) around mu_, so that
  // Swap's read and write are one step against the others.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace braid::controller

#endif  // BRAID_CONTROLLER_STORE_FILE_STORE_H_
