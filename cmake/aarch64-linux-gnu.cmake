# Cross-builds goscry for arm64 on a Debian amd64 host (scripts/build-arm64.sh): the
# aarch64-linux-gnu GCC, and the arm64 libraries that Debian's multiarch installs beside the
# host's (/usr/lib/aarch64-linux-gnu, scripts/setup-arm64.sh). No sysroot: multiarch keeps
# both architectures' libraries under /, and the headers they share in /usr/include.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)  # also selects the arm64 BPF objects (BpfSkeleton.cmake)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Programs (protoc, clang, bpftool) run on the host; libraries and CMake packages are the
# target's, found under lib/aarch64-linux-gnu by CMAKE_LIBRARY_ARCHITECTURE.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# pkg-config reads the arm64 .pc files only (the host's would name x86-64 libraries).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
