"""The master daemon as the owner of its file system's writes on this host (docs/design.md
"One writer per host"): it takes the writer lock at start without waiting and holds it for
life; a second owner of the same file system on this host is refused; clients and read-only
mounts do not own."""

import fcntl
import os

import pytest

import famfs_harness as fh

OWNER = ("-o", "owner")


@pytest.fixture
def hosts():
    made = []

    def host(name):
        h = fh.Host(name)
        made.append(h)
        return h
    yield host
    for h in made:
        for mpt in list(h.mounts):
            try:
                fh.cleanup_mount(mpt)
            except Exception:
                pass


def lock_path(mpt):
    return os.path.join("/run/famfs", fh.status(mpt)["fs_uuid"], "writer.lock")


def lock_is_held(path):
    with open(path, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_owner_holds_the_lock_for_life(image, hosts):
    h = hosts("master")
    h.mkfs(image)
    mpt = h.mount(image, None, *OWNER)
    st = fh.status(mpt)
    assert st["owner"] is True
    path = lock_path(mpt)
    assert lock_is_held(path)
    # The daemon (after fuse_daemonize) recorded itself as the holder.
    with open(path) as f:
        assert int(f.read().strip()) == st["pid"]
    h.umount(mpt)
    assert not lock_is_held(path)


def test_second_owner_of_the_same_fs_is_refused(image, hosts):
    h = hosts("master")
    h.mkfs(image)
    mpt = h.mount(image, None, *OWNER)
    pid = fh.status(mpt)["pid"]
    # Another path to the same file system: the same-device check does not see it, the lock does.
    link = image + "-owner-link"
    os.link(image, link)
    try:
        p = h.mount(link, None, *OWNER, check=False)
        assert not isinstance(p, str), "a second owner of one file system was mounted"
        assert p.returncode != 0
        log = p.stderr + h.daemon_log(list(h.logs)[-1])
        assert "writer.lock is held by pid %d" % pid in log, log
        assert "famfs-fused, mounted at %s" % mpt in log, log
        assert "famfs umount" in log, log
        assert fh.status(mpt)["owner"] is True   # the first one is untouched
    finally:
        os.unlink(link)


def test_clients_and_read_only_mounts_do_not_own(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    ro = m.mount(image, None, "--read-only", *OWNER)
    assert fh.status(ro)["owner"] is False
    m.umount(ro)
    c = hosts("client")
    cm = c.mount(image, None, *OWNER)
    assert fh.status(cm)["owner"] is False
    # Without -o owner (transitional) a master mount does not own either.
    mm = m.mount(image)
    assert fh.status(mm)["owner"] is False
    path = lock_path(mm)
    assert not os.path.exists(path) or not lock_is_held(path)
