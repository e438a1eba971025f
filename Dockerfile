# goscry agent image, for linux/amd64 and linux/arm64. Two stages: a Debian 12 build stage
# that compiles only the `goscry` binary, and a runtime stage that holds nothing but that
# binary, the shared libraries it loads and the loader, so the image has no shell, no package
# manager, no libc tools.
#
# The build stage always runs on the build machine's own architecture ($BUILDPLATFORM) and
# cross-compiles when the target differs, so an arm64 image needs no emulator: amd64 builds
# natively, arm64 from amd64 through scripts/build-arm64.sh (cmake/aarch64-linux-gnu.cmake,
# Debian's multiarch arm64 libraries). The build machine must be amd64 (the only cross build
# the scripts know); scripts/lib/image-rootfs.sh says so otherwise. The runtime stage is the
# target's.
#
# Build with Docker (`docker buildx build --platform linux/amd64,linux/arm64 -t goscry .`) or,
# where no Docker daemon runs, with scripts/build-image.sh (buildah: a manifest list with both
# architectures; it makes the Debian base with debootstrap when no container registry is
# reachable and passes it as BASE).
ARG BASE=debian:12-slim

FROM --platform=$BUILDPLATFORM ${BASE} AS build
ARG BUILDARCH
ARG TARGETARCH
# The packages come from the setup scripts themselves (setup.sh --build: the build half of
# its list; setup-arm64.sh --build: the cross compiler and arm64 libraries), so the lists
# live in one place. Copied before the rest of the tree so Docker caches this layer.
COPY scripts/setup.sh scripts/setup-arm64.sh /src/scripts/
COPY scripts/lib/apt-install.sh /src/scripts/lib/
RUN /src/scripts/setup.sh --build && \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then /src/scripts/setup-arm64.sh --build; fi
COPY . /src
RUN /src/scripts/lib/image-rootfs.sh "$BUILDARCH" "$TARGETARCH" /build /rootfs

FROM scratch
COPY --from=build /rootfs/ /
# The exporter port goscry uses by default (docs/agent.md); inside a pod it must listen on
# the pod's address, and the web config should add TLS and basic auth.
EXPOSE 19464
ENTRYPOINT ["/usr/bin/goscry"]
CMD ["agent", "--all", "--listen", "0.0.0.0:19464"]
