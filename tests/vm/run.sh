#!/bin/bash
# The VM test command: install what is needed, build the three binaries, run the VM tests.
#   tests/vm/run.sh [TEST...]      TEST = checker | mkfs_fsck | mkfs_refuse | two_hosts | upstream_image (default: all)
# Env: FAMFS_BUILD_DIR (default <source>/build; configured with meson if needed), VMLAB_DIR.
# Run as root on Debian 12. The same tests run under `meson test --suite vm`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export FAMFS_SOURCE_DIR=$src FAMFS_BUILD_DIR=${FAMFS_BUILD_DIR:-$src/build}
if [[ -x $src/scripts/deps.sh ]]; then
  "$src/scripts/deps.sh" || { echo "scripts/deps.sh failed"; exit 1; }
fi
"$here/vmlab" prepare || exit 1
if [[ ! -f $FAMFS_BUILD_DIR/build.ninja ]]; then
  meson setup "$FAMFS_BUILD_DIR" "$src" >/dev/null || { echo "meson setup $FAMFS_BUILD_DIR failed"; exit 1; }
fi
ninja -C "$FAMFS_BUILD_DIR" -j"${NINJA_JOBS:-2}" src/cli/mkfs.famfs src/cli/famfs src/daemon/famfs-fused ||
  { echo "building mkfs.famfs, famfs, famfs-fused failed"; exit 1; }
tests=("$@")
((${#tests[@]})) || tests=(checker mkfs_fsck mkfs_refuse two_hosts upstream_image)
declare -A res
fails=0
for t in "${tests[@]}"; do
  t0=$SECONDS
  "$here/test_$t.sh"
  rc=$?
  case $rc in 0) r=PASS ;; 77) r=SKIP ;; *) r="FAIL ($rc)"; fails=$((fails + 1)) ;; esac
  res[$t]="$r $((SECONDS - t0)) s"
done
echo
for t in "${tests[@]}"; do printf '%-16s %s\n' "$t" "${res[$t]}"; done
exit $((fails > 0))
