"""Packaging: packaging/build-deb.sh builds the .debs (famfs, libfamfs1, libfamfs-dev).

By default the packages are made from the test build itself (build-deb.sh --reuse: the
install is moved to /usr and the configured paths rewritten), which takes seconds. With
FAMFS_TEST_DEB_FULL=1 the test runs the real thing instead: a separate build with prefix
/usr and Debian's hardening flags (FAMFS_DEB_BUILD_DIR, default <build>/packaging-deb), which
compiles everything once (minutes).
"""

import os
import re
import shutil
import subprocess

import pytest

import famfs_harness as fh

SCRIPT = os.path.join(fh.SOURCE_DIR, "packaging", "build-deb.sh")
FULL = os.environ.get("FAMFS_TEST_DEB_FULL") == "1"
DEB_BUILD = os.environ.get("FAMFS_DEB_BUILD_DIR", os.path.join(fh.BUILD_DIR, "packaging-deb"))


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (not a Debian system)")
    out = tmp_path_factory.mktemp("deb")
    if FULL:
        argv = ["bash", SCRIPT, "-b", DEB_BUILD, "-o", str(out)]
    else:
        argv = ["bash", SCRIPT, "--reuse", "-b", fh.BUILD_DIR, "-o", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    paths = r.stdout.strip().splitlines()
    got = {}
    for path in paths:
        assert os.path.isfile(path) and path.startswith(str(out)), r.stdout
        name = os.path.basename(path).split("_")[0]
        tree = out / ("tree-" + name)
        subprocess.run(["dpkg-deb", "-x", path, str(tree)], check=True)
        got[name] = {"path": path, "tree": str(tree), "log": r.stderr}
    assert os.path.basename(paths[0]).startswith("famfs_")
    return got


@pytest.fixture(scope="module")
def deb(debs):
    return debs["famfs"]


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


def test_control_file(deb):
    assert _info(deb, "Package") == "famfs"
    assert re.match(r"^\d+\.\d+\.\d+", _info(deb, "Version"))
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert _info(deb, "Architecture") == arch
    assert _info(deb, "Maintainer")
    assert _info(deb, "Description").startswith("shared-memory file system")
    deps = [d.strip().split()[0] for d in _info(deb, "Depends").split(",")]
    for want in ("fuse3", "mount", "libfuse3-3", "libdaxctl1", "libuuid1", "zlib1g"):
        assert want in deps, (want, deps)
    r = subprocess.run(["dpkg-deb", "--info", deb["path"]], capture_output=True, text=True,
                       check=True)
    for script in ("postinst", "postrm", "md5sums"):
        assert script in r.stdout


def test_contents(deb):
    files = _contents(deb)
    want = [
        "/usr/bin/famfs", "/usr/sbin/mkfs.famfs", "/usr/bin/famfs-fused",
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
    assert not missing, "not in the package: %s\n%s" % (missing, deb["log"])
    for f in ("/usr/bin/famfs", "/usr/sbin/mkfs.famfs", "/usr/bin/famfs-fused",
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
    assert "FAMFS_CLI:-/usr/bin/famfs}" in helper
    service = open(os.path.join(t, "usr/libexec/famfs/famfs-service")).read()
    assert "FAMFS_FUSED:-/usr/bin/famfs-fused}" in service
    assert os.readlink(os.path.join(t, "sbin/mount.fuse.famfs")) == "mount.famfs"
    # Binaries are stripped and run.
    r = subprocess.run(["file", "-b", os.path.join(t, "usr/bin/famfs")], capture_output=True,
                       text=True)
    if r.returncode == 0:
        assert "not stripped" not in r.stdout
    for exe in ("usr/bin/famfs", "usr/sbin/mkfs.famfs"):
        r = subprocess.run([os.path.join(t, exe), "--help"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "Usage" in r.stdout, (exe, r.stdout, r.stderr)


def test_unit_in_package_verifies(deb, tmp_path):
    sa = shutil.which("systemd-analyze")
    if sa is None:
        print("SKIP: systemd-analyze not installed")
        pytest.skip("systemd-analyze not installed")
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


def test_library_packages(debs):
    if "libfamfs1" not in debs:
        pytest.skip("the build installs no libfamfs")
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
    assert _info(dev, "Depends") == "libfamfs1 (= %s)" % _info(lib, "Version")
    # The famfs package holds no library files.
    famfs_files = _contents(debs["famfs"])
    assert not [f for f in famfs_files if "libfamfs" in f and "/man3/" not in f]
    pc = [f for f in dfiles if f.endswith("famfs.pc")][0]
    text = open(os.path.join(dev["tree"], pc.lstrip("/"))).read()
    assert "prefix=/usr\n" in text, text
