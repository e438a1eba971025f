#!/usr/bin/env bash
# Installs everything goscry's build, tests and demo need on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped by apt, a Go toolchain already
# present is reused. Run as root (or with sudo available).
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --build    only what compiles the `goscry` binary (the Dockerfile's
#                               build stage runs this, so the list lives here alone)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

BUILD_PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config ca-certificates
  # symbolizer
  libelf-dev libdw-dev zlib1g-dev libzydis-dev
  # BPF
  clang llvm libbpf-dev bpftool
  # agent and exporters
  libcli11-dev nlohmann-json3-dev protobuf-compiler libprotobuf-dev
  libyaml-cpp-dev libcpp-httplib-dev libboost1.74-dev libssl-dev libcrypt-dev
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  git
  # tests, fuzzing, benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev
  # fuzzing (scripts/fuzz.sh): clang 14 cannot compile libstdc++ 12's <expected>; clang 16
  # with libc++ can, and brings its own libFuzzer
  clang-16 libclang-rt-16-dev libc++-16-dev libc++abi-16-dev
  # the oldest supported Go toolchain, and a bootstrap when no Go is installed
  golang-1.19-go
  # reference consumers used by the tests (agent tests: curl, openssl s_client/s_server)
  prometheus curl openssl
  # the realworld suite's Debian-packaged program that is not a server: a static-site build
  # with its own CPU profile (tests/realworld/realworld_hugo_test.cpp)
  hugo
  # the SVG flame graph opened in a real browser (tests/bpf/record_svg_browser_test.cpp)
  chromium
  # the container image (scripts/build-image.sh, opt-in test label `image`)
  buildah debootstrap
  # the kernel matrix (scripts/test-kernels.sh): QEMU, the venv virtme-ng is installed in,
  # what unpacks Debian's kernel packages and what virtme-ng reads kernels with, and the
  # busybox its initramfs is made of (without it no guest starts: "no busybox was found")
  qemu-system-x86 python3-venv xz-utils zstd kmod file binutils busybox-static
)

# shellcheck source=lib/apt-install.sh
. "$here/lib/apt-install.sh"
if [ "${1:-}" = --build ]; then
  install_missing setup "${BUILD_PACKAGES[@]}"
  exit 0
fi
install_missing setup "${PACKAGES[@]}"

# virtme-ng boots the kernel matrix's guests; Debian 12 does not package it, so it comes from
# PyPI, pinned, into a venv of its own (the one scripts/test-kernels.sh runs).
VIRTME_NG_VERSION=1.42
venv=${GOSCRY_VENV:-$HOME/.cache/goscry/venv}
if [ "$("$venv/bin/vng" --version 2>/dev/null)" != "virtme-ng $VIRTME_NG_VERSION" ]; then
  echo "setup: installing virtme-ng $VIRTME_NG_VERSION into $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION"
fi

# A Go of at least 1.21 (toolchain switching through GOTOOLCHAIN) must be on PATH.
"$here/go-env.sh" --install >/dev/null
echo "setup: done ($("$here/go-env.sh" --print-go) version: $("$("$here/go-env.sh" --print-go)" version))"
