# goscry agent image. Two stages: a Debian 12 build stage that compiles only the `goscry`
# binary, and a runtime stage that holds nothing but that binary and the shared libraries
# it loads (found with ldd), so the image has no shell, no package manager, no libc tools.
#
# Build with Docker (`docker build -t goscry .`) or, where no Docker daemon runs, with
# scripts/build-image.sh (buildah; it makes the Debian base with debootstrap when no
# container registry is reachable and passes it as BASE).
ARG BASE=debian:12-slim

FROM ${BASE} AS build
# The build half of scripts/setup.sh's PACKAGES: keep the two in step.
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libelf-dev libdw-dev zlib1g-dev libzydis-dev \
      clang llvm libbpf-dev bpftool \
      libcli11-dev nlohmann-json3-dev protobuf-compiler libprotobuf-dev \
      libyaml-cpp-dev libcpp-httplib-dev libboost1.74-dev libssl-dev libcrypt-dev >/dev/null && \
    rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DGOSCRY_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null && \
    cmake --build /build --target goscry -j"$(nproc)" && \
    strip /build/agent/goscry
# The runtime tree: the binary, every library ldd resolves (with its directory), the loader.
RUN mkdir -p /rootfs/usr/bin /rootfs/tmp && cp /build/agent/goscry /rootfs/usr/bin/goscry && \
    ldd /build/agent/goscry | grep -o '/[^ ]*' | sort -u | \
      xargs -I{} cp -L --parents {} /rootfs/ && \
    chroot /rootfs /usr/bin/goscry --version

FROM scratch
COPY --from=build /rootfs/ /
# The exporter port goscry uses by default (docs/agent.md); inside a pod it must listen on
# the pod's address, and the web config should add TLS and basic auth.
EXPOSE 19464
ENTRYPOINT ["/usr/bin/goscry"]
CMD ["agent", "--all", "--listen", "0.0.0.0:19464"]
