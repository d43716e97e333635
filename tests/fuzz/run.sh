#!/bin/bash
# Build the libFuzzer targets with clang (build-fuzz, -Dfuzz=true), make their seed corpora
# with our own mkfs and commands (make_seeds.py, needs the normal build and root), and run each
# target for a bounded time. Prints one line per target with its execution count.
#
#   tests/fuzz/run.sh                    quick (CI): FAMFS_FUZZ_SECONDS per target (default 60)
#   tests/fuzz/run.sh --long             by hand: 30 minutes per target, or FAMFS_FUZZ_SECONDS
#   FAMFS_BUILD_DIR   normal build with famfs, mkfs.famfs, famfs-fused (default ./build)
#   FAMFS_FUZZ_DIR    the clang build directory (default ./build-fuzz)
#
# A crash, leak, timeout or broken invariant stops that target; its input is kept in
# $FAMFS_FUZZ_DIR/fuzz-out/<target>/crash-* and the script exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
src=$PWD
secs=${FAMFS_FUZZ_SECONDS:-60}
if [ "${1:-}" = "--long" ]; then secs=${FAMFS_FUZZ_SECONDS:-1800}; fi
build=${FAMFS_BUILD_DIR:-$src/build}
fdir=${FAMFS_FUZZ_DIR:-$src/build-fuzz}

if [ ! -f "$fdir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$fdir" -Dfuzz=true -Dwerror_all=true >/dev/null || exit 1
fi
ninja -C "$fdir" fuzz >/dev/null || ninja -C "$fdir" -j1 fuzz || exit 1

out=$fdir/fuzz-out
rm -rf "$out"
mkdir -p "$out"
FAMFS_BUILD_DIR=$build /usr/bin/python3 tests/fuzz/make_seeds.py "$out/seeds" || exit 1

# target  seed corpora (dirs under seeds/)   max input length
targets=("fuzz_meta meta 40000" "fuzz_fmap fmap_text,fmap_bin 4096")
failed=0
for t in "${targets[@]}"; do
  read -r name seeds maxlen <<<"$t"
  corpus=$out/$name/corpus
  mkdir -p "$corpus"
  for s in ${seeds//,/ }; do cp "$out/seeds/$s"/* "$corpus"/; done
  log=$out/$name/log
  # -fork=0, one process: the exec count is libFuzzer's final "Done N runs" line.
  (cd "$out/$name" && "$fdir/tests/fuzz/$name" -max_total_time="$secs" -max_len="$maxlen" \
      -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 "$corpus" >"$log" 2>&1)
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  crashes=$(find "$out/$name" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' \
            -o -name 'leak-*' -o -name 'oom-*' \) | wc -l)
  echo "fuzz: $name: ${runs:-0} executions in ${secs}s, corpus $(ls "$corpus" | wc -l), crashes $crashes"
  if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ] || [ -z "$runs" ]; then
    failed=1
    echo "fuzz: $name FAILED (rc $rc); last lines of $log:"
    tail -40 "$log"
  fi
done
exit $failed
