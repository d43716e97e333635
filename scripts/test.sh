#!/bin/bash
# The whole test suite: unit (Catch2), integration (real FUSE mounts on image files in
# /dev/shm), VM (QEMU guests with a real /dev/dax0.0), then the unit suite and the CLI
# integration suite again under AddressSanitizer + UndefinedBehaviorSanitizer. Run as root on
# Debian 12.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test || exit 1
# The Debian root of the booted-systemd test (tests/integration/test_cli_packaging_systemd_boot.py),
# made ahead while the tree builds: debootstrap is downloads and unpacking, not CPU; the test
# waits for it (a lock) and fails with debootstrap's output if it failed.
(cd tests/integration && /usr/bin/python3 test_cli_packaging_systemd_boot.py --make-root \
    > /tmp/famfs-systemd-root.log 2>&1 &)
scripts/build.sh build || exit 1
passed=0; failed=0
run() { # run NAME CMD...: count one suite
  echo "=== $1"
  if "${@:2}"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1"; fi
}
run "meson test (unit, integration, vm)" meson test -C build --no-suite asan-cli --print-errorlogs --num-processes 2
# A packager builds with --buildtype=release (-O3, where g++ warns about other things than at
# -O2): build that once too, warnings as errors, so a warning there fails CI, not the packager.
run "release build (-O3, warnings as errors)" scripts/build.sh build-release --buildtype=release -Dtests=false
# libFuzzer targets (clang build in build-fuzz), FAMFS_FUZZ_SECONDS each (default 60).
run "fuzz (libFuzzer)" env FAMFS_BUILD_DIR="$PWD/build" tests/fuzz/run.sh
scripts/build.sh build-asan -Dsanitize=true -Db_lundef=false -Dbuildtype=debug || exit 1
san_env=(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
run "unit under ASan+UBSan" env "${san_env[@]}" meson test -C build-asan --suite unit --print-errorlogs
# The CLI integration suite again (less its packaging tests), its famfs and mkfs.famfs (and the famfs-fused they start)
# taken from the sanitizer build: every option and command line of the suite must run without
# a sanitizer report (the harness fails a command whose stderr has one).
run "CLI command lines with the ASan+UBSan CLI" env "${san_env[@]}" FAMFS_CLI_BUILD_DIR="$PWD/build-asan" \
    meson test -C build --print-errorlogs --logbase testlog-asan-cli --suite asan-cli
leftover=$(awk '$3 ~ /^fuse/ {print $2}' /proc/mounts)
if [ -n "$leftover" ]; then echo "FUSE mounts left behind by the tests: $leftover"; failed=$((failed + 1)); fi
# One closing line for the whole run, counting meson tests (each suite's own runner prints its
# case counts above). A test that did not run counts as failed.
counts=$(/usr/bin/python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build/meson-logs/testlog-asan-cli.json <<'PY'
import json, sys
ok = bad = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        bad += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): ok += 1
        elif r == "SKIP": skipped += 1
        else: bad += 1
print(ok, bad, skipped)
PY
)
read -r tests_ok tests_bad tests_skipped <<<"$counts"
[ "$failed" -gt 0 ] && [ "${tests_bad:-0}" -eq 0 ] && tests_bad=$failed   # a step failed outside meson
echo "${tests_ok:-0} passed, ${tests_bad:-1} failed, ${tests_skipped:-0} skipped"
[ "$failed" -eq 0 ] && [ "${tests_bad:-1}" -eq 0 ]
