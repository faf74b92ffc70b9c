#include "pki/pem_files.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pki/boringssl_error.h"

namespace braid::pki {
namespace {

absl::Status ErrnoError(int err, const std::string& what) {
  std::string message = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

std::string BioContents(BIO* bio) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// ReadOnlyBio returns a BIO reading `pem`, or null if it is larger than
// kMaxPemFileSize (BIO_new_mem_buf takes an int length).
bssl::UniquePtr<BIO> ReadOnlyBio(std::string_view pem) {
  if (pem.size() > kMaxPemFileSize) return nullptr;
  return bssl::UniquePtr<BIO>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// DirectoryOf returns the directory part of `path` ("." for a bare name).
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// SyncDirectory makes a rename in `dir` durable.
absl::Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open directory ", dir));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, absl::StrCat("cannot fsync directory ", dir));
  return absl::OkStatus();
}

// MoveIntoPlace renames `tmp` to `path`. Without `overwrite` it uses
// RENAME_NOREPLACE, so a file that appeared since the caller's check is still
// not replaced; file systems without it fall back to link(2), which also
// fails on an existing target.
absl::Status MoveIntoPlace(const std::string& tmp, const std::string& path, bool overwrite) {
  if (overwrite) {
    if (rename(tmp.c_str(), path.c_str()) != 0) {
      return ErrnoError(errno, absl::StrCat("cannot rename ", tmp, " to ", path));
    }
    return absl::OkStatus();
  }
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    if (link(tmp.c_str(), path.c_str()) == 0) {
      unlink(tmp.c_str());
      return absl::OkStatus();
    }
    err = errno;
  }
  if (err == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " already exists; refusing to overwrite it"));
  }
  return ErrnoError(err, absl::StrCat("cannot rename ", tmp, " to ", path));
}

}  // namespace

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_X509(bio.get(), cert)) {
    return BoringSslError("cannot encode certificate as PEM");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return BoringSslError("cannot encode private key as PEM");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> CertificatesFromPem(std::string_view pem) {
  bssl::UniquePtr<BIO> bio = ReadOnlyBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("PEM input too large");
  std::vector<bssl::UniquePtr<X509>> certs;
  while (true) {
    bssl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) {
      uint32_t err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // The normal end of the input.
        break;
      }
      return BoringSslError(absl::StatusCode::kInvalidArgument,
                            absl::StrCat("certificate ", certs.size() + 1, " does not parse"));
    }
    certs.push_back(std::move(cert));
  }
  if (certs.empty()) return absl::InvalidArgumentError("no PEM CERTIFICATE block found");
  return certs;
}

absl::StatusOr<bssl::UniquePtr<X509>> CertificateFromPem(std::string_view pem) {
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = CertificatesFromPem(pem);
  if (!certs.ok()) return certs.status();
  if (certs->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one certificate, found ", certs->size()));
  }
  return std::move(certs->front());
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(std::string_view pem) {
  bssl::UniquePtr<BIO> bio = ReadOnlyBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("PEM input too large");
  // An empty password callback result makes an encrypted key fail instead of
  // prompting on the terminal.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (key == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument,
                          "no unencrypted PEM private key found");
  }
  return key;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open ", path));
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoError(err, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_size) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is larger than ", max_size, " bytes; not a PEM file"));
    }
  }
  close(fd);
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode,
                                 bool overwrite) {
  struct stat st;
  if (!overwrite && lstat(path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " already exists; refusing to overwrite it"));
  }
  const std::string dir = DirectoryOf(path);
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    uint8_t random[6];
    RAND_bytes(random, sizeof(random));
    tmp = absl::StrFormat("%s.tmp-%02x%02x%02x%02x%02x%02x", path, random[0], random[1], random[2],
                          random[3], random[4], random[5]);
    // The mode is right from the first byte: a key is never readable by
    // anyone else, not even for an instant.
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno != EEXIST) {
      return ErrnoError(errno, absl::StrCat("cannot create ", tmp));
    }
  }
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create a temporary file for ", path));

  // open() applied the umask, which can only have removed bits: setting the
  // exact mode now, before any data is written, widens a certificate back to
  // 0644 under a strict umask and leaves a key at 0600.
  absl::Status status;
  if (fchmod(fd, mode) != 0) {
    status = ErrnoError(errno, absl::StrCat("cannot set the mode of ", tmp));
  }
  if (status.ok()) status = WriteAll(fd, contents, tmp);
  if (status.ok() && fsync(fd) != 0) status = ErrnoError(errno, absl::StrCat("cannot fsync ", tmp));
  if (close(fd) != 0 && status.ok()) status = ErrnoError(errno, absl::StrCat("cannot close ", tmp));
  if (status.ok()) status = MoveIntoPlace(tmp, path, overwrite);
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

absl::Status WriteKeyAndCertificate(const std::string& key_path, EVP_PKEY* key,
                                    const std::string& cert_path, X509* cert, bool overwrite) {
  absl::StatusOr<std::string> key_pem = PrivateKeyToPem(key);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> cert_pem = CertificateToPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  if (!overwrite) {
    struct stat st;
    for (const std::string* path : {&key_path, &cert_path}) {
      if (lstat(path->c_str(), &st) == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat(*path, " already exists; refusing to overwrite it"));
      }
    }
  }
  if (absl::Status s = WriteFileAtomically(key_path, *key_pem, kPrivateKeyFileMode, overwrite);
      !s.ok()) {
    return s;
  }
  absl::Status s = WriteFileAtomically(cert_path, *cert_pem, kCertificateFileMode, overwrite);
  if (!s.ok() && !overwrite) unlink(key_path.c_str());
  return s;
}

}  // namespace braid::pki
