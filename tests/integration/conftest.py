"""pytest fixtures for famfs integration tests (see famfs_harness for the API).

Fixtures
  image    fresh 4 GiB sparse image in /dev/shm, removed at teardown (not formatted)
  master   Host that ran mkfs.famfs on `image` and mounted it: master.mpt is the mount point
  client   a second Host mounting the same image (after master): client.mpt
  fixture_upstream   (image, manifest_text) of ../shared/fixtures/upstream-basic, extracted
  debs_built   the Debian packages made by dpkg-buildpackage from a copy of the source tree,
               once per session (slow: minutes; $FAMFS_DEBS_DIR reuses a build of the same
               tree): {"debs": {name: {"path", "tree"}}, "changes", "dir"}

Every mount made through Host.mount is unmounted (and its daemon stopped) when the test
ends, and again by a session finaliser, even when the test fails.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import famfs_harness as fh  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _famfs_session_cleanup():
    yield
    fh.cleanup_all()


def _cleanup_host(host):
    for mpt in list(host.mounts):
        try:
            fh.cleanup_mount(mpt)
        except Exception:
            pass


@pytest.fixture
def image():
    path = fh.make_image()
    yield path
    fh.remove_image(path)


@pytest.fixture
def master(image):
    h = fh.Host("master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image)
        h.image = image
        yield h
    finally:
        _cleanup_host(h)


@pytest.fixture
def client(master):
    h = fh.Host("client")
    try:
        h.mpt = h.mount(master.image)
        h.image = master.image
        yield h
    finally:
        _cleanup_host(h)


@pytest.fixture
def fixture_upstream():
    image, manifest = fh.extract_fixture("upstream-basic")
    yield image, manifest
    fh.remove_image(image)


DEB_PACKAGES = ("famfs", "libfamfs1", "libfamfs-dev")


def _source_files():
    """The files of the source tree as git knows them (tracked and new, not ignored)."""
    r = subprocess.run(["git", "-C", fh.SOURCE_DIR, "ls-files", "-co", "--exclude-standard",
                        "-z"], capture_output=True, check=True)
    return [f for f in r.stdout.decode().split("\0")
            if f and os.path.isfile(os.path.join(fh.SOURCE_DIR, f))]


def _build_debs(out):
    src = out / "famfs-src"
    for f in _source_files():
        dst = src / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(fh.SOURCE_DIR, f), dst)
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2", LC_ALL="C.UTF-8")
    r = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=3600)
    (out / "build.log").write_text(r.stdout + r.stderr)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    return out


@pytest.fixture(scope="session")
def debs_built(tmp_path_factory):
    """$FAMFS_DEBS_DIR: a directory where dpkg-buildpackage of this same tree already put its
    .debs and .changes (to check them again without the build); else they are built here."""
    for tool in ("dpkg-buildpackage", "dh", "lintian", "fakeroot"):
        assert shutil.which(tool), "%s is needed (scripts/deps.sh --test)" % tool
    out = tmp_path_factory.mktemp("deb")
    given = os.environ.get("FAMFS_DEBS_DIR")
    pkg_dir = given if given else str(_build_debs(out))
    debs = {}
    for path in glob.glob(os.path.join(pkg_dir, "*.deb")):
        name = os.path.basename(path).split("_")[0]
        tree = out / ("tree-" + name)
        subprocess.run(["dpkg-deb", "-x", path, str(tree)], check=True)
        debs[name] = {"path": path, "tree": str(tree)}
    assert set(DEB_PACKAGES) <= set(debs), debs
    changes = glob.glob(os.path.join(pkg_dir, "*.changes"))
    assert len(changes) == 1, changes
    return {"debs": debs, "changes": changes[0], "dir": pkg_dir}
