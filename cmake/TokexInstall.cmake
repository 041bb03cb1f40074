# cmake/TokexInstall.cmake: where `cmake --install` puts tokex (FHS, GNUInstallDirs) and
# the .deb CPack builds from it. Included last by the top-level CMakeLists.txt, when every
# target exists.
#
#   programs          bin/                tokexd tokexctl tokex-journal tokex-replay tokex-mm
#                                         tokex-loadgen
#   libraries         lib/<multiarch>/    libtokex-client.so.0 (shared, pkg-config tokex-client),
#                                         libtokex_client.a libtokex_proto.a libtokex_version.a
#                                         (static, pkg-config libtokex-{client,codec})
#   headers           include/tokex/      client.h codec.h proto.h price.h venue.h offload.h
#                                         version.h
#   SBE schema        share/tokex/        tokex-sbe.xml (also beside the headers)
#   Wireshark         lib/<multiarch>/wireshark/plugins/tokex.lua
#   systemd           lib/systemd/system/tokexd.service, lib/sysusers.d/tokex.conf
#   configuration     /etc/tokex/tokexd.yaml (tokexd --print-config-example; a conffile),
#                     share/doc/tokex/examples/tokexd.yaml
#   docs              share/doc/tokex/    README.md docs/*.md LICENSE copyright
#
# /etc is absolute (GNUInstallDirs gives /etc for the prefix /usr, the default here): for a
# staged install use DESTDIR (DESTDIR=/tmp/stage cmake --install build/release).
include(GNUInstallDirs)

set(TKX_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(TKX_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(TKX_DOCDIR ${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/tokex)

foreach(p tokexd tokexctl tokex-journal tokex-replay tokex-mm tokex-loadgen)
  if(TARGET ${p})
    install(TARGETS ${p} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

install(TARGETS tokex_client tokex_proto tokex_version ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tokex_client_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/tokex/client.h include/tokex/codec.h include/tokex/proto.h
              include/tokex/price.h
              include/tokex/venue.h include/tokex/offload.h include/tokex/version.h
              include/tokex/tokex-sbe.xml
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tokex)
foreach(pc tokex-client libtokex-client libtokex-codec)
  configure_file(cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
install(FILES include/tokex/tokex-sbe.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/tokex)
install(FILES scripts/wireshark/tokex.lua DESTINATION ${CMAKE_INSTALL_LIBDIR}/wireshark/plugins)

configure_file(scripts/systemd/tokexd.service.in ${PROJECT_BINARY_DIR}/tokexd.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tokexd.service DESTINATION lib/systemd/system)
install(FILES scripts/systemd/tokex.sysusers DESTINATION lib/sysusers.d RENAME tokex.conf)

# The annotated example configuration, written by this build's tokexd from the parser's
# table (control/cp_config_doc.c).
set(TKX_EXAMPLE ${PROJECT_BINARY_DIR}/tokexd.yaml)
add_custom_command(OUTPUT ${TKX_EXAMPLE}
  COMMAND tokexd --print-config-example > ${TKX_EXAMPLE}
  DEPENDS tokexd
  COMMENT "tokexd.yaml: the annotated example configuration"
  VERBATIM)
add_custom_target(tokex_config_example ALL DEPENDS ${TKX_EXAMPLE})
install(FILES ${TKX_EXAMPLE} DESTINATION ${TKX_SYSCONFDIR}/tokex)
install(FILES ${TKX_EXAMPLE} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tokex/examples)
install(FILES dataplane/client/example.c DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tokex/examples
        RENAME tokex-client-example.c)
install(FILES README.md LICENSE docs/BENCHMARKS.md docs/HW.md docs/STANDBY.md docs/protocol.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tokex)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tokex RENAME copyright)
if(EXISTS ${PROJECT_SOURCE_DIR}/scripts/grafana/tokex-dashboard.json)
  install(FILES scripts/grafana/tokex-dashboard.json
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tokex/examples)
endif()

# ---- the .deb (cpack -G DEB, or the `package` target) -----------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tokex)
set(CPACK_PACKAGE_VENDOR tokex)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "low-latency matching appliance for AI-token futures (DPDK)")
set(CPACK_PACKAGE_DESCRIPTION
    "tokexd, the matching appliance (DPDK, io_uring journal), tokexctl, its operator's
tool, tokex-journal, tokex-replay, tokex-mm and tokex-loadgen; the client and codec
libraries with their headers and pkg-config files; the SBE schema, a Wireshark dissector,
a systemd unit and an annotated example configuration.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "tokex operators <root@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Runtime dependencies from the programs' shared libraries, by Debian's own names
# (librte-*, liburing2, libnuma1, libsodium23, libssl3, libyaml-0-2, libsystemd0...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The unit's Type=notify and the sysusers entry need systemd's tools where it runs.
# DPDK's drivers are plugins EAL loads at run time, which shlibdeps cannot see: the
# mempool and bus drivers every port needs; the NIC drivers come with the dpdk package.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "librte-mempool-ring23, librte-bus-pci23, librte-bus-vdev23")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, dpdk, librte-net-tap23, librte-net-memif23")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus, wireshark")
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "${TKX_SYSCONFDIR}/tokex/tokexd.yaml\n")
foreach(s postinst prerm postrm)
  configure_file(scripts/debian/${s} ${PROJECT_BINARY_DIR}/debian/${s} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian/conffiles
    ${PROJECT_BINARY_DIR}/debian/postinst ${PROJECT_BINARY_DIR}/debian/prerm
    ${PROJECT_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
