# Install rules and the Debian package (CPack DEB). Included last from the top-level CMakeLists.txt.
#
#   cmake --install build                  # as root: /usr/local/bin/outpost, /etc/outpost/..., man page
#   DESTDIR=/tmp/stage cmake --install build
#   cd build && cpack -G DEB               # outpost_<version>_<arch>.deb, installed under /usr
#
# /etc/outpost is absolute (Debian wants it there whatever the prefix; the DEB generator stages
# absolute destinations itself), as is the systemd unit's /lib/systemd/system, installed by its own
# rule. Set OUTPOST_INSTALL_CONFDIR to a relative path (etc/outpost) for an install under a user prefix.
include(GNUInstallDirs)
set(OUTPOST_INSTALL_CONFDIR "/etc/outpost" CACHE STRING "Where the site that the service runs is installed")

install(TARGETS outpost RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The site the service runs: a starting point (one SocketCAN bus, the example DBC import) that
# `outpost check` accepts as shipped; its outbox is under the unit's StateDirectory. Conffiles in the
# package, so dpkg keeps the integrator's edits across upgrades.
set(OUTPOST_CONFFILES
  ${PROJECT_SOURCE_DIR}/packaging/site.json
  ${PROJECT_SOURCE_DIR}/configs/dbc-example/mapping.json
  ${PROJECT_SOURCE_DIR}/configs/dbc-example/bms.dbc)
# `cmake --install` never replaces a site already there (the package's conffiles do the same for dpkg).
# file(INSTALL) puts DESTDIR in front of the destination itself; the check must do it by hand.
if(IS_ABSOLUTE ${OUTPOST_INSTALL_CONFDIR})
  set(confdest "${OUTPOST_INSTALL_CONFDIR}")
else()
  set(confdest "\${CMAKE_INSTALL_PREFIX}/${OUTPOST_INSTALL_CONFDIR}")
endif()
foreach(f IN LISTS OUTPOST_CONFFILES)
  get_filename_component(name ${f} NAME)
  install(CODE "
    if(EXISTS \"\$ENV{DESTDIR}${confdest}/${name}\")
      message(STATUS \"Kept: \$ENV{DESTDIR}${confdest}/${name} (an installed site is never replaced)\")
    else()
      file(INSTALL \"${f}\" DESTINATION \"${confdest}\")
    endif()")
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# outpost(1): the template's fixed sections around what `outpost --help` prints (one source for the
# command list). Runs the binary just built, through the emulator when cross-compiling.
set(OUTPOST_MAN ${PROJECT_BINARY_DIR}/packaging/outpost.1)
add_custom_command(OUTPUT ${OUTPOST_MAN}.gz
  COMMAND ${CMAKE_COMMAND} -DOUTPOST=$<TARGET_FILE:outpost> -DTEMPLATE=${PROJECT_SOURCE_DIR}/packaging/outpost.1.in
          -DVERSION=${PROJECT_VERSION} -DOUTPUT=${OUTPOST_MAN} -P ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  COMMAND gzip -9 -n -k -f ${OUTPOST_MAN}
  DEPENDS outpost ${PROJECT_SOURCE_DIR}/packaging/outpost.1.in ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  COMMENT "Writing outpost(1) from outpost --help" VERBATIM)
add_custom_target(outpost_man ALL DEPENDS ${OUTPOST_MAN}.gz)
install(FILES ${OUTPOST_MAN}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The Debian package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME outpost)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Outpost maintainers <outpost@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "store-and-forward gateway from Modbus and SocketCAN to MQTT")
# Wrapped by hand: dpkg shows the extended description as it is.
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "Outpost reads field buses (Modbus RTU and TCP, SocketCAN, candump logs), turns"
  "frames into named readings through a per-site JSON mapping, keeps every reading"
  "in a SQLite outbox that survives restarts and power cuts, and drains it to an"
  "MQTT broker over an unreliable link. A reading accepted into the outbox is"
  "delivered at least once, or its loss is recorded with a reason.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/outpost")
# Shared-library dependencies from dpkg-shlibdeps (dpkg-dev), plus what the maintainer scripts use.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto-clients, can-utils")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(OUTPOST_DEB_CONTROL ${PROJECT_BINARY_DIR}/packaging/deb)
set(confdir ${OUTPOST_INSTALL_CONFDIR})
if(NOT IS_ABSOLUTE ${confdir})
  set(confdir ${CPACK_PACKAGING_INSTALL_PREFIX}/${confdir})
endif()
set(conffiles "")
foreach(f IN LISTS OUTPOST_CONFFILES)
  get_filename_component(name ${f} NAME)
  string(APPEND conffiles "${confdir}/${name}\n")
endforeach()
file(WRITE ${OUTPOST_DEB_CONTROL}/conffiles "${conffiles}")
foreach(script postinst prerm postrm)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/deb/${script} ${OUTPOST_DEB_CONTROL}/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${OUTPOST_DEB_CONTROL}/conffiles;${OUTPOST_DEB_CONTROL}/postinst;${OUTPOST_DEB_CONTROL}/prerm;${OUTPOST_DEB_CONTROL}/postrm")
include(CPack)
