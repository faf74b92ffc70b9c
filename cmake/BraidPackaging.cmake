# What `cmake --install` puts beside the binaries (each binary's own
# install() rule is in its directory), and the Debian package that `cpack`
# makes of it. scripts/package builds the package; docs/operations.md says
# how to install and run it.
#
# Package layout (prefix /usr):
#   /usr/bin/braid-proxy, /usr/bin/braid-controller, /usr/bin/braidctl
#   /lib/systemd/system/braid-proxy.service, braid-controller.service
#   /usr/share/doc/braid/            README.md and the operator's documents
#   /usr/share/doc/braid/examples/   example gateway configs
#   /usr/share/doc/braid/examples/policies/   the sample policies

# Debian 12 keeps packaged units in /lib/systemd/system; scripts/package
# sets that. Relative (the default), the unit goes under the install
# prefix, so that `cmake --install build --prefix /opt/braid` writes
# nothing outside /opt/braid.
set(BRAID_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING
    "Where the systemd unit is installed (relative: under the install prefix)")

install(FILES packaging/systemd/braid-proxy.service packaging/systemd/braid-controller.service
  DESTINATION ${BRAID_SYSTEMD_UNIT_DIR})
install(FILES
    README.md
    docs/operations.md
    docs/configuration.md
    docs/controller.md
    docs/policy.md
    docs/pki.md
  DESTINATION share/doc/braid)
install(FILES
    packaging/examples/README.md
    packaging/examples/gw-dc1.json
    packaging/examples/gw-cloud.json
    packaging/examples/controller.json
  DESTINATION share/doc/braid/examples)
install(DIRECTORY policies/ DESTINATION share/doc/braid/examples/policies
        FILES_MATCHING PATTERN "*.json" PATTERN "README.md")

# The Debian package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME braid)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(BRAID_PACKAGE_MAINTAINER "braid maintainers <maintainers@braid.invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT ${BRAID_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Layer-5 secure overlay for database replication links")
# The long description: CPack puts the summary first and indents each line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"braid-proxy is a gateway: a pair of them carries TCP connections between
two groups of hosts over a mutually authenticated TLS 1.3 tunnel that
exists only while it is used, stripes one fast flow over several TLS lanes,
and admits only what a permit/deny Security Filter Table allows, checked on
both gateways. braidctl checks and evaluates policies and makes the
gateways' private CA and certificates. Includes a hardened systemd unit,
example configs and sample policies.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The libraries the binaries link (BoringSSL, spdlog, liburing, Abseil...)
# come from dpkg-shlibdeps (package dpkg-dev, from scripts/bootstrap);
# adduser is for postinst.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
find_program(BRAID_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(BRAID_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found: the Debian package will not list its library dependencies")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
