"""Delete with safe space reuse (docs/delete.md): famfs rm on the master, three simulated hosts
on one image, open files and libfamfs mappings holding space, a stopped host considered gone,
kill -9 during rm, a full device emptied and refilled."""

import errno
import os
import random
import signal
import subprocess
import time

import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import famfs_harness as fh  # noqa: E402
from mmap_probe import Probe  # noqa: E402
from test_cli_master_util import getmap_extents  # noqa: E402

MiB = 1 << 20
LEASE_MS = 3000   # short enough for the tests, long against a busy machine's poll stalls


def overlaps(a, b):
    return any(x < y + ly and y < x + lx for x, lx in a for y, ly in b)


@pytest.fixture
def three(image):
    """A master and two clients on one image with delete enabled (lease LEASE_MS)."""
    hosts = [fh.Host("master"), fh.Host("clientA"), fh.Host("clientB")]
    try:
        m = hosts[0]
        m.mkfs(image)
        m.mpt = m.mount(image)
        m.image = image
        m.famfs("feature", "enable", "delete", "--lease-ms", str(LEASE_MS), m.mpt)
        for h in hosts[1:]:
            h.mpt = h.mount(image)
            h.image = image
        for h in hosts:
            assert fh.wait_for(lambda h=h: fh.status(h.mpt)["delete"]["slot"] is not None, 10)
        yield hosts
    finally:
        for h in hosts:
            for mpt in list(h.mounts):
                try:
                    fh.cleanup_mount(mpt)
                except Exception:
                    pass


def pending(host):
    return fh.status(host.mpt)["delete"]["pending_reuse_bytes"]


def holders(host):
    return {p["held_by"] for p in fh.status(host.mpt)["delete"]["pending"]}


def wait_gone(host, rel, timeout=10):
    return fh.wait_for(lambda: not os.path.exists(os.path.join(host.mpt, rel)), timeout)


def test_rm_refused_without_the_feature(master, client):
    f = os.path.join(master.mpt, "f")
    master.famfs("creat", "-s", "1m", "-r", "-S", "3", f)
    p = master.famfs("rm", f, check=False)
    assert p.returncode == 1
    assert "delete is not enabled" in p.stderr
    assert "famfs feature enable delete %s" % master.mpt in p.stderr
    assert os.path.exists(f)
    with pytest.raises(PermissionError):
        os.unlink(f)
    st = fh.status(master.mpt)
    assert st["delete_enabled"] is False
    assert "delete:" in master.famfs("status", master.mpt).stdout
    # Nothing was written outside OMF 2.2: fsck clean, no extension area.
    assert master.famfs("fsck", master.mpt).returncode == 0
    assert fh.status(client.mpt)["delete"]["slot"] is None


def test_feature_enable_and_mkfs_enable_delete(image):
    m = fh.Host("master")
    try:
        m.mkfs(image, "--enable-delete")
        m.mpt = m.mount(image)
        assert fh.status(m.mpt)["delete_enabled"] is True
        p = m.famfs("feature", "enable", "delete", m.mpt)
        assert "already enabled" in p.stdout
        p = m.famfs("fsck", "--json", m.mpt)
        assert '"delete_enabled":true' in p.stdout
    finally:
        for mpt in list(m.mounts):
            fh.cleanup_mount(mpt)


def test_client_refuses_rm(three):
    m, a, _ = three
    m.famfs("creat", "-s", "1m", os.path.join(m.mpt, "f"))
    assert fh.wait_for(lambda: os.path.exists(os.path.join(a.mpt, "f")))
    p = a.famfs("rm", os.path.join(a.mpt, "f"), check=False)
    assert p.returncode == 1
    assert "not the master" in p.stderr
    with pytest.raises(PermissionError):
        os.unlink(os.path.join(a.mpt, "f"))


def test_delete_on_master_gone_on_every_host(three):
    m, a, b = three
    m.famfs("mkdir", os.path.join(m.mpt, "d"))
    m.famfs("creat", "-s", "2m", "-r", "-S", "5", os.path.join(m.mpt, "d", "f"))
    for h in (a, b):
        assert fh.wait_for(lambda h=h: os.path.exists(os.path.join(h.mpt, "d", "f")))
    m.famfs("rm", os.path.join(m.mpt, "d", "f"))
    for h in three:
        assert wait_gone(h, "d/f")
        assert os.listdir(os.path.join(h.mpt, "d")) == []
    p = m.famfs("rm", os.path.join(m.mpt, "d", "f"), check=False)
    assert p.returncode == 1 and "No such file or directory" in p.stderr
    assert m.famfs("rm", "-f", os.path.join(m.mpt, "d", "f")).returncode == 0
    p = m.famfs("rm", os.path.join(m.mpt, "d"), check=False)
    assert p.returncode == 1 and "Is a directory" in p.stderr
    # Every host has replayed it and holds nothing: nothing pending after their next publish.
    assert fh.wait_for(lambda: pending(m) == 0, 10)
    assert m.famfs("fsck", m.mpt).returncode == 0


def test_open_file_and_mapping_keep_the_bytes_and_the_space(three):
    m, a, b = three
    old = os.path.join(m.mpt, "old")
    m.famfs("creat", "-s", "4m", "-r", "-S", "11", old)
    old_ext = getmap_extents(m, old)
    want = fh.pattern(11, 4 * MiB)
    pa = os.path.join(a.mpt, "old")
    assert fh.wait_for(lambda: os.path.exists(pa))
    fd = os.open(pa, os.O_RDONLY)                       # read() on client A
    probe = Probe("lib")                                # a libfamfs mapping on client B
    try:
        idx, _ = probe.map(os.path.join(b.mpt, "old"), 0, 4 * MiB)
        m.famfs("rm", old)
        assert wait_gone(a, "old") and wait_gone(b, "old")
        assert os.pread(fd, 4 * MiB, 0) == want
        assert probe.read(idx, 0, 4096) == want[:4096]
        # Held by A or B (the master's own daemon holds it too until it has published its
        # replay of the delete); the space is not handed out.
        assert fh.wait_for(lambda: holders(m) & {a.uuid, b.uuid}, 10), fh.status(m.mpt)
        assert pending(m) == 4 * MiB
        m.famfs("creat", "-s", "4m", "-r", "-S", "12", os.path.join(m.mpt, "new1"))
        assert not overlaps(getmap_extents(m, os.path.join(m.mpt, "new1")), old_ext)
        assert os.pread(fd, 4 * MiB, 0) == want
        os.close(fd)
        fd = -1
        assert fh.wait_for(lambda: holders(m) == {b.uuid}, 10), fh.status(m.mpt)
        assert pending(m) == 4 * MiB                    # B's mapping still holds it
        assert probe.read(idx, 4 * MiB - 4096, 4096) == want[-4096:]
    finally:
        if fd >= 0:
            os.close(fd)
        probe.close()
    assert fh.wait_for(lambda: pending(m) == 0, 10)
    new2 = os.path.join(m.mpt, "new2")
    m.famfs("creat", "-s", "4m", "-r", "-S", "13", new2)
    assert overlaps(getmap_extents(m, new2), old_ext)   # reused
    for h in three:
        p = os.path.join(h.mpt, "new2")
        assert fh.wait_for(lambda p=p: os.path.exists(p))
        h.famfs("verify", "-f", p, "-S", "13")
    assert m.famfs("fsck", m.mpt).returncode == 0    # reuse is no cross-link


def test_rm_r_tree_and_fsck_after_reuse(three):
    m, a, b = three
    for d in ("t", "t/x", "t/x/y", "t/z"):
        m.famfs("mkdir", os.path.join(m.mpt, d))
    for i, d in enumerate(("t", "t/x", "t/x/y", "t/z", "t/z")):
        m.famfs("creat", "-s", "2m", "-r", "-S", str(20 + i), os.path.join(m.mpt, d, "f%d" % i))
    assert fh.wait_for(lambda: os.path.exists(os.path.join(b.mpt, "t/z/f4")))
    used_before = fh.status(m.mpt)["files"]
    m.famfs("rm", "-r", os.path.join(m.mpt, "t"))
    for h in three:
        assert wait_gone(h, "t")
        assert fh.status(h.mpt)["files"] == used_before - 5
    assert fh.wait_for(lambda: pending(m) == 0, 10)
    for i in range(5):
        m.famfs("creat", "-s", "2m", "-r", "-S", str(40 + i), os.path.join(m.mpt, "r%d" % i))
    p = m.famfs("fsck", "--json", m.mpt)
    assert '"collisions":0' in p.stdout and '"deletes":9' in p.stdout
    for h in (a, b):
        assert fh.wait_for(lambda h=h: os.path.exists(os.path.join(h.mpt, "r4")))
        for i in range(5):
            h.famfs("verify", "-f", os.path.join(h.mpt, "r%d" % i), "-S", str(40 + i))


def test_stopped_client_is_considered_gone_and_stops_serving(three):
    m, a, b = three
    f = os.path.join(m.mpt, "f")
    m.famfs("creat", "-s", "2m", "-r", "-S", "7", f)
    ext = getmap_extents(m, f)
    pa = os.path.join(a.mpt, "f")
    assert fh.wait_for(lambda: os.path.exists(pa))
    fd = os.open(pa, os.O_RDONLY)
    pids = fh.daemon_pids(a.mpt)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        m.famfs("rm", f)
        # Held by A (it never saw the delete) until the lease expires; then A is evicted.
        assert fh.wait_for(lambda: pending(m) == 0, 4 * LEASE_MS / 1000 + 10)
        hosts = fh.status(m.mpt)["delete"]["hosts"]
        assert [h for h in hosts if h["system_uuid"] == a.uuid][0]["evicted"] is True
        g = os.path.join(m.mpt, "g")
        m.famfs("creat", "-s", "2m", "-r", "-S", "8", g)
        assert overlaps(getmap_extents(m, g), ext)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    # The handle opened before must never show g's bytes: EIO, or (before A's first read
    # after SIGCONT) nothing of g at all.
    with pytest.raises(OSError) as e:
        os.pread(fd, 4096, 0)
    assert e.value.errno == errno.EIO
    os.close(fd)
    log = a.daemon_log(a.mpt)
    assert fh.wait_for(lambda: "CONSIDERED GONE" in a.daemon_log(a.mpt), 10), log
    # Caught up and registered again: serving, f gone, g there.
    assert fh.wait_for(lambda: fh.status(a.mpt)["delete"]["serving"] is True, 10)
    assert wait_gone(a, "f")
    assert fh.wait_for(lambda: os.path.exists(os.path.join(a.mpt, "g")))
    a.famfs("verify", "-f", os.path.join(a.mpt, "g"), "-S", "8")


def test_kill9_during_rm_leaves_no_or_whole_deletes(three):
    m, a, _ = three
    m.famfs("mkdir", os.path.join(m.mpt, "k"))
    m.famfs("creat", *sum((["-M", "%s/k/f%03d,1m" % (m.mpt, i)] for i in range(120)), []))
    rnd = random.Random(11)
    for _ in range(4):
        p = subprocess.Popen([fh.famfs_bin(), "rm", "-r", os.path.join(m.mpt, "k")], env=m.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.0, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = m.famfs("fsck", m.mpt, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        if not os.path.exists(os.path.join(m.mpt, "k")):
            break
    m.famfs("rm", "-r", "-f", os.path.join(m.mpt, "k"))
    assert wait_gone(a, "k")
    assert m.famfs("fsck", m.mpt).returncode == 0


def test_full_device_emptied_and_refilled_on_every_host(three):
    m, a, b = three
    size = 256 * MiB
    d = os.path.join(m.mpt, "fill")

    def fill(seed0):
        m.famfs("mkdir", d)
        n = 0
        while True:
            p = m.famfs("creat", "-s", str(size), "-r", "-S", str(seed0 + n),
                        os.path.join(d, "f%02d" % n), check=False)
            if p.returncode != 0:
                assert "space" in p.stderr, p.stderr
                return n
            n += 1

    def verify_all(seed0, n):
        for h in three:
            last = os.path.join(h.mpt, "fill", "f%02d" % (n - 1))
            assert fh.wait_for(lambda last=last: os.path.exists(last), 10)
            h.famfs("verify", *sum((["-m", "%s/fill/f%02d,%d" % (h.mpt, i, seed0 + i)]
                                    for i in range(n)), []))

    n1 = fill(100)
    assert n1 >= 8
    verify_all(100, n1)
    m.famfs("rm", "-r", d)
    for h in three:
        assert wait_gone(h, "fill")
    assert fh.wait_for(lambda: pending(m) == 0, 10)
    n2 = fill(500)
    assert n2 == n1
    verify_all(500, n2)
    assert m.famfs("fsck", m.mpt).returncode == 0


def test_unlink_and_rmdir_through_the_owner_mount(image):
    """unlink(2)/rmdir(2) through the master's mount when its daemon owns the writer (-o owner):
    one DELETE each, rmdir(2)'s errors, gone on a client; EPERM on the client."""
    m, c = fh.Host("master"), fh.Host("client")
    try:
        m.mkfs(image, "--enable-delete")
        # The CLI's commands take the writer lock an owning daemon holds: make the files first.
        first = m.mount(image)
        m.famfs("mkdir", os.path.join(first, "d"))
        m.famfs("creat", "-s", "1m", "-r", "-S", "2", os.path.join(first, "d", "f"))
        m.umount(first)
        m.mpt = m.mount(image, None, "-o", "owner")
        c.mpt = c.mount(image)
        assert fh.wait_for(lambda: os.path.exists(os.path.join(c.mpt, "d", "f")))
        with pytest.raises(PermissionError):
            os.unlink(os.path.join(c.mpt, "d", "f"))
        with pytest.raises(OSError) as e:
            os.rmdir(os.path.join(m.mpt, "d"))
        assert e.value.errno == errno.ENOTEMPTY
        with pytest.raises(OSError) as e:
            os.unlink(os.path.join(m.mpt, "d"))
        assert e.value.errno in (errno.EISDIR, errno.EPERM)
        os.unlink(os.path.join(m.mpt, "d", "f"))
        assert not os.path.exists(os.path.join(m.mpt, "d", "f"))
        os.rmdir(os.path.join(m.mpt, "d"))
        assert wait_gone(c, "d")
        with pytest.raises(FileNotFoundError):
            os.unlink(os.path.join(m.mpt, "nothing"))
        assert fh.status(m.mpt)["delete"]["deletes"] == 2
        assert m.famfs("fsck", m.mpt).returncode == 0
    finally:
        for h in (c, m):
            for mpt in list(h.mounts):
                fh.cleanup_mount(mpt)
