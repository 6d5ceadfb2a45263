# SPDX-License-Identifier: MIT
# Cross build for 64-bit Raspberry Pi OS / Debian arm64 on a Debian amd64 machine, with
# Debian's multiarch libraries (`dpkg --add-architecture arm64`, the :arm64 -dev packages;
# scripts/install-deps.sh --cross installs them) and gcc-aarch64-linux-gnu.
# Test programs run under qemu-user. Used by the `arm64` preset and scripts/cross-test.sh.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Multiarch: the arm64 headers and libraries live in the host's /usr, under
# include/aarch64-linux-gnu and lib/aarch64-linux-gnu, which Debian's cross gcc searches by
# itself. Keep CMake's own searches to the target's multiarch directories and the cross
# toolchain's root; programs (pkg-config, python3, gzip) are the build machine's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must see the arm64 .pc files only (plus the architecture-independent ones),
# never the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# ctest runs the unit tests through qemu-user; the arm64 loader and libraries come from
# the :arm64 packages (/lib/ld-linux-aarch64.so.1, /usr/lib/aarch64-linux-gnu).
find_program(SK_QEMU_AARCH64 qemu-aarch64)
if(SK_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${SK_QEMU_AARCH64})
endif()

# GNUInstallDirs gives a cross build plain lib/, not Debian's multiarch directory: the arm64
# package's modules would land in /usr/lib/storekeeper while the amd64 one uses
# /usr/lib/x86_64-linux-gnu/storekeeper. One layout for both architectures.
set(CMAKE_INSTALL_LIBDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}" CACHE PATH "Object code libraries")
