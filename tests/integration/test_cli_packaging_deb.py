"""Packaging: the Debian source package (debian/) builds famfs, libfamfs1 and libfamfs-dev.

`dpkg-buildpackage -b -us -uc` runs once per test session (conftest.py) on a copy of the source tree
(DEB_BUILD_OPTIONS=nocheck: the unit tests run in meson test; the build itself compiles what
is installed, a few minutes on 2 cores), then the packages are checked: control fields,
contents, paths, lintian (--pedantic, nothing may be reported), and an install into a clean
root (an overlay of / in a private mount namespace, with no famfs installed), where the demo
runs (mkfs, mount by famfs mount and by mount(8) through the helper, create, verify, fsck,
unmount), followed by a purge that must leave nothing of the packages behind.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest


@pytest.fixture(scope="module")
def built(debs_built):
    """The packages, built once per test session (conftest.py: test_cli_packaging_systemd.py
    installs the same ones under a booted systemd)."""
    return debs_built


@pytest.fixture(scope="module")
def deb(built):
    return built["debs"]["famfs"]


def _info(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb["path"], field], capture_output=True,
                          text=True, check=True).stdout.strip()


def _contents(deb):
    r = subprocess.run(["dpkg-deb", "--contents", deb["path"]], capture_output=True, text=True,
                       check=True)
    files = {}
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        name = parts[5].split(" -> ")[0]
        files[name.lstrip(".")] = parts[0]
    return files


def _deps(deb, field):
    return [d.strip().split()[0] for d in _info(deb, field).split(",") if d.strip()]


def test_control_file(deb):
    assert _info(deb, "Package") == "famfs"
    assert re.match(r"^\d+\.\d+\.\d+", _info(deb, "Version"))
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert _info(deb, "Architecture") == arch
    assert _info(deb, "Maintainer")
    assert _info(deb, "Description").startswith("shared-memory file system")
    deps = _deps(deb, "Depends")
    for want in ("fuse3", "mount", "libfuse3-3", "libdaxctl1", "libuuid1", "libdeflate0",
                 "libsystemd0"):
        assert want in deps, (want, deps)
    assert "daxctl" in _deps(deb, "Recommends")
    r = subprocess.run(["dpkg-deb", "--info", deb["path"]], capture_output=True, text=True,
                       check=True)
    for script in ("postinst", "md5sums"):
        assert script in r.stdout


def test_contents(deb):
    files = _contents(deb)
    want = [
        "/usr/sbin/famfs", "/usr/sbin/mkfs.famfs", "/usr/sbin/famfs-fused",
        "/sbin/mount.famfs", "/sbin/mount.fuse.famfs",
        "/lib/systemd/system/famfs@.service", "/usr/libexec/famfs/famfs-service",
        "/lib/udev/rules.d/60-famfs-dax.rules",
        "/usr/share/man/man8/famfs.8.gz", "/usr/share/man/man8/mkfs.famfs.8.gz",
        "/usr/share/man/man8/famfs-fused.8.gz", "/usr/share/man/man8/mount.famfs.8.gz",
        "/usr/share/man/man8/mount.fuse.famfs.8.gz",
        "/usr/share/man/man3/libfamfs.3.gz",
        "/usr/share/bash-completion/completions/famfs",
        "/usr/share/bash-completion/completions/mkfs.famfs",
        "/usr/share/doc/famfs/copyright", "/usr/share/doc/famfs/changelog.gz",
        "/usr/share/doc/famfs/famfs.conf.example",
        "/etc/famfs/",
    ]
    missing = [f for f in want if f not in files]
    assert not missing, "not in the package: %s" % missing
    for f in ("/usr/sbin/famfs", "/usr/sbin/mkfs.famfs", "/usr/sbin/famfs-fused",
              "/sbin/mount.famfs", "/usr/libexec/famfs/famfs-service"):
        assert files[f] == "-rwxr-xr-x", (f, files[f])
    assert files["/lib/systemd/system/famfs@.service"] == "-rw-r--r--"
    # Nothing from the build tree leaks in (tests, benchmarks, static archives).
    for f in files:
        assert not f.endswith(".a") and "/test" not in f and "bench" not in f, f


def test_installed_paths_are_consistent(deb):
    t = deb["tree"]
    unit = open(os.path.join(t, "lib/systemd/system/famfs@.service")).read()
    for exe in re.findall(r"^Exec\w+=(\S+)", unit, re.M):
        assert os.access(os.path.join(t, exe.lstrip("/")), os.X_OK), exe
    helper = open(os.path.join(t, "sbin/mount.famfs")).read()
    assert "FAMFS_CLI:-/usr/sbin/famfs}" in helper
    service = open(os.path.join(t, "usr/libexec/famfs/famfs-service")).read()
    assert "FAMFS_FUSED:-/usr/sbin/famfs-fused}" in service
    assert os.readlink(os.path.join(t, "sbin/mount.fuse.famfs")) == "mount.famfs"
    r = subprocess.run(["file", "-b", os.path.join(t, "usr/sbin/famfs")], capture_output=True,
                       text=True)
    if r.returncode == 0:
        assert "not stripped" not in r.stdout
    for exe in ("usr/sbin/famfs", "usr/sbin/mkfs.famfs"):
        r = subprocess.run([os.path.join(t, exe), "--help"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "Usage" in r.stdout, (exe, r.stdout, r.stderr)


def test_unit_is_a_template_not_enabled(deb):
    """dh_installsystemd: the template is installed, never enabled or started by the package."""
    ctrl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb["path"]], capture_output=True,
                          check=True).stdout
    postinst = subprocess.run(["tar", "-xO", "./postinst"], input=ctrl, capture_output=True,
                              check=True).stdout.decode()
    assert "udevadm trigger --subsystem-match=dax" in postinst
    assert "deb-systemd-invoke start" not in postinst and "enable famfs@" not in postinst


def test_unit_in_package_verifies(deb, tmp_path):
    sa = shutil.which("systemd-analyze")
    assert sa, "systemd-analyze is needed (Debian package systemd)"
    t = deb["tree"]
    text = open(os.path.join(t, "lib/systemd/system/famfs@.service")).read()
    text = text.replace("/usr/libexec/famfs/famfs-service",
                        os.path.join(t, "usr/libexec/famfs/famfs-service"))
    unit = tmp_path / "famfs@mnt-famfs.service"
    unit.write_text(text)
    env = dict(os.environ, MANPATH=os.path.join(t, "usr/share/man"))
    r = subprocess.run([sa, "verify", str(unit)], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_man_pages_in_package_render(deb):
    t = deb["tree"]
    for page in ("man8/famfs.8.gz", "man8/mkfs.famfs.8.gz", "man8/famfs-fused.8.gz",
                 "man8/mount.famfs.8.gz", "man3/libfamfs.3.gz"):
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(t, "usr/share/man", page)],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stderr == "" and "famfs" in r.stdout, (page, r.stderr)


def test_library_packages(built):
    debs = built["debs"]
    lib, dev = debs["libfamfs1"], debs["libfamfs-dev"]
    files = _contents(lib)
    libs = [f for f in files if re.search(r"/libfamfs\.so\.1(\.|$)", f)]
    assert libs and any(f.endswith("/libfamfs-preload.so") for f in files), files
    assert all(files[f] == "-rw-r--r--" for f in files if f.endswith((".so", ".0")) and
               files[f].startswith("-"))
    r = subprocess.run(["dpkg-deb", "--info", lib["path"]], capture_output=True, text=True,
                       check=True)
    for script in ("shlibs", "symbols", "triggers"):
        assert script in r.stdout
    ctrl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", lib["path"]], capture_output=True,
                          check=True).stdout
    syms = subprocess.run(["tar", "-xO", "./symbols"], input=ctrl, capture_output=True,
                          check=True).stdout.decode()
    assert "famfs_mmap@Base" in syms and syms.startswith("libfamfs.so.1 libfamfs1 ")
    dfiles = _contents(dev)
    assert "/usr/include/famfs.h" in dfiles
    assert any(f.endswith("/pkgconfig/famfs.pc") for f in dfiles)
    assert _info(dev, "Depends").startswith("libfamfs1 (= %s)" % _info(lib, "Version"))
    famfs_files = _contents(debs["famfs"])
    assert not [f for f in famfs_files if "libfamfs" in f and "/man3/" not in f]
    pc = [f for f in dfiles if f.endswith("famfs.pc")][0]
    text = open(os.path.join(dev["tree"], pc.lstrip("/"))).read()
    assert "prefix=/usr\n" in text, text


def test_lintian_pedantic_is_clean(built):
    r = subprocess.run(["lintian", "--pedantic", "-I", "--tag-display-limit", "0",
                        "--fail-on", "error,warning,info,pedantic", built["changes"]],
                       capture_output=True, text=True, timeout=900)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIP]: ", l)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr


# In a private mount namespace: / as an overlay (changes go to a tmpfs), /proc /sys /dev of
# the host; then in that root: install, demo, purge. $1 work dir, $2 dir of the .debs.
CLEAN_ROOT = r'''
set -eu
W=$1 DEBS=$2
R=$W/root
mkdir -p "$W/upper" "$W/work" "$R"
mount -t overlay famfs-deb-test -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
cleanup() {
  for m in $(awk -v r="$R/" 'index($2, r) == 1 && $3 == "fuse.famfs" {print $2}' /proc/self/mounts); do
    umount -l "$m" || true
  done
}
trap cleanup EXIT
mkdir -p "$R/tmp/debs"
cp "$DEBS"/*.deb "$R/tmp/debs/"
chroot "$R" /bin/sh -eu -c '
  for p in famfs libfamfs1 libfamfs-dev; do
    if dpkg-query -W "$p" >/dev/null 2>&1; then echo "not a clean root: $p is installed"; exit 1; fi
  done
  # files of no package (a test of the host may have put a helper in /sbin for a while):
  # gone from this root, the host keeps them
  for f in /usr/sbin/famfs /usr/sbin/famfs-fused /sbin/mount.famfs /sbin/mount.fuse.famfs; do
    if [ -e "$f" ] || [ -L "$f" ]; then echo "removing $f (in no package) from the root"; rm -f "$f"; fi
  done
  dpkg -i /tmp/debs/famfs_*.deb /tmp/debs/libfamfs1_*.deb /tmp/debs/libfamfs-dev_*.deb
  echo "== installed"
  img=$(mktemp /dev/shm/famfs-deb-test.XXXXXX)
  trap "rm -f $img" EXIT
  truncate -s 4G "$img"
  export FAMFS_SYSTEM_UUID_FILE=/tmp/master.uuid
  mkfs.famfs "$img"
  mkdir -p /mnt/famfs-deb-test /mnt/famfs-deb-client
  famfs mount --log-file /tmp/fused.log -o noatime "$img" /mnt/famfs-deb-test
  famfs mkdir -p /mnt/famfs-deb-test/data
  famfs creat -s 16m -r -S 42 /mnt/famfs-deb-test/data/a.bin
  famfs cp /etc/os-release /mnt/famfs-deb-test/data/os-release
  famfs verify -f /mnt/famfs-deb-test/data/a.bin -S 42
  mount -t famfs -o ro,noexec,system_uuid_file=/tmp/client.uuid,log_file=/tmp/client.log "$img" /mnt/famfs-deb-client
  grep " /mnt/famfs-deb-client fuse.famfs ro,.*noexec" /proc/mounts
  for i in $(seq 100); do [ -e /mnt/famfs-deb-client/data/os-release ] && break; sleep 0.05; done
  cmp /etc/os-release /mnt/famfs-deb-client/data/os-release
  famfs status /mnt/famfs-deb-client
  famfs fsck /mnt/famfs-deb-test
  umount /mnt/famfs-deb-client
  famfs umount /mnt/famfs-deb-test
  echo "== demo ok"
  dpkg --purge famfs libfamfs-dev libfamfs1
  echo "== purged"
'
# What the packages installed must be gone: only dpkg's records and the demo's own files
# (identity, mount points, logs) may remain in the overlay.
# (Character devices in the upper dir are the overlay's whiteouts: files removed from it.)
left=$(cd "$W/upper" && find . -mindepth 1 \( -type c -o -path ./var/lib/dpkg -o -path ./var/log -o \
  -path ./var/cache -o -path ./tmp -o -path ./mnt -o -path ./opt/famfs -o -path ./opt -o -path ./dev \
  -o -path ./etc/ld.so.cache -o -path ./run -o -path ./root \) -prune -o -print |
  grep -i -e famfs || true)
if [ -n "$left" ]; then echo "left after purge:"; echo "$left"; exit 1; fi
echo "== nothing left"
'''


def test_install_demo_purge_in_a_clean_root(built):
    for tool in ("unshare", "chroot"):
        assert shutil.which(tool), tool
    work = tempfile.mkdtemp(prefix="famfs-deb-root-", dir="/dev/shm")
    try:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            CLEAN_ROOT, "sh", work, str(built["dir"])],
                           capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-8000:]
        for step in ("== installed", "== demo ok", "== purged", "== nothing left"):
            assert step in out, out[-8000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)
