# Every dependency comes from a Debian package installed by scripts/bootstrap.
# Each is found exactly; nothing is vendored or downloaded.

find_package(Threads REQUIRED)
find_package(absl REQUIRED CONFIG)
find_package(nlohmann_json 3.11 REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG)
find_package(PkgConfig REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
if(BRAID_BUILD_TESTS)
  find_package(GTest REQUIRED CONFIG)
endif()
if(BRAID_BUILD_BENCH)
  find_package(benchmark REQUIRED CONFIG)
endif()

# BoringSSL, from android-libboringssl-dev. Debian installs it beside OpenSSL
# under its own prefixes, so it is looked up only there: the build must never
# fall back to the system OpenSSL. tests/build/boringssl_test.cc also asserts
# OPENSSL_IS_BORINGSSL at compile time.
set(BRAID_BORINGSSL_INCLUDE_DIR /usr/include/android)
set(BRAID_BORINGSSL_LIB_DIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
find_path(BORINGSSL_INCLUDE_DIR openssl/is_boringssl.h
          PATHS ${BRAID_BORINGSSL_INCLUDE_DIR} NO_DEFAULT_PATH)
find_library(BORINGSSL_SSL_LIBRARY ssl
             PATHS ${BRAID_BORINGSSL_LIB_DIR} NO_DEFAULT_PATH)
find_library(BORINGSSL_CRYPTO_LIBRARY crypto
             PATHS ${BRAID_BORINGSSL_LIB_DIR} NO_DEFAULT_PATH)
if(NOT BORINGSSL_INCLUDE_DIR OR NOT BORINGSSL_SSL_LIBRARY OR NOT BORINGSSL_CRYPTO_LIBRARY)
  message(FATAL_ERROR
    "BoringSSL not found: expected headers in ${BRAID_BORINGSSL_INCLUDE_DIR} and "
    "libssl/libcrypto in ${BRAID_BORINGSSL_LIB_DIR}. Run scripts/bootstrap "
    "(package android-libboringssl-dev).")
endif()
add_library(braid_boringssl_crypto SHARED IMPORTED)
set_target_properties(braid_boringssl_crypto PROPERTIES
  IMPORTED_LOCATION ${BORINGSSL_CRYPTO_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${BORINGSSL_INCLUDE_DIR}
  INTERFACE_COMPILE_DEFINITIONS BRAID_WITH_BORINGSSL=1)
add_library(braid_boringssl_ssl SHARED IMPORTED)
set_target_properties(braid_boringssl_ssl PROPERTIES
  IMPORTED_LOCATION ${BORINGSSL_SSL_LIBRARY}
  INTERFACE_LINK_LIBRARIES braid_boringssl_crypto)
add_library(braid::boringssl ALIAS braid_boringssl_ssl)
message(STATUS "BoringSSL: ${BORINGSSL_SSL_LIBRARY}")

# Installed binaries find BoringSSL's non-standard library directory.
set(CMAKE_INSTALL_RPATH ${BRAID_BORINGSSL_LIB_DIR})
