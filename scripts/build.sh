#!/bin/bash
# Configure (once) and build into ./build (or $1), warnings as errors (-Dwerror_all=true: CI's
# choice; a plain `meson setup` leaves it off so a packager's build never fails on a warning).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dwerror_all=true "$@" >/dev/null
fi
ninja -C "$dir" -j"$(nproc)" >/dev/null || ninja -C "$dir" -j1
