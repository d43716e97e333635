"""famfs-fused serving a namespace: upstream fixture, attributes, data, xattrs, statfs, readdir,
unsupported operations."""

import errno
import fcntl
import hashlib
import json
import mmap
import os
import stat

import pytest

import famfs_harness as fh

UPSTREAM_MASTER = "f2eee19b-6c47-4dfd-af58-fc1b0113599a"


def parse_manifest(text):
    dirs, files, digests = {}, {}, {}
    for line in text.splitlines():
        w = line.split()
        if len(w) >= 6 and w[0] == "mkdir":
            dirs[w[1]] = (int(w[2], 8), int(w[4]), int(w[6]))
        elif len(w) >= 6 and w[0] == "file":
            files[w[1]] = (int(w[3]), int(w[5], 8))
        elif len(w) == 4 and len(w[3]) == 64 and w[0] in files:
            digests[w[0]] = w[3]
    return dirs, files, digests


@pytest.mark.parametrize("as_master", [True, False])
def test_upstream_fixture(fixture_upstream, as_master):
    image, manifest = fixture_upstream
    dirs, files, digests = parse_manifest(manifest)
    assert len(dirs) == 3 and len(files) == 5 and len(digests) == 5
    host = fh.Host("up", uuid=UPSTREAM_MASTER if as_master else None)
    try:
        mpt = host.mount(image)
        assert fh.getxattr(mpt, "user.famfs.role") == ("master" if as_master else "client")
        seen = set()
        for root, dnames, fnames in os.walk(mpt):
            rel = os.path.relpath(root, mpt)
            if rel == ".meta":
                continue
            for n in dnames + fnames:
                p = os.path.normpath(os.path.join(rel, n))
                if p != ".meta":
                    seen.add(p)
        assert seen == set(dirs) | set(files)
        for d, (mode, uid, gid) in dirs.items():
            st = os.stat(os.path.join(mpt, d))
            assert stat.S_ISDIR(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == mode and st.st_uid == uid and st.st_gid == gid
        for f, (size, mode) in files.items():
            st = os.stat(os.path.join(mpt, f))
            assert stat.S_ISREG(st.st_mode)
            assert st.st_size == size
            want = mode if as_master else mode & ~0o222
            assert stat.S_IMODE(st.st_mode) == want, f
            assert st.st_uid == 0 and st.st_gid == 0
            assert fh.sha256_file(os.path.join(mpt, f)) == digests[f], f
        # .meta files (B§1)
        sb = os.stat(os.path.join(mpt, ".meta/.superblock"))
        lg = os.stat(os.path.join(mpt, ".meta/.log"))
        assert sb.st_size == 2 << 20 and stat.S_IMODE(sb.st_mode) == 0o400
        assert lg.st_size == 8 << 20
        assert stat.S_IMODE(lg.st_mode) == (0o600 if as_master else 0o400)
        with open(os.path.join(mpt, ".meta/.superblock"), "rb") as f:
            assert f.read(8) == bytes.fromhex("ff82b28700000000")
        st = fh.status(mpt)
        assert st["files"] == 5 and st["directories"] == 3 and not st["damaged"]
        assert st["allocated_bytes"] == 23068672
    finally:
        for m in list(host.mounts):
            fh.cleanup_mount(m)


def test_proc_mounts_and_options(master):
    m = fh.mount_entry(master.mpt)
    assert m["fstype"] == "fuse.famfs"
    assert m["device"] == os.path.realpath(master.image)
    assert "default_permissions" in m["options"]
    assert "allow_other" not in m["options"]


def test_data_read_write_and_eof(master):
    fh.append(master.image, "mkdir", "d")
    fh.append(master.image, "file", "d/f", "--size", 3 * fh.MiB + 5, "--seed", 11)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "d/f")
    want = fh.pattern(11, 3 * fh.MiB + 5)
    with open(p, "rb") as f:
        assert f.read() == want
        f.seek(2 * fh.MiB - 3)
        assert f.read(10) == want[2 * fh.MiB - 3: 2 * fh.MiB + 7]
        f.seek(len(want) + 100)
        assert f.read(10) == b""
    fd = os.open(p, os.O_RDWR)
    try:
        assert os.pwrite(fd, b"hello", 1000) == 5
        # a write crossing EOF is cut at EOF; one starting at EOF fails with EFBIG
        assert os.pwrite(fd, b"x" * 10, len(want) - 4) == 4
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"y", len(want))
        assert e.value.errno == errno.EFBIG
        os.fsync(fd)
    finally:
        os.close(fd)
    assert os.stat(p).st_size == len(want)
    with open(p, "rb") as f:
        got = f.read()
    assert got[1000:1005] == b"hello" and got[-4:] == b"xxxx"
    # shared mmap works (direct I/O with DIRECT_IO_ALLOW_MMAP, or page cache on old kernels)
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED)
        assert m[1000:1005] == b"hello"
        m.close()


def test_interleaved_read(master):
    size = 9 * fh.MiB + 123
    fh.append(master.image, "file", "ilv", "--size", size, "--seed", 77,
              "--interleave", 3, "--chunk", 2 * fh.MiB)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "ilv")
    fm = fh.getxattr(p, "user.famfs.fmap").splitlines()
    assert fm[0] == "famfs-fmap 1" and fm[1] == "size %#x" % size
    assert fm[2].startswith("interleave 3 0x200000")
    assert len(fm) == 3 + 3
    with open(p, "rb") as f:
        data = f.read()
    assert data == fh.pattern(77, size)
    # unaligned reads crossing chunk boundaries
    with open(p, "rb", buffering=0) as f:
        for off in (2 * fh.MiB - 7, 4 * fh.MiB - 1, 6 * fh.MiB + 5):
            f.seek(off)
            assert f.read(1 << 20) == data[off: off + (1 << 20)]
    # big unaligned writes crossing strips (streaming-store path) and small ones
    data = bytearray(data)
    fd = os.open(p, os.O_RDWR)
    try:
        for off, ln in ((2 * fh.MiB - 13, (1 << 20) + 7), (5 * fh.MiB + 1, 200 * 1024 + 3),
                        (7, 100)):
            blob = os.urandom(ln)
            assert os.pwrite(fd, blob, off) == ln
            data[off: off + ln] = blob
    finally:
        os.close(fd)
    with open(p, "rb") as f:
        assert f.read() == bytes(data)


def test_xattrs(master):
    fh.append(master.image, "mkdir", "x")
    fh.append(master.image, "file", "x/a", "--size", 4096)
    rep = fh.logplay(master.mpt)   # the poller may have played them already
    assert rep["entries"] == 2 and rep["skipped"] == [] and rep["damaged"] is False
    root = master.mpt
    names = set(os.listxattr(root))
    assert {"user.famfs.device", "user.famfs.role", "user.famfs.system_uuid",
            "user.famfs.fs_uuid", "user.famfs.status", "user.famfs.logplay"} <= names
    f = os.path.join(root, "x/a")
    assert "user.famfs.fmap" in os.listxattr(f)
    assert "user.famfs.status" not in os.listxattr(f)
    for p in (root, f, os.path.join(root, "x"), os.path.join(root, ".meta/.log")):
        assert fh.getxattr(p, "user.famfs.device") == os.path.realpath(master.image)
        assert fh.getxattr(p, "user.famfs.role") == "master"
        assert fh.getxattr(p, "user.famfs.system_uuid") == master.uuid
    fs_uuid = fh.getxattr(root, "user.famfs.fs_uuid")
    assert len(fs_uuid) == 36
    fm = fh.getxattr(f, "user.famfs.fmap").splitlines()
    assert fm[:3] == ["famfs-fmap 1", "size 0x1000", "simple 1"]
    off, ln = fm[3].split()
    assert int(off, 16) >= 0x200000 + 8 * fh.MiB and ln == "0x200000"
    assert fh.getxattr(os.path.join(root, ".meta/.log"), "user.famfs.fmap").splitlines()[3] == \
        "0x200000 0x800000"
    st = fh.status(root)
    for k in ("role", "device", "fs_uuid", "system_uuid", "capacity_bytes", "free_bytes",
              "allocated_bytes", "entries_used", "entries_total", "files", "directories",
              "last_replay_unix_ms", "replay_lag_ms", "refresh_ms", "damaged", "damage_index",
              "damage_reason", "skipped_entries", "collisions", "read_only"):
        assert k in st, k
    assert st["role"] == "master" and st["fs_uuid"] == fs_uuid and st["entries_used"] == 2
    assert st["entries_total"] == 15420 and st["refresh_ms"] == 1
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.famfs.status")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        os.setxattr(f, "user.foo", b"1")
    assert e.value.errno in (errno.ENOTSUP, errno.EPERM)


def test_statfs(master):
    st = fh.status(master.mpt)
    sv = os.statvfs(master.mpt)
    assert sv.f_frsize * sv.f_blocks == 4 * fh.GiB
    assert sv.f_bavail * sv.f_frsize == st["free_bytes"]
    free0 = st["free_bytes"]
    assert free0 == 4 * fh.GiB - 2 * fh.MiB - 8 * fh.MiB
    fh.append(master.image, "file", "big", "--size", 100 * fh.MiB)
    fh.logplay(master.mpt)
    sv = os.statvfs(master.mpt)
    assert sv.f_bavail * sv.f_frsize == free0 - 100 * fh.MiB
    assert sv.f_files == 15420 and sv.f_ffree == 15420 - 1


def test_readdir_many_entries(master):
    n = 3000
    fh.append(master.image, "bulk", "many", n)
    fh.logplay(master.mpt)
    names = os.listdir(os.path.join(master.mpt, "many"))
    assert len(names) == n and set(names) == {"f%d" % i for i in range(n)}
    # readdirplus attributes
    with os.scandir(os.path.join(master.mpt, "many")) as it:
        cnt = 0
        for e in it:
            assert e.is_file() and e.stat().st_size == 4096
            cnt += 1
    assert cnt == n
    assert os.stat(os.path.join(master.mpt, "many")).st_nlink == 2
    assert os.stat(master.mpt).st_nlink == 2 + 2   # .meta and many


def _attempt(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


@pytest.mark.parametrize("owner", [True, False], ids=["owner", "noowner"])
def test_unsupported_operations(image, owner):
    """What a mount refuses. The owning master (the default) creates files and directories
    through the mount (test_create_*.py), so mknod/create/mkdir are refused only with
    -o noowner (where only famfs commands write the log)."""
    master = fh.Host("master")
    master.mkfs(image)
    master.image = image
    master.mpt = master.mount(image, None, *(() if owner else ("-o", "noowner")))
    try:
        _unsupported(master, owner)
    finally:
        fh.cleanup_mount(master.mpt)


def _unsupported(master, owner):
    fh.append(master.image, "mkdir", "d")
    fh.append(master.image, "file", "d/f", "--size", 8192, "--seed", 5)
    fh.logplay(master.mpt)
    m = master.mpt
    f = os.path.join(m, "d/f")
    before = fh.status(m)
    table = {
        "unlink": (lambda: os.unlink(f), errno.EPERM),
        "rmdir": (lambda: os.rmdir(os.path.join(m, "d")), errno.EPERM),
        "rename": (lambda: os.rename(f, os.path.join(m, "d/g")), errno.EPERM),
        "link": (lambda: os.link(f, os.path.join(m, "d/h")), errno.EPERM),
        "symlink": (lambda: os.symlink("f", os.path.join(m, "d/s")), errno.EPERM),
        "truncate": (lambda: os.truncate(f, 100), errno.EPERM),
        "open O_TRUNC": (lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)), errno.EPERM),
        "fallocate": (lambda: _fallocate(f), errno.EOPNOTSUPP),
        "write past EOF": (lambda: _pwrite(f, 8192), errno.EFBIG),
    }
    creation = {
        "mknod": (lambda: os.mknod(os.path.join(m, "d/n"), 0o600 | stat.S_IFREG), errno.EPERM),
        "create": (lambda: os.close(os.open(os.path.join(m, "d/new"), os.O_CREAT | os.O_WRONLY,
                                            0o644)), errno.EPERM),
        "mkdir": (lambda: os.mkdir(os.path.join(m, "d/sub")), errno.EPERM),
    }
    if not owner:
        table.update(creation)
    for name, (fn, want) in table.items():
        assert _attempt(fn) == want, name
    # nothing changed
    assert sorted(os.listdir(os.path.join(m, "d"))) == ["f"]
    assert os.stat(f).st_size == 8192
    with open(f, "rb") as fp:
        assert fp.read() == fh.pattern(5, 8192)
    after = fh.status(m)
    assert after["entries_used"] == before["entries_used"]
    assert after["files"] == before["files"] and after["directories"] == before["directories"]
    log = master.daemon_log(m)
    words = ["unlink", "rmdir", "rename", "link", "symlink", "truncate", "fallocate",
             "write past end of file"] + ([] if owner else ["mknod", "create", "mkdir"])
    for word in words:
        assert word + " /" in log, word


def _fallocate(p):
    # the raw system call: glibc's posix_fallocate() would emulate it by writing
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    fd = os.open(p, os.O_RDWR)
    try:
        if libc.fallocate(fd, 0, 0, 4096) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)


def _pwrite(p, off):
    fd = os.open(p, os.O_RDWR)
    try:
        os.pwrite(fd, b"z", off)
    finally:
        os.close(fd)


def test_chmod_chown_host_local(master):
    fh.append(master.image, "file", "f", "--size", 4096)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "f")
    os.chmod(p, 0o600)
    os.chown(p, 1234, 4321)
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 1234 and st.st_gid == 4321
    assert fh.status(master.mpt)["entries_used"] == 1      # not logged
    with pytest.raises(OSError) as e:
        os.chmod(os.path.join(master.mpt, ".meta/.log"), 0o666)
    assert e.value.errno == errno.EPERM
    mpt = master.mpt
    master.umount(mpt)
    mpt2 = master.mount(master.image)
    st = os.stat(os.path.join(mpt2, "f"))
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == 0   # gone after remount


def test_flock_is_host_local(master):
    p = os.path.join(master.mpt, ".meta/.log")
    a = os.open(p, os.O_RDONLY)
    b = os.open(p, os.O_RDONLY)
    try:
        fcntl.flock(a, fcntl.LOCK_EX)
        with pytest.raises(BlockingIOError):
            fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(a, fcntl.LOCK_UN)
        fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(a)
        os.close(b)


def test_read_only_mount(image):
    h = fh.Host("ro")
    h.mkfs(image)
    fh.append(image, "file", "f", "--size", 4096, "--seed", 2)
    try:
        mpt = h.mount(image, None, "--read-only")
        assert "ro" in fh.mount_entry(mpt)["options"].split(",")
        assert fh.status(mpt)["read_only"] is True
        with open(os.path.join(mpt, "f"), "rb") as f:
            assert f.read() == fh.pattern(2, 4096)
        assert _attempt(lambda: os.close(os.open(os.path.join(mpt, "f"), os.O_WRONLY))) == \
            errno.EROFS
    finally:
        for m in list(h.mounts):
            fh.cleanup_mount(m)


def _replay_settled(mpt):
    """Force a replay and wait until the daemon has sent the kernel the invalidations it
    queued for it: they drop dentries (so FORGETs follow) and would race with counting."""
    fh.logplay(mpt)
    assert fh.wait_for(lambda: fh.debug_counters(mpt)["invalidations_unsent"] == 0, timeout=5)


def test_lookup_counts(master):
    fh.append(master.image, "bulk", "lc", 50)
    _replay_settled(master.mpt)
    before = fh.debug_counters(master.mpt)["inodes_known_to_kernel"]
    for i in range(20):
        os.stat(os.path.join(master.mpt, "lc", "f%d" % i))
    mid = fh.debug_counters(master.mpt)
    assert mid["inodes_known_to_kernel"] == before + 1 + 20     # the directory and 20 files
    # readdirplus (or the lookups of stat) take a reference for every entry
    with os.scandir(os.path.join(master.mpt, "lc")) as it:
        assert len([e.stat() for e in it]) == 50
    after = fh.debug_counters(master.mpt)
    assert after["inodes_known_to_kernel"] == before + 1 + 50
    assert after["lookup_refs"] >= after["inodes_known_to_kernel"]


def test_forget_after_reclaim(master):
    """When the kernel drops its dentries/inodes it sends FORGET: counts go back down and
    everything is found again afterwards (the inode numbers stay the same)."""
    fh.append(master.image, "bulk", "fg", 30)
    _replay_settled(master.mpt)
    d = os.path.join(master.mpt, "fg")
    inos = [os.stat(os.path.join(d, "f%d" % i)).st_ino for i in range(30)]
    known = fh.debug_counters(master.mpt)["inodes_known_to_kernel"]
    assert known >= 31
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    assert fh.wait_for(
        lambda: fh.debug_counters(master.mpt)["inodes_known_to_kernel"] < known - 25, timeout=5)
    assert [os.stat(os.path.join(d, "f%d" % i)).st_ino for i in range(30)] == inos
    assert fh.debug_counters(master.mpt)["inodes_known_to_kernel"] >= 31
