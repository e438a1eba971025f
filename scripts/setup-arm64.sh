#!/usr/bin/env bash
# Installs what the arm64 build and its QEMU tests need, beside what scripts/setup.sh
# installs (run that first): the cross compiler, goscry's libraries for arm64 (Debian
# multiarch), and the arm64 system emulator. Opt-in and apart from setup.sh, so the default
# set-up that CI runs costs nothing more. Idempotent; run as root (or with sudo).
#
#   scripts/setup-arm64.sh            the cross build and the QEMU guests
#   scripts/setup-arm64.sh --build    the cross build alone (scripts/build-arm64.sh, and so
#                                     the Dockerfile's build stage for linux/arm64)
#
# Used by scripts/build-arm64.sh and scripts/test-arm64.sh, which call it themselves.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The arm64 builds of the libraries goscry links (CMakeLists.txt, agent/, exporters/);
# header-only ones (CLI11, nlohmann-json) and protoc come from setup.sh's host packages,
# which a cross build reads as they are. Each must be Multi-Arch: same, or apt removes the
# amd64 one to install it: libyaml-cpp-dev is not (Debian 12), so build-arm64.sh unpacks its
# arm64 .deb into the build dir instead, beside the installed arm64 libyaml-cpp0.7.
ARM64_LIBS=(
  libelf-dev libdw-dev zlib1g-dev libzydis-dev libbpf-dev libboost1.74-dev
  libprotobuf-dev libyaml-cpp0.7 libcpp-httplib-dev libssl-dev libcrypt-dev
)
PACKAGES=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)
for p in "${ARM64_LIBS[@]}"; do PACKAGES+=("$p:arm64"); done
# The guests of scripts/test-arm64.sh: the emulator and its firmware-less -kernel boot, cpio
# for their initramfs.
[ "${1:-}" = --build ] || PACKAGES+=(qemu-system-arm cpio)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-arm64: adding the arm64 architecture to dpkg"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi

# shellcheck source=lib/apt-install.sh
. "$(dirname "$0")/lib/apt-install.sh"
install_missing setup-arm64 "${PACKAGES[@]}"
echo "setup-arm64: done ($(aarch64-linux-gnu-g++ --version | head -n1))"
