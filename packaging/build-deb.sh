#!/bin/bash
# Build famfs_<version>_<arch>.deb: meson build with prefix /usr, `meson install` into a
# staging dir (DESTDIR), control file with the shared-library dependencies (dpkg-shlibdeps),
# maintainer scripts, then dpkg-deb. Runs as root on Debian 12 and installs its own tools.
#
#   packaging/build-deb.sh [-b BUILDDIR] [-o OUTDIR] [--no-deps] [--lintian]
#     -b BUILDDIR  meson build dir to use (created with --prefix=/usr if missing;
#                  default build-deb under the source tree)
#     -o OUTDIR    where the .deb goes (default: the source tree)
#     --no-deps    do not apt-get install the build tools
#     --lintian    run lintian on the result (installing it if needed)
# Prints the path of the .deb on its last line.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-deb
outdir=$src
install_deps=1
run_lintian=0
while [ $# -gt 0 ]; do
  case "$1" in
    -b) builddir=$(realpath -m "$2"); shift 2 ;;
    -o) outdir=$(realpath -m "$2"); shift 2 ;;
    --no-deps) install_deps=0; shift ;;
    --lintian) run_lintian=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done

log() { echo "build-deb: $*" >&2; }

need_pkgs() { # install the Debian packages that are missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { log "missing packages ${missing[*]} (run as root)"; return 1; }
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$install_deps" -eq 1 ]; then
  need_pkgs meson ninja-build pkg-config g++ libfuse3-dev fuse3 libdaxctl-dev libndctl-dev \
            libspdlog-dev libcli11-dev zlib1g-dev uuid-dev dpkg-dev file
fi

# Build with prefix /usr (the paths baked into the unit and the mount helper depend on it).
work_setup_log=$(mktemp)
if [ ! -f "$builddir/build.ninja" ]; then
  log "configuring $builddir"
  meson setup "$builddir" "$src" --prefix=/usr --buildtype=release -Dwerror_all=false \
    > "$work_setup_log" 2>&1 || { tail -20 "$work_setup_log" >&2; log "meson setup failed"; exit 1; }
fi
rm -f "$work_setup_log"
prefix=$(meson introspect "$builddir" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
if [ "$prefix" != /usr ]; then
  log "$builddir has prefix $prefix; a package needs /usr"; exit 1
fi
# Build only what gets installed (not the tests and benchmarks).
targets=$(meson introspect "$builddir" --targets | python3 -c '
import json, os, sys
b = os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    if t.get("installed"):
        for f in t["filename"]:
            print(os.path.relpath(f, b))' "$builddir")
log "building in $builddir: $(echo $targets)"
if ! ninja -C "$builddir" -j"${FAMFS_BUILD_JOBS:-2}" $targets > "$builddir/build-deb.log" 2>&1; then
  grep -A12 -m3 '^FAILED' "$builddir/build-deb.log" >&2 || tail -40 "$builddir/build-deb.log" >&2
  log "the build failed (full log: $builddir/build-deb.log)"
  exit 1
fi

version=$(meson introspect "$builddir" --projectinfo |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
pkg=famfs
work=$(mktemp -d "${TMPDIR:-/tmp}/famfs-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/$pkg
log "installing into $stage"
DESTDIR=$stage meson install -C "$builddir" --no-rebuild --quiet >/dev/null

# Debian policy: compressed man pages, a copyright file, stripped binaries.
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} + 2>/dev/null || true
mkdir -p "$stage/usr/share/doc/$pkg" "$stage/etc/famfs"
cat > "$stage/usr/share/doc/$pkg/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: famfs
Comment: famfs on a stock kernel (FUSE edition), on-media compatible with upstream famfs.

Files: *
Copyright: The famfs authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
changelog_date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
printf '%s (%s) unstable; urgency=medium\n\n  * Package built from the famfs source tree.\n\n -- famfs maintainers <famfs@localhost>  %s\n' \
  "$pkg" "$version" "$changelog_date" | gzip -9n > "$stage/usr/share/doc/$pkg/changelog.gz"
if [ -d "$stage/usr/share/doc/$pkg" ]; then
  find "$stage/usr/share/doc/$pkg" -name '*.md' -size +4k -exec gzip -9n {} +
fi
while IFS= read -r f; do
  if file -b "$f" | grep -q 'ELF.*not stripped'; then
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
  fi
done < <(find "$stage" -type f \( -perm -u+x -o -name '*.so*' \))

# Which of the parts were installed (the packaging warns about any that is missing).
for f in usr/bin/famfs usr/sbin/mkfs.famfs usr/bin/famfs-fused; do
  [ -e "$stage/$f" ] || log "warning: $f is not installed by the build"
done

# Dependencies: from the ELF files' shared libraries, plus the tools the scripts call.
elves=()
while IFS= read -r f; do
  file -b "$f" | grep -q '^ELF' && elves+=("$f")
done < <(find "$stage" -type f \( -perm -u+x -o -name '*.so*' \))
shlibs=""
if [ ${#elves[@]} -gt 0 ]; then
  mkdir -p "$work/shlibdeps/debian"
  printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" > "$work/shlibdeps/debian/control"
  shlibs=$(cd "$work/shlibdeps" &&
           dpkg-shlibdeps -O --ignore-missing-info \
             -l"$stage/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)" -l"$stage/usr/lib" \
             "${elves[@]}" 2>"$work/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p') || shlibs=""
  [ -n "$shlibs" ] || { log "dpkg-shlibdeps failed; using the static list"; cat "$work/shlibdeps.err" >&2; }
fi
if [ -z "$shlibs" ]; then
  shlibs="libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1, libfuse3-3 (>= 3.14), libdaxctl1, libspdlog1.10, libfmt9, libuuid1, zlib1g"
fi
depends="$shlibs, fuse3, util-linux"

installed_size=$(du -sk --apparent-size "$stage" | cut -f1)
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: famfs maintainers <famfs@localhost>
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Homepage: https://github.com/cxl-micron-reskit/famfs
Description: shared-memory file system for CXL memory (FUSE edition)
 famfs is a file system for memory that several hosts map at once (CXL or other
 fabric-attached memory, seen by Linux as a device-DAX character device). One host,
 the master, creates files by appending to a metadata log on the device; every host
 replays the log to see them. This edition needs no kernel patch: each host runs
 famfs-fused, a FUSE daemon that serves the files from the mapped memory, and
 programs map files with no copy through libfamfs.
 .
 The package holds mkfs.famfs, the famfs command, famfs-fused, the mount.famfs
 helper for fstab, the famfs@.service systemd unit, man pages and bash completion.
 The on-media format is upstream famfs's OMF 2.2.
CONTROL

install -m 0755 "$src/packaging/deb/postinst" "$stage/DEBIAN/postinst"
install -m 0755 "$src/packaging/deb/postrm" "$stage/DEBIAN/postrm"
if compgen -G "$stage/usr/lib/*/*.so*" >/dev/null || compgen -G "$stage/usr/lib/*.so*" >/dev/null; then
  printf 'activate-noawait ldconfig\n' > "$stage/DEBIAN/triggers"
  chmod 0644 "$stage/DEBIAN/triggers"
fi
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
   xargs -0 md5sum | sed 's# \./# #' > DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
log "built $deb"

if [ "$run_lintian" -eq 1 ]; then
  need_pkgs lintian
  lintian --no-tag-display-limit "$deb" >&2 || true
fi
echo "$deb"
