"""Master-only rules across simulated hosts, persistence across remounts, concurrency, fsck."""

import os
import re
import subprocess
import tempfile

import pytest

import famfs_harness as fh
from test_cli_master_util import getmap_extents, next_index, read, write

MiB = 1 << 20


def test_client_refused_with_master_named(master, client):
    m, c = master.mpt, client.mpt
    master.famfs("mkdir", os.path.join(m, "d"))
    master.famfs("creat", "-s", "1m", "-r", "-S", "4", os.path.join(m, "d", "f"))
    assert fh.wait_for(lambda: os.path.exists(os.path.join(c, "d", "f")))
    src = os.path.join(client.dir, "src")
    write(src, b"data")
    n = next_index(master.image)
    for args in (["creat", "-s", "1m", os.path.join(c, "x")],
                 ["mkdir", os.path.join(c, "x")],
                 ["mkdir", "-p", os.path.join(c, "x", "y")],
                 ["cp", src, os.path.join(c, "x")],
                 ["cp", src, os.path.join(c, "d")],
                 ["clone", os.path.join(c, "d", "f"), os.path.join(c, "x")]):
        p = client.famfs(*args, check=False)
        assert p.returncode != 0, args
        assert "not the master" in p.stderr, (args, p.stderr)
        assert master.uuid in p.stderr and client.uuid in p.stderr
        assert "famfs status %s" % c in p.stderr
    assert next_index(master.image) == n
    assert not os.path.exists(os.path.join(c, "x"))
    # Read-side commands work on the client.
    client.famfs("verify", "-f", os.path.join(c, "d", "f"), "-S", "4")
    assert getmap_extents(client, os.path.join(c, "d", "f")) == \
        getmap_extents(master, os.path.join(m, "d", "f"))
    client.famfs("chkread", os.path.join(c, "d", "f"))
    client.famfs("flush", os.path.join(c, "d", "f"))
    # The identity option overrides the environment: the client's binary acting as master.
    p = client.famfs("mkdir", "--system-uuid-file", master.uuid_file, os.path.join(c, "viaopt"),
                     check=False)
    assert p.returncode == 0, p.stderr


def test_files_survive_remount_and_read_on_second_host(master, srcdir_factory):
    m = master.mpt
    seeds = {"a": (1, 4096), "dir/b": (2, 3 * MiB + 1), "dir/sub/c": (3, 100)}
    master.famfs("mkdir", "-p", os.path.join(m, "dir", "sub"))
    for rel, (seed, size) in seeds.items():
        master.famfs("creat", "-s", str(size), "-r", "-S", str(seed), os.path.join(m, rel))
    src = srcdir_factory()
    blob = os.urandom(6 * MiB + 3)
    write(os.path.join(src, "blob"), blob)
    master.famfs("cp", os.path.join(src, "blob"), os.path.join(m, "dir"))
    master.famfs("creat", "-s", "9m", "-N", "3", "-B", "4", "-r", "-S", "77", os.path.join(m, "il"))
    maps = {rel: getmap_extents(master, os.path.join(m, rel)) for rel in seeds}

    master.umount(m)
    m2 = master.mount(master.image)
    client = fh.Host("client2")
    try:
        c = client.mount(master.image)
        for mpt, host in ((m2, master), (c, client)):
            for rel, (seed, size) in seeds.items():
                host.famfs("verify", "-f", os.path.join(mpt, rel), "-S", str(seed))
                assert getmap_extents(host, os.path.join(mpt, rel)) == maps[rel]
            assert read(os.path.join(mpt, "dir", "blob")) == blob
            assert read(os.path.join(mpt, "il")) == fh.pattern(77, 9 * MiB)
    finally:
        for mp in list(client.mounts):
            fh.cleanup_mount(mp)


@pytest.fixture
def srcdir_factory():
    made = []

    def make():
        d = tempfile.mkdtemp(prefix="famfs-src-", dir="/dev/shm")
        made.append(d)
        return d
    yield make
    for d in made:
        fh._run(["rm", "-rf", d], check=False)


def test_concurrent_creators_never_cross_link(master, srcdir_factory):
    """Several famfs processes at once on the master: the log lock serialises them."""
    m = master.mpt
    src = srcdir_factory()
    for i in range(40):
        write(os.path.join(src, "s%02d" % i), os.urandom(2000 + i))
    for w in range(4):
        master.famfs("mkdir", os.path.join(m, "w%d" % w))
    procs = []
    for w in range(4):
        args = [fh.famfs_bin(), "creat"]
        for i in range(10):
            args += ["-M", "%s/w%d/c%d,%d,%d" % (m, w, i, MiB + 4096 * i, 100 * w + i + 1)]
        procs.append(subprocess.Popen(args, env=master.env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
        cpargs = [fh.famfs_bin(), "cp"] + [os.path.join(src, "s%02d" % i) for i in
                                            range(w * 10, w * 10 + 10)] + [os.path.join(m, "w%d" % w)]
        procs.append(subprocess.Popen(cpargs, env=master.env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
        procs.append(subprocess.Popen([fh.famfs_bin(), "mkdir", "-p",
                                       os.path.join(m, "w%d" % w, "p", "q")], env=master.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (p.args, out, err)
    # Every file exists with its contents, no two files share an allocation unit, fsck is clean.
    seen = {}
    for w in range(4):
        for i in range(10):
            f = os.path.join(m, "w%d" % w, "c%d" % i)
            master.famfs("verify", "-q", "-f", f, "-S", str(100 * w + i + 1))
            for off, ln in getmap_extents(master, f):
                for au in range(off >> 21, (off + ln) >> 21):
                    assert au not in seen, (f, seen.get(au))
                    seen[au] = f
        for i in range(w * 10, w * 10 + 10):
            f = os.path.join(m, "w%d" % w, "s%02d" % i)
            assert read(f) == read(os.path.join(src, "s%02d" % i))
            for off, ln in getmap_extents(master, f):
                for au in range(off >> 21, (off + ln) >> 21):
                    assert au not in seen, (f, seen.get(au))
                    seen[au] = f
        assert os.path.isdir(os.path.join(m, "w%d" % w, "p", "q"))
    j = fh.status(m)
    assert j["collisions"] == 0 and j["skipped_entries"] == 0
    p = master.famfs("fsck", m, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_image_built_by_cli_passes_fsck(master, srcdir_factory):
    m = master.mpt
    src = srcdir_factory()
    os.makedirs(os.path.join(src, "t", "u"))
    for i in range(20):
        write(os.path.join(src, "t", "u" if i % 2 else "", "f%d" % i), os.urandom(5000 * (i + 1)))
    master.famfs("mkdir", "-p", os.path.join(m, "a", "b"))
    master.famfs("creat", "-s", "4m", "-r", "-S", "1", os.path.join(m, "a", "x"))
    master.famfs("creat", "-s", "8m", "-N", "2", "-B", "4", os.path.join(m, "a", "il"))
    master.famfs("cp", "-r", "-t", "2", os.path.join(src, "t"), os.path.join(m, "a", "b"))
    p = master.famfs("fsck", m, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"\b0 bad log entries", p.stdout)
    # Through the device too (unmounted), as upstream fsck of the image would.
    master.umount(m)
    p = master.famfs("fsck", master.image, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_read_only_mount_refuses_master_commands(image):
    h = fh.Host("master-ro")
    try:
        h.mkfs(image)
        m = h.mount(image, None, "--read-only")
        n = next_index(image)
        p = h.famfs("creat", "-s", "1m", os.path.join(m, "x"), check=False)
        assert p.returncode == 1 and "read-only" in p.stderr
        p = h.famfs("mkdir", os.path.join(m, "d"), check=False)
        assert p.returncode == 1 and "read-only" in p.stderr
        assert next_index(image) == n
    finally:
        for mp in list(h.mounts):
            fh.cleanup_mount(mp)
