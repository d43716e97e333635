#!/bin/bash
# Install what building and testing famfs needs on Debian 12 (run as root). Fast when done.
set -euo pipefail
# Usage: deps.sh          what building and running famfs needs (README command 1)
#        deps.sh --test   plus what the test suite needs (pytest, QEMU for the VM tests, ...)
PKGS=(meson ninja-build pkg-config g++ libfuse3-dev fuse3 libdaxctl-dev libndctl-dev
      libspdlog-dev libcli11-dev catch2 zlib1g-dev libdeflate-dev uuid-dev nlohmann-json3-dev
      libyaml-dev libsystemd-dev liburing-dev util-linux)
if [ "${1:-}" = "--test" ]; then
  PKGS+=(xz-utils attr python3 python3-pytest fio rsync qemu-system-x86 cpio busybox-static
         dpkg-dev groff-base man-db clang libclang-rt-14-dev debhelper lintian fakeroot
         python3-prometheus-client systemd-container debootstrap python3-matplotlib)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "famfs: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
