#!/bin/bash
# Build the famfs .debs (famfs, libfamfs1, libfamfs-dev): meson build with prefix /usr and
# Debian's hardening flags, `meson install` into a staging dir (DESTDIR), split per package,
# control files with the shared-library dependencies (dpkg-shlibdeps), maintainer scripts,
# then dpkg-deb. Runs as root on Debian 12 and installs its own tools.
#
#   packaging/build-deb.sh [-b BUILDDIR] [-o OUTDIR] [--no-deps] [--lintian] [--reuse]
#     -b BUILDDIR  meson build dir to use (created with --prefix=/usr if missing;
#                  default build-deb under the source tree)
#     -o OUTDIR    where the .debs go (default: BUILDDIR/debs)
#     --no-deps    do not apt-get install the build tools
#     --lintian    run lintian on the result (installing it if needed)
#     --reuse      package an existing, already built BUILDDIR whatever its prefix: its install
#                  is moved to /usr and the configured paths rewritten (fast; for tests -
#                  a real package is built with prefix /usr and Debian's hardening flags)
# Prints the paths of the .debs, one a line, famfs's first. DEB_MAINTAINER sets Maintainer.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-deb
outdir=
install_deps=1
run_lintian=0
reuse=0
while [ $# -gt 0 ]; do
  case "$1" in
    -b) builddir=$(realpath -m "$2"); shift 2 ;;
    -o) outdir=$(realpath -m "$2"); shift 2 ;;
    --no-deps) install_deps=0; shift ;;
    --lintian) run_lintian=1; shift ;;
    --reuse) reuse=1; install_deps=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done

[ -n "$outdir" ] || outdir=$builddir/debs
log() { echo "build-deb: $*" >&2; }
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

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
            libspdlog-dev libcli11-dev zlib1g-dev uuid-dev dpkg-dev binutils
fi

if [ "$reuse" -eq 1 ]; then
  [ -f "$builddir/build.ninja" ] || { log "$builddir is not a meson build directory"; exit 1; }
  need_pkgs dpkg-dev binutils
else
  # Build with prefix /usr (the paths baked into the unit and the mount helper depend on it).
  work_setup_log=$(mktemp)
  if [ ! -f "$builddir/build.ninja" ]; then
    log "configuring $builddir"
    # Debian's compiler and linker flags (fortify, stack protector, relro, bindnow).
    eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
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
fi
prefix=$(meson introspect "$builddir" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')

version=$(meson introspect "$builddir" --projectinfo |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
maintainer=${DEB_MAINTAINER:-"famfs developers <famfs-devel@lists.example.org>"}
work=$(mktemp -d "${TMPDIR:-/tmp}/famfs-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
all=$work/install
log "installing into $all"
if ! DESTDIR=$all meson install -C "$builddir" --no-rebuild --quiet > "$work/install.log" 2>&1; then
  cat "$work/install.log" >&2
  log "meson install failed (is everything that gets installed built in $builddir?)"
  exit 1
fi
if [ "$prefix" != /usr ]; then
  # --reuse of a build with another prefix: move its files to /usr, the mount helper to
  # /sbin, and rewrite the paths configured into the scripts, the unit and the .pc file.
  log "relocating $prefix to /usr"
  mkdir -p "$all/usr"
  cp -a "$all$prefix/." "$all/usr/"
  rm -rf "${all:?}$prefix"
  rmdir -p --ignore-fail-on-non-empty "$(dirname "$all$prefix")" 2>/dev/null || true
  lib_rel=$(meson introspect "$builddir" --buildoptions |
            python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
  if [ "$lib_rel" != "lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)" ] && [ -d "$all/usr/$lib_rel" ]; then
    mkdir -p "$all/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
    cp -a "$all/usr/$lib_rel/." "$all/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/"
    rm -rf "${all:?}/usr/$lib_rel"
  fi
  mkdir -p "$all/sbin"
  for f in "$all"/usr/sbin/mount.famfs "$all"/usr/sbin/mount.fuse.famfs; do
    [ -e "$f" ] || [ -L "$f" ] && mv "$f" "$all/sbin/"
  done
  grep -rlI --null -F "$prefix" "$all" | xargs -0 -r sed -i "s#$prefix/#/usr/#g; s#=$prefix\$#=/usr#"
fi

# Which of the parts were installed (the packaging warns about any that is missing).
for f in usr/bin/famfs usr/sbin/mkfs.famfs usr/bin/famfs-fused; do
  [ -e "$all/$f" ] || log "warning: $f is not installed by the build"
done

# Three packages, as Debian splits a library:
#   libfamfs1     the shared library and the LD_PRELOAD module
#   libfamfs-dev  header, pkg-config file, libfamfs.so link
#   famfs         everything else (commands, daemon, mount helper, unit, man pages, completion)
libdir=usr/lib/$multiarch
move() { # PKG PATH...: move installed paths into PKG's tree
  local pkg=$1 f; shift
  for f in "$@"; do
    [ -e "$all/$f" ] || [ -L "$all/$f" ] || continue
    mkdir -p "$work/$pkg/$(dirname "$f")"
    mv "$all/$f" "$work/$pkg/$f"
  done
}
shopt -s nullglob
( cd "$all" && printf '%s\n' $libdir/libfamfs.so.* $libdir/libfamfs-preload.so ) > "$work/lib.list"
( cd "$all" && printf '%s\n' usr/include/famfs.h $libdir/libfamfs.so $libdir/pkgconfig/famfs.pc ) > "$work/dev.list"
shopt -u nullglob
mapfile -t libfiles < "$work/lib.list"
mapfile -t devfiles < "$work/dev.list"
move libfamfs1 "${libfiles[@]}"
move libfamfs-dev "${devfiles[@]}"
mkdir -p "$work/famfs"
cp -a "$all/." "$work/famfs/"
rmdir -p --ignore-fail-on-non-empty "$work/famfs/usr/include" "$work/famfs/$libdir/pkgconfig" \
  "$work/famfs/$libdir" 2>/dev/null || true
mkdir -p "$work/famfs/etc/famfs"
packages=(famfs)
[ -d "$work/libfamfs1" ] && packages+=(libfamfs1)
[ -d "$work/libfamfs-dev" ] && packages+=(libfamfs-dev)

# Debian policy for every package: compressed man pages (and links to them), copyright,
# changelog, stripped binaries, shared libraries not executable.
changelog_date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
for pkg in "${packages[@]}"; do
  t=$work/$pkg
  if [ -d "$t/usr/share/man" ]; then
    find "$t/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
    find "$t/usr/share/man" -type l -name '*.[0-9]' | while IFS= read -r l; do
      target=$(readlink "$l"); ln -s "$target.gz" "$l.gz"; rm "$l"
    done
  fi
  mkdir -p "$t/usr/share/doc/$pkg"
  cat > "$t/usr/share/doc/$pkg/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: famfs
Comment: famfs on a stock kernel (FUSE edition), on-media compatible with upstream famfs.

Files: *
Copyright: 2024-2026 The famfs authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
  printf '%s (%s) unstable; urgency=medium\n\n  * Package built from the famfs source tree.\n\n -- %s  %s\n' \
    "$pkg" "$version" "$maintainer" "$changelog_date" | gzip -9n > "$t/usr/share/doc/$pkg/changelog.gz"
  find "$t/usr/share/doc/$pkg" -name '*.md' -size +4k -exec gzip -9n {} +
  while IFS= read -r f; do
    if is_elf "$f"; then
      strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
    fi
  done < <(find "$t" -type f \( -perm -u+x -o -name '*.so*' \))
  find "$t" -type f -name '*.so*' -exec chmod 0644 {} +
done
if [ -d "$work/libfamfs1" ]; then
  # The preload module is loaded by name (LD_PRELOAD=libfamfs-preload.so), so it lives in the
  # library directory with no soname.
  mkdir -p "$work/libfamfs1/usr/share/lintian/overrides"
  cat > "$work/libfamfs1/usr/share/lintian/overrides/libfamfs1" <<'OVERRIDES'
# LD_PRELOAD module, loaded by file name from the library path: it has no soname on purpose.
libfamfs1: sharedobject-in-library-directory-missing-soname [usr/lib/*/libfamfs-preload.so]
OVERRIDES
fi

# Dependencies of the ELF files in a package (dpkg-shlibdeps; libfamfs through a local
# shlibs file), printed as a Depends: value.
printf 'libfamfs 1 libfamfs1 (>= %s)\n' "$version" > "$work/shlibs.local"
shlibdeps() { # PKG
  local t=$work/$1 f elves=() out
  while IFS= read -r f; do
    is_elf "$f" && elves+=("$f")
  done < <(find "$t" -type f \( -perm -u+x -o -name '*.so*' \))
  [ ${#elves[@]} -gt 0 ] || return 0
  mkdir -p "$work/shlibdeps/debian"
  printf 'Source: famfs\n\nPackage: %s\nArchitecture: any\n' "$1" > "$work/shlibdeps/debian/control"
  out=$(cd "$work/shlibdeps" &&
        dpkg-shlibdeps -O -L"$work/shlibs.local" -l"$work/libfamfs1/$libdir" \
          "${elves[@]}" 2>"$work/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p') || out=""
  if [ -z "$out" ]; then
    log "dpkg-shlibdeps failed for $1; using a static list"; cat "$work/shlibdeps.err" >&2
    out="libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1, libfuse3-3 (>= 3.14), libdaxctl1, libspdlog1.10, libfmt9, libuuid1, zlib1g"
  fi
  printf '%s' "$out"
}

control() { # PKG DEPENDS SECTION SUMMARY DESCRIPTION [EXTRA FIELDS]
  local t=$work/$1
  mkdir -p "$t/DEBIAN"
  {
    printf 'Package: %s\nSource: famfs\nVersion: %s\nArchitecture: %s\n' "$1" "$version" "$arch"
    printf 'Maintainer: %s\n' "$maintainer"
    printf 'Installed-Size: %s\n' "$(du -sk --apparent-size "$t" | cut -f1)"
    [ -n "$2" ] && printf 'Depends: %s\n' "$2"
    [ -n "${6:-}" ] && printf '%s\n' "$6"
    printf 'Section: %s\nPriority: optional\n' "$3"
    printf 'Homepage: https://github.com/cxl-micron-reskit/famfs\n'
    printf 'Description: %s\n%s\n' "$4" "$5"
  } > "$t/DEBIAN/control"
}

about=' famfs is a file system for memory that several hosts map at once (CXL or
 other fabric-attached memory, seen by Linux as a device-DAX character
 device). One host, the master, creates files by appending to a metadata log
 on the device; every host replays the log to see them. This edition needs no
 kernel patch: each host runs famfs-fused, a FUSE daemon that serves the files
 from the mapped memory. The on-media format is upstream famfs'"'"'s OMF 2.2.'

famfs_deps="$(shlibdeps famfs), fuse3, mount"
control famfs "$famfs_deps" admin "shared-memory file system for CXL memory (FUSE edition)" \
"$about
 .
 This package holds mkfs.famfs, the famfs command, the famfs-fused daemon,
 the mount.famfs helper for fstab, the famfs@.service systemd unit, man
 pages and bash completion." "Recommends: libfamfs1 (= $version)"
install -m 0755 "$src/packaging/deb/postinst" "$work/famfs/DEBIAN/postinst"
install -m 0755 "$src/packaging/deb/postrm" "$work/famfs/DEBIAN/postrm"

if [ -d "$work/libfamfs1" ]; then
  control libfamfs1 "$(shlibdeps libfamfs1)" libs "famfs zero-copy mapping library" \
"$about
 .
 This package holds libfamfs, which maps the memory of famfs files with no
 copy, and libfamfs-preload.so, which makes unchanged programs do so through
 LD_PRELOAD."
  printf 'libfamfs 1 libfamfs1 (>= %s)\n' "$version" > "$work/libfamfs1/DEBIAN/shlibs"
  # symbols: every exported function, since this version.
  {
    echo "libfamfs.so.1 libfamfs1 #MINVER#"
    echo "* Build-Depends-Package: libfamfs-dev"
    nm -D --defined-only "$work/libfamfs1/$libdir/libfamfs.so.1" | awk '$2 == "T" { print $3 }' |
      sort | sed "s/^/ /; s/\$/@Base $version/"
  } > "$work/libfamfs1/DEBIAN/symbols"
  chmod 0644 "$work/libfamfs1/DEBIAN/symbols"
  printf 'activate-noawait ldconfig\n' > "$work/libfamfs1/DEBIAN/triggers"
  chmod 0644 "$work/libfamfs1/DEBIAN/shlibs" "$work/libfamfs1/DEBIAN/triggers"
fi
if [ -d "$work/libfamfs-dev" ]; then
  control libfamfs-dev "libfamfs1 (= $version)" libdevel \
    "famfs zero-copy mapping library - development files" \
"$about
 .
 This package holds the header, the pkg-config file and the link library of
 libfamfs."
fi

mkdir -p "$outdir"
debs=()
for pkg in "${packages[@]}"; do
  t=$work/$pkg
  (cd "$t" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
     xargs -0 -r md5sum | sed 's# \./# #' > DEBIAN/md5sums)
  chmod 0644 "$t/DEBIAN/control" "$t/DEBIAN/md5sums"
  deb=$outdir/${pkg}_${version}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$t" "$deb" >/dev/null
  log "built $deb"
  debs+=("$deb")
done

if [ "$run_lintian" -eq 1 ]; then
  need_pkgs lintian
  lintian -I --tag-display-limit 0 "${debs[@]}" >&2 || true
fi
printf '%s\n' "${debs[@]}"
