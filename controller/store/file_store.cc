#include "controller/store/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace braid::controller {
namespace {

// Fd closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Close closes now and returns close(2)'s errno, or 0.
  int Close() {
    const int result = ::close(std::exchange(fd_, -1));
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// IoError is the status of a failed system call: errno's status code and
// "WHAT PATH: reason".
absl::Status IoError(int err, const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

// ParentOf returns the directory part of `path` ("." for a bare name).
std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// SyncDirectory makes the entries of directory `path` (names created,
// renamed or removed in it) durable.
absl::Status SyncDirectory(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return IoError(errno, "cannot open directory", path);
  if (::fsync(fd.get()) != 0) return IoError(errno, "cannot fsync directory", path);
  return absl::OkStatus();
}

// MakeDirectory creates directory `path` (mode 0700) unless it exists, and
// makes its entry durable. With `sync_existing` it also syncs the entry of a
// directory that already exists: a process that crashed between its mkdir
// and the fsync after it left an entry that may not be durable yet. Returns
// FailedPrecondition (with `clash_reason` appended) if something other than
// a directory is there.
absl::Status MakeDirectory(const std::string& path, bool sync_existing, const std::string& clash_reason) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno != EEXIST) return IoError(errno, "cannot create directory", path);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return IoError(errno, "cannot stat", path);
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is not a directory", clash_reason));
    }
    if (!sync_existing) return absl::OkStatus();
  }
  return SyncDirectory(ParentOf(path));
}

// MakeDirectories is MakeDirectory for `path` and its missing parents. The
// entries of directories that exist already are left alone: they are not
// the store's, and their parents may not even be readable.
absl::Status MakeDirectories(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return IoError(errno, "cannot stat", path);
    const std::string parent = ParentOf(path);
    if (parent != path) {
      if (absl::Status status = MakeDirectories(parent); !status.ok()) return status;
    }
  }
  return MakeDirectory(path, /*sync_existing=*/false, "");
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(errno, "cannot write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status NoKey(std::string_view key, const std::string& path) {
  return absl::NotFoundError(absl::StrCat("no key \"", std::string(key), "\" (", path, ")"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Open(std::string dir) {
  if (dir.empty()) return absl::InvalidArgumentError("store directory is empty");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (absl::Status status = MakeDirectories(dir); !status.ok()) return status;
  std::unique_ptr<FileStore> store(new FileStore(std::move(dir)));
  std::vector<std::string> keys;
  if (absl::Status status = store->Walk("", /*remove_temps=*/true, &keys); !status.ok()) return status;
  return store;
}

std::string FileStore::PathOf(std::string_view key) const { return absl::StrCat(dir_, "/", std::string(key)); }

absl::StatusOr<std::string> FileStore::Get(std::string_view key) {
  if (absl::Status status = ValidateStoreKey(key); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  const std::string path = PathOf(key);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NoKey(key, path);
    return IoError(errno, "cannot open", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError(errno, "cannot stat", path);
  // A directory holds the keys below it, not a value.
  if (!S_ISREG(st.st_mode)) return NoKey(key, path);
  if (static_cast<uint64_t>(st.st_size) > kMaxStoreValueBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is ", st.st_size, " bytes; a store value is at most ", kMaxStoreValueBytes));
  }
  std::string value(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (true) {
    // One byte of room beyond the size seen, to notice a file that grew.
    if (done == value.size()) value.resize(done + 1);
    const ssize_t n = ::read(fd.get(), value.data() + done, value.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(errno, "cannot read", path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
    if (done > kMaxStoreValueBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than a store value may be (", kMaxStoreValueBytes, " bytes)"));
    }
  }
  value.resize(done);
  return value;
}

absl::Status FileStore::Put(std::string_view key, std::string_view value) {
  absl::MutexLock writing(&write_mu_);
  return Write(key, value, /*replace=*/true);
}

absl::Status FileStore::Create(std::string_view key, std::string_view value) {
  absl::MutexLock writing(&write_mu_);
  return Write(key, value, /*replace=*/false);
}

absl::Status FileStore::Swap(std::string_view key, std::string_view expected, std::string_view value) {
  absl::MutexLock writing(&write_mu_);
  absl::StatusOr<std::string> now = Get(key);
  if (!now.ok()) return now.status();
  if (*now != expected) {
    return absl::AbortedError(absl::StrCat("key \"", std::string(key), "\" changed since it was read"));
  }
  return Write(key, value, /*replace=*/true);
}

absl::Status FileStore::Write(std::string_view key, std::string_view value, bool replace) {
  if (absl::Status status = ValidateStoreKey(key); !status.ok()) return status;
  if (value.size() > kMaxStoreValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat("value for \"", std::string(key), "\" is ", value.size(),
                                                   " bytes; at most ", kMaxStoreValueBytes, " are allowed"));
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status status = MakeParents(key); !status.ok()) return status;
  const std::string path = PathOf(key);
  const std::string parent = ParentOf(path);
  std::string tmp;
  if (absl::Status status = WriteTemp(parent, value, &tmp); !status.ok()) return status;
  const std::string clash = absl::StrCat(path, " is a directory: other keys start with \"", std::string(key), "/\"");
  if (replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      if (err == EISDIR) return absl::FailedPreconditionError(clash);
      return IoError(err, absl::StrCat("cannot rename ", tmp, " to"), path);
    }
  } else {
    // link(2), unlike rename(2), refuses an existing target: the check and
    // the creation are one atomic step.
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int err = errno;
    ::unlink(tmp.c_str());  // a failure leaves a temporary file Open removes
    if (linked != 0) {
      struct stat st;
      if (err == EEXIST && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(clash);
      }
      if (err == EEXIST) return absl::AlreadyExistsError(absl::StrCat("key \"", std::string(key), "\" exists (", path, ")"));
      return IoError(err, absl::StrCat("cannot link ", tmp, " to"), path);
    }
  }
  return SyncDirectory(parent);
}

absl::Status FileStore::MakeParents(std::string_view key) {
  for (size_t slash = key.find('/'); slash != std::string_view::npos; slash = key.find('/', slash + 1)) {
    const std::string prefix(key.substr(0, slash));
    absl::Status status = MakeDirectory(
        PathOf(prefix), /*sync_existing=*/true, absl::StrCat(": key \"", prefix, "\" holds a value, so no key can start with \"", prefix, "/\""));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FileStore::WriteTemp(const std::string& parent, std::string_view value, std::string* tmp_path) {
  int raw_fd = -1;
  // Names are unique within this process; O_EXCL steps over a name another
  // FileStore (or a crashed process with a reused pid) has taken.
  for (int attempt = 0; attempt < 100 && raw_fd < 0; ++attempt) {
    *tmp_path = absl::StrCat(parent, "/", std::string(kStoreTempPrefix), ::getpid(), ".", next_temp_++);
    raw_fd = ::open(tmp_path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (raw_fd < 0 && errno != EEXIST) return IoError(errno, "cannot create", *tmp_path);
  }
  if (raw_fd < 0) return IoError(EEXIST, "cannot create a temporary file in", parent);
  Fd fd(raw_fd);
  absl::Status status = WriteAll(fd.get(), value, *tmp_path);
  if (status.ok() && ::fsync(fd.get()) != 0) status = IoError(errno, "cannot fsync", *tmp_path);
  if (const int err = fd.Close(); err != 0 && status.ok()) status = IoError(err, "cannot close", *tmp_path);
  if (!status.ok()) ::unlink(tmp_path->c_str());
  return status;
}

absl::Status FileStore::Delete(std::string_view key) {
  if (absl::Status status = ValidateStoreKey(key); !status.ok()) return status;
  absl::MutexLock writing(&write_mu_);
  absl::MutexLock lock(&mu_);
  const std::string path = PathOf(key);
  if (::unlink(path.c_str()) != 0) {
    // EISDIR: a directory holds the keys below it; it is not a key.
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return NoKey(key, path);
    return IoError(errno, "cannot remove", path);
  }
  if (absl::Status status = SyncDirectory(ParentOf(path)); !status.ok()) return status;
  PruneParents(key);
  return absl::OkStatus();
}

void FileStore::PruneParents(std::string_view key) {
  // Best effort: a directory left behind holds no key and only keeps a key
  // of its own name from being stored.
  for (size_t slash = key.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = key.rfind('/', slash - 1)) {
    const std::string path = PathOf(key.substr(0, slash));
    if (::rmdir(path.c_str()) != 0 || !SyncDirectory(ParentOf(path)).ok()) return;
  }
}

absl::StatusOr<std::vector<std::string>> FileStore::List(std::string_view prefix) {
  if (absl::Status status = ValidateStoreKeyPrefix(prefix); !status.ok()) return status;
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    // Only the directory the prefix names in full can hold matching keys.
    const size_t slash = prefix.rfind('/');
    const std::string base(slash == std::string_view::npos ? std::string_view() : prefix.substr(0, slash + 1));
    if (absl::Status status = Walk(base, /*remove_temps=*/false, &keys); !status.ok()) return status;
  }
  keys.erase(std::remove_if(keys.begin(), keys.end(), [&](const std::string& k) { return !k.starts_with(prefix); }),
             keys.end());
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status FileStore::Walk(const std::string& rel, bool remove_temps, std::vector<std::string>* keys) {
  const std::string path = rel.empty() ? dir_ : absl::StrCat(dir_, "/", rel.substr(0, rel.size() - 1));
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    // A prefix whose directory does not exist (yet) lists nothing.
    if (errno == ENOENT || errno == ENOTDIR) return absl::OkStatus();
    return IoError(errno, "cannot list", path);
  }
  std::vector<std::string> subdirectories;
  bool removed = false;
  absl::Status status;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) status = IoError(errno, "cannot list", path);
      break;
    }
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = entry->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (name.starts_with(kStoreTempPrefix)) {
      if (!remove_temps || type != DT_REG) continue;
      if (::unlinkat(::dirfd(dir), name.c_str(), 0) != 0 && errno != ENOENT) {
        status = IoError(errno, "cannot remove", absl::StrCat(path, "/", name));
        break;
      }
      removed = true;
    } else if (type == DT_DIR) {
      subdirectories.push_back(name);
    } else if (type == DT_REG && ValidateStoreKey(rel + name).ok()) {
      keys->push_back(rel + name);
    }
  }
  ::closedir(dir);
  if (status.ok() && removed) status = SyncDirectory(path);
  for (const std::string& sub : subdirectories) {
    if (!status.ok()) break;
    status = Walk(absl::StrCat(rel, sub, "/"), remove_temps, keys);
  }
  return status;
}

}  // namespace braid::controller
