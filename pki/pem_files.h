// PEM encoding of certificates and keys, and the files they live in.
//
// Private keys are the one secret braid keeps on disk, so writing them follows
// strict rules: the file is created with open(O_CREAT|O_EXCL) and its final
// mode from the start (never written and then chmod-ed), filled, fsync-ed and
// renamed into place (a crash leaves the old file or the new, never a torn
// one), and an existing file is replaced only when the caller asks for it.
#ifndef BRAID_PKI_PEM_FILES_H_
#define BRAID_PKI_PEM_FILES_H_

#include <openssl/base.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::pki {

inline constexpr mode_t kCertificateFileMode = 0644;
inline constexpr mode_t kPrivateKeyFileMode = 0600;
// kMaxPemFileSize bounds what ReadFile loads: a certificate bundle is a few
// kilobytes, so anything larger is a mistake (a wrong path), not a PKI file.
inline constexpr size_t kMaxPemFileSize = 1 << 20;

// CertificateToPem returns `cert` as a "CERTIFICATE" PEM block.
absl::StatusOr<std::string> CertificateToPem(X509* cert);

// PrivateKeyToPem returns `key` as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block.
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);

// CertificatesFromPem parses every "CERTIFICATE" block in `pem`, in order.
// Returns InvalidArgument if there is none or one does not parse.
absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> CertificatesFromPem(std::string_view pem);

// CertificateFromPem parses the single certificate in `pem`. Returns
// InvalidArgument if there is none, more than one, or it does not parse.
absl::StatusOr<bssl::UniquePtr<X509>> CertificateFromPem(std::string_view pem);

// PrivateKeyFromPem parses an unencrypted private key (PKCS#8, or the
// traditional "EC PRIVATE KEY" form). Returns InvalidArgument otherwise.
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(std::string_view pem);

// ReadFile returns the contents of the file at `path`. Returns NotFound if it
// does not exist, InvalidArgument if it is larger than `max_size`, and another
// error naming the path and errno text otherwise.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_size = kMaxPemFileSize);

// WriteFileAtomically makes `path` hold exactly `contents` with permissions
// exactly `mode` (the umask does not apply). The data goes to a temporary
// file in the same directory, created O_CREAT|O_EXCL with `mode`, fsync-ed,
// renamed over `path`, and the directory is fsync-ed. Without `overwrite`, an
// existing `path` is never replaced, not even one created concurrently:
// returns AlreadyExists naming the path. Other failures name the path and the
// errno text; the temporary file is removed.
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode,
                                 bool overwrite);

// WriteKeyAndCertificate writes `key` to `key_path` (mode 0600) and `cert` to
// `cert_path` (mode 0644) with WriteFileAtomically. Without `overwrite`, it
// checks first that neither file exists (AlreadyExists otherwise) so that a
// refusal leaves no half pair behind; if writing the certificate fails, the
// key it just wrote is removed again. With `overwrite`, a failure between the
// two renames leaves the new key beside the old certificate; run it again.
absl::Status WriteKeyAndCertificate(const std::string& key_path, EVP_PKEY* key,
                                    const std::string& cert_path, X509* cert, bool overwrite);

}  // namespace braid::pki

#endif  // BRAID_PKI_PEM_FILES_H_
