# The installed layout (FHS with the default prefix /usr) and the Debian package (`make package`).
#   /usr/bin/herald                       the server and its CLI
#   /etc/herald/herald.toml               the production config (a conffile: upgrades keep your edits)
#   /usr/share/herald/web                 the pages
#   /var/lib/herald                       state: the login database
#   /usr/lib/systemd/system/herald.service
set(HERALD_BIN ${CMAKE_INSTALL_FULL_BINDIR}/herald)
set(HERALD_CONFIG ${CMAKE_INSTALL_FULL_SYSCONFDIR}/herald/herald.toml)
set(HERALD_WEB_DIR ${CMAKE_INSTALL_FULL_DATADIR}/herald/web)
set(HERALD_STATE_DIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/herald)
configure_file(${PROJECT_SOURCE_DIR}/packaging/herald.toml.in ${PROJECT_BINARY_DIR}/packaging/herald.toml @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/packaging/herald.service.in ${PROJECT_BINARY_DIR}/packaging/herald.service @ONLY)
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${HERALD_CONFIG}\n")

install(TARGETS herald RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/herald/web)
install(FILES ${PROJECT_BINARY_DIR}/packaging/herald.toml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/herald)
install(FILES ${PROJECT_BINARY_DIR}/packaging/herald.service DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/config.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME herald)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "herald maintainers <herald@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time push server: interval poll, long poll, SSE, WebSocket")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # herald_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Depends: the shared libraries the binary links, as dpkg-shlibdeps finds them; useradd for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/package)
include(CPack)
