# SPDX-License-Identifier: MIT
# Installation beyond the binary and its data (store file, systemd unit, user and state
# directory definitions, docs, man page) and the Debian package built by CPack.
#
# `cmake --install` follows GNUInstallDirs: with CMAKE_INSTALL_PREFIX=/usr (what
# scripts/package.sh uses) the configuration goes to /etc/storekeeper and the state to
# /var/lib/storekeeper; with the default /usr/local prefix to /usr/local/etc and
# /usr/local/var. The unit file is generated with the same paths, so it always matches.
#
# The package's dependencies are not listed here: dpkg-shlibdeps computes them from the
# libraries the binary links (CPACK_DEBIAN_PACKAGE_SHLIBDEPS), so a new library dependency
# needs no change in this file. Only what the maintainer scripts call is named.
#
# Three packages (CPack components): storekeeper (the binary, RFID, ledger, MQTT: no OpenCV,
# no C++ runtime), storekeeper-camera (the module vision-opencv.so: any camera needs it; it
# brings OpenCV, whose libopencv-core406 alone depends on libglx0 and so on Mesa, LLVM and
# X11) and storekeeper-libcamera (camera-libcamera.so, the Pi's CSI cameras). A store
# without cameras installs the first alone; docs/operator.md gives the sizes.

set(SK_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/storekeeper)
set(SK_STATEDIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/storekeeper)
set(SK_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(SK_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})

# systemd's directories: Debian 12 says /lib/systemd/system (pkg-config systemd); outside
# /usr they follow the prefix and the administrator links them in.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    pkg_get_variable(SK_PC_UNITDIR systemd systemdsystemunitdir)
    if(NOT SK_PC_UNITDIR)
        set(SK_PC_UNITDIR /lib/systemd/system)
    endif()
    set(SK_DEFAULT_UNITDIR ${SK_PC_UNITDIR})
    set(SK_DEFAULT_SYSTEMDLIB /usr/lib)
else()
    set(SK_DEFAULT_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
    set(SK_DEFAULT_SYSTEMDLIB ${CMAKE_INSTALL_PREFIX}/lib)
endif()
if(NOT SK_SYSTEMD_UNITDIR)
    set(SK_SYSTEMD_UNITDIR ${SK_DEFAULT_UNITDIR})
endif()

set(SK_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/scripts/deploy)
set(SK_DEPLOY_OUT ${PROJECT_BINARY_DIR}/deploy)
configure_file(${SK_DEPLOY_DIR}/storekeeper.service.in ${SK_DEPLOY_OUT}/storekeeper.service @ONLY)
configure_file(${SK_DEPLOY_DIR}/sysusers.conf.in ${SK_DEPLOY_OUT}/sysusers/storekeeper.conf @ONLY)
configure_file(${SK_DEPLOY_DIR}/tmpfiles.conf.in ${SK_DEPLOY_OUT}/tmpfiles/storekeeper.conf @ONLY)

install(FILES ${SK_DEPLOY_OUT}/storekeeper.service DESTINATION ${SK_SYSTEMD_UNITDIR})
install(FILES ${SK_DEPLOY_OUT}/sysusers/storekeeper.conf
        DESTINATION ${SK_DEFAULT_SYSTEMDLIB}/sysusers.d)
install(FILES ${SK_DEPLOY_OUT}/tmpfiles/storekeeper.conf
        DESTINATION ${SK_DEFAULT_SYSTEMDLIB}/tmpfiles.d)
install(FILES examples/store.cfg DESTINATION ${SK_SYSCONFDIR})
install(DIRECTORY DESTINATION ${SK_STATEDIR})
install(FILES README.md ${SK_DEPLOY_DIR}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Each package has its own /usr/share/doc/PACKAGE with the copyright and the changelog.
foreach(comp camera libcamera)
    install(FILES ${SK_DEPLOY_DIR}/copyright ${SK_DEPLOY_OUT}/changelog.Debian.gz
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/storekeeper-${comp} COMPONENT ${comp})
endforeach()
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json")
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The broker configuration and ACL that docs/mqtt.md and docs/security.md point at, beside
# the installed docs as in the source tree (examples/broker/ relative to them).
install(DIRECTORY docs/examples/broker/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/broker)
install(FILES ${SK_DEPLOY_DIR}/storekeeper.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME storekeeper)

# Debian wants the man page and the changelog compressed with gzip -9n (no name, no time).
find_program(SK_GZIP gzip REQUIRED)
set(SK_DEB_MAINTAINER "storekeeper maintainers <storekeeper@example.org>"
    CACHE STRING "Maintainer field of the Debian package (and of its changelog)")
set(SK_DEB_RELEASE 1 CACHE STRING "Debian revision of the package")
set(SK_DEB_VERSION ${PROJECT_VERSION}-${SK_DEB_RELEASE})
set(SK_VERSION_FULL ${PROJECT_VERSION})
if(SK_GIT_DESCRIBE)
    set(SK_VERSION_FULL "${PROJECT_VERSION} (${SK_GIT_DESCRIBE})")
endif()
# The changelog's date is the commit's, so two builds of one commit are identical.
set(SK_DEB_DATE "")
if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
    execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%cD
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE SK_DEB_DATE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT SK_DEB_DATE)
    string(TIMESTAMP SK_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
configure_file(${SK_DEPLOY_DIR}/changelog.in ${SK_DEPLOY_OUT}/changelog.Debian @ONLY)
add_custom_command(
    OUTPUT ${SK_DEPLOY_OUT}/storekeeper.1.gz ${SK_DEPLOY_OUT}/changelog.Debian.gz
    COMMAND ${SK_GZIP} -9n -c ${PROJECT_SOURCE_DIR}/docs/storekeeper.1 > storekeeper.1.gz
    COMMAND ${SK_GZIP} -9n -c changelog.Debian > changelog.Debian.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/storekeeper.1 ${SK_DEPLOY_OUT}/changelog.Debian
    WORKING_DIRECTORY ${SK_DEPLOY_OUT}
    VERBATIM)
add_custom_target(sk_deploy_files ALL
                  DEPENDS ${SK_DEPLOY_OUT}/storekeeper.1.gz ${SK_DEPLOY_OUT}/changelog.Debian.gz)
install(FILES ${SK_DEPLOY_OUT}/storekeeper.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${SK_DEPLOY_OUT}/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Lintian warnings that do not apply to a package built outside Debian's archive, each
# explained in the file.
foreach(pkg storekeeper storekeeper-camera storekeeper-libcamera)
    string(REGEX REPLACE "^storekeeper-?" "" comp ${pkg})
    if(NOT comp)
        set(comp main)
    endif()
    install(FILES ${SK_DEPLOY_DIR}/lintian-overrides
            DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${pkg} COMPONENT ${comp})
endforeach()

# ---- Debian package ----------------------------------------------------------------------
# Architecture after the compiler's target, so the cross build (cmake/toolchain-*.cmake)
# makes an arm64 package on an amd64 machine.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    set(SK_DEB_ARCH arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|amd64|AMD64)$")
    set(SK_DEB_ARCH amd64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^armv[67]")
    set(SK_DEB_ARCH armhf)
else()
    execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE SK_DEB_ARCH
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()

# Every file under /etc is a conffile: dpkg keeps the operator's edits on upgrade.
file(WRITE ${SK_DEPLOY_OUT}/conffiles "${SK_SYSCONFDIR}/store.cfg\n")
foreach(script postinst prerm postrm)
    configure_file(${SK_DEPLOY_DIR}/${script} ${SK_DEPLOY_OUT}/${script} COPYONLY)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME storekeeper)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${SK_DEB_MAINTAINER})
# Each package's description starts with its synopsis line (CPACK_PACKAGE_DESCRIPTION_SUMMARY
# is left unset: CPack would put that one synopsis before every package's own); nobody wraps
# the long descriptions, so their lines are kept under 80 columns here.
set(CPACK_DEBIAN_MAIN_DESCRIPTION "edge runtime of an unmanned store
storekeeper runs on a Raspberry Pi class board in a walk-out store. It polls
RFID shelf readers over Modbus RTU or TCP, follows shoppers with overhead
cameras, attributes pickups to shoppers, keeps the store's inventory ledger in
SQLite and publishes checkout, restock and health events to an MQTT broker.
The package runs it as a sandboxed systemd service with a watchdog, under its
own unprivileged user. Cameras need storekeeper-camera.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SK_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${SK_DEB_ARCH})
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL main camera)
if(TARGET sk_mod_camera-libcamera)
    list(APPEND CPACK_COMPONENTS_ALL libcamera)
endif()
set(CPACK_DEBIAN_MAIN_PACKAGE_NAME storekeeper)
set(CPACK_DEBIAN_MAIN_FILE_NAME DEB-DEFAULT)
# adduser: postinst creates the service user (init-system-helpers is essential).
# procps: /bin/kill, the unit's ExecReload (not in a minimal Debian 12 root).
set(CPACK_DEBIAN_MAIN_PACKAGE_DEPENDS "adduser, procps")
# A local broker bridged to the cloud is the usual set-up (mqtt.host defaults to loopback).
set(CPACK_DEBIAN_MAIN_PACKAGE_RECOMMENDS "mosquitto")
# The cameras: suggested, not recommended (apt installs recommendations, and these bring
# OpenCV's graphics stack to every board). sqlite3: ledger backups; mosquitto-clients,
# mbpoll: checking the broker and buses by hand.
set(CPACK_DEBIAN_MAIN_PACKAGE_SUGGESTS
    "storekeeper-camera, storekeeper-libcamera, sqlite3, mosquitto-clients, mbpoll")
set(CPACK_DEBIAN_MAIN_PACKAGE_CONTROL_EXTRA
    ${SK_DEPLOY_OUT}/conffiles ${SK_DEPLOY_OUT}/postinst ${SK_DEPLOY_OUT}/prerm
    ${SK_DEPLOY_OUT}/postrm)
# The modules are of one build with the binary (they check its version when loaded).
set(CPACK_DEBIAN_CAMERA_PACKAGE_NAME storekeeper-camera)
set(CPACK_DEBIAN_CAMERA_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_CAMERA_PACKAGE_DEPENDS "storekeeper (= ${SK_DEB_VERSION})")
set(CPACK_DEBIAN_CAMERA_DESCRIPTION "camera support for storekeeper (OpenCV vision pipeline)
The vision module of storekeeper: background subtraction, morphology and
connected components through OpenCV for the overhead cameras, loaded by the
daemon when the store file configures a camera. USB and other V4L2 cameras
need only this package; Raspberry Pi CSI cameras also need
storekeeper-libcamera.")
set(CPACK_DEBIAN_LIBCAMERA_PACKAGE_NAME storekeeper-libcamera)
set(CPACK_DEBIAN_LIBCAMERA_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_LIBCAMERA_PACKAGE_DEPENDS
    "storekeeper (= ${SK_DEB_VERSION}), storekeeper-camera (= ${SK_DEB_VERSION})")
set(CPACK_DEBIAN_LIBCAMERA_DESCRIPTION "libcamera capture for storekeeper (Raspberry Pi cameras)
The libcamera capture backend of storekeeper, for the Raspberry Pi's CSI
camera modules: loaded by the daemon when a camera of the store file uses
backend = libcamera.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# The .deb ships stripped binaries. CPack 3.25's -dbgsym .ddeb lists build paths in its
# md5sums (lintian errors), so scripts/package.sh keeps the symbols beside the package as
# storekeeper_VERSION_ARCH.debug (objcopy --only-keep-debug) for core dumps from the field.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_THREADS 1)
# The maintainer scripts know /etc/storekeeper and /var/lib/storekeeper: only a /usr build
# (the release and arm64 presets) makes a package.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    include(CPack)
endif()
