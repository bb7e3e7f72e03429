# Install rules and the Debian package (included by the top-level CMakeLists.txt).
#
#   cmake --install build [--prefix P] [--strip]        (DESTDIR=... honoured too)
#   cd build && cpack -G DEB                            → dynoguard_<version>_<arch>.deb
#
# Layout under the prefix (default /usr/local; the .deb uses /usr):
#   lib/dynoguard/dynoguard-{postgres,mongodb}.so    the session store modules, loaded by the
#                                                    worker from its own directory
#   lib/dynoguard/supervisor, lib/dynoguard/worker   the two programs, side by side: `supervisor
#                                                    start` runs the worker installed beside it,
#                                                    and SPEC fixes both names (too generic for
#                                                    bin/: Debian's `supervisor` package owns the
#                                                    name in the operator's mind)
#   bin/dynoguard -> ../lib/dynoguard/supervisor     what an operator types (`dynoguard status`);
#                                                    the supervisor finds the worker through
#                                                    /proc/self/exe, so the symlink works
#   lib/systemd/system/dynoguard.{service,socket}    the units, ExecStart= rewritten to the prefix
#   share/doc/dynoguard/                             README, docs/*.md, LICENSE, dynoguard.env
#                                                    (the example environment file)
# Only supervisor, worker and the store modules are installed; `cmake --install` and cpack never build: build them
# first (scripts/setup.sh, or `cmake --build build --target supervisor worker`).

# cpack and `make install` would otherwise build `all` first, the test suite included.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(DYNOGUARD_PROGRAM_DIR lib/dynoguard)
set(DYNOGUARD_UNIT_DIR lib/systemd/system)
set(DYNOGUARD_DOC_DIR share/doc/dynoguard)

install(TARGETS supervisor worker RUNTIME DESTINATION ${DYNOGUARD_PROGRAM_DIR})
# The session store modules the worker loads from beside it (SESSION_STORAGE_TYPE=postgres,
# mongodb; worker/session/stores/store_module.h).
install(TARGETS dynoguard_postgres_module dynoguard_mongodb_module
        LIBRARY DESTINATION ${DYNOGUARD_PROGRAM_DIR})
install(CODE "
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin\")
  file(CREATE_LINK ../${DYNOGUARD_PROGRAM_DIR}/supervisor
       \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/dynoguard\" SYMBOLIC)
  message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/dynoguard -> ../${DYNOGUARD_PROGRAM_DIR}/supervisor\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${CMAKE_INSTALL_PREFIX}/bin/dynoguard\")
")

# The units name /usr/lib/dynoguard and /usr/share/doc/dynoguard (the .deb's paths): rewritten at
# install time for the prefix actually used (`--prefix` is known only then).
install(CODE "
  foreach(unit dynoguard.service dynoguard.socket)
    file(READ \"${PROJECT_SOURCE_DIR}/deploy/systemd/\${unit}\" text)
    string(REPLACE \"/usr/lib/dynoguard/\" \"\${CMAKE_INSTALL_PREFIX}/${DYNOGUARD_PROGRAM_DIR}/\" text \"\${text}\")
    string(REPLACE \"/usr/share/doc/dynoguard/\" \"\${CMAKE_INSTALL_PREFIX}/${DYNOGUARD_DOC_DIR}/\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/units/\${unit}\" \"\${text}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/units/\${unit}\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${DYNOGUARD_UNIT_DIR}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endforeach()
")

install(FILES README.md LICENSE deploy/systemd/dynoguard.env DESTINATION ${DYNOGUARD_DOC_DIR})
file(GLOB DYNOGUARD_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md
     ${PROJECT_SOURCE_DIR}/docs/*.yaml ${PROJECT_SOURCE_DIR}/docs/*.png
     ${PROJECT_SOURCE_DIR}/docs/*.svg)
install(FILES ${DYNOGUARD_DOCS} DESTINATION ${DYNOGUARD_DOC_DIR})

# The Debian package: runtime dependencies computed by dpkg-shlibdeps from the two programs.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dynoguard)
set(CPACK_PACKAGE_VENDOR "the dynoguard authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "WhatsApp bot gateway that keeps itself inside a memory budget")
set(CPACK_PACKAGE_DESCRIPTION
    "A supervisor keeps a worker inside a memory budget (cleanup signals at 70 % and 85 %, a
graceful restart at 95 %, crash restarts with backoff); the worker is a WhatsApp gateway: the
WhatsApp Business Platform Cloud API or a built-in sandbox, a durable SQLite message queue,
inbound webhooks forwarded to your bot, and an HTTP API. Ships a hardened systemd unit
(DynamicUser, StateDirectory=/var/lib/dynoguard) and an optional socket unit; the service is not
enabled at install: put API_KEY in /etc/dynoguard/dynoguard.env first (see
/usr/share/doc/dynoguard/deployment.md).")
set(CPACK_PACKAGE_CONTACT "the dynoguard authors <dynoguard@example.invalid>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # dynoguard_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")  # HTTPS to the Graph API
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/debian/postinst ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
    ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
