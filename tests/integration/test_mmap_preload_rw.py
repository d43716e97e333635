"""read/write/lseek/readv/pwritev under LD_PRELOAD=libfamfs-preload.so (issue 13 section 1):
the same bytes, results, errnos and file offsets as the FUSE path, across dup/fork/threads,
at EOF, for interleaved files, read-only and write-only opens and O_APPEND; fds that are not
famfs files untouched; served without FUSE round trips; a store through the preload seen by
another host (second daemon, other identity) at once; FAMFS_PRELOAD_RW=0; and libfamfs's
famfs_pread/famfs_pwrite."""

import ctypes
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "helpers"))
import famfs_harness as fh  # noqa: E402
from mmap_probe import MiB, create_file, preload_lib, replay  # noqa: E402

SCENARIO = os.path.join(HERE, "helpers", "rw_scenario.py")
SIMPLE_SIZE = 8 * MiB - 1000           # EOF inside a page
INTERLEAVED_SIZE = 10 * MiB + 12345    # 3 strips, 2 MiB chunks
SERVED = "read/write served from the device"


def run(scenario, path, other=None, preload=True, env=None, user=None):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    if preload:
        e["LD_PRELOAD"] = preload_lib()
        e["FAMFS_PRELOAD_DEBUG"] = "1"
    if env:
        e.update(env)
    argv = [sys.executable, SCENARIO, scenario, path] + ([other] if other else [])
    if user:
        argv = ["runuser", "-u", user, "--", "env"] + [
            "%s=%s" % (k, e[k]) for k in ("LD_PRELOAD", "FAMFS_PRELOAD_DEBUG") if k in e] + argv
    p = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=120)
    assert p.returncode == 0, p.stderr
    return [json.loads(ln) for ln in p.stdout.splitlines()], p.stderr


def reset(path, seed, size):
    with open(path, "r+b") as f:  # through FUSE: this test process is not preloaded
        f.write(fh.pattern(seed, size))


def content(path):
    with open(path, "rb") as f:
        return f.read()


def compare(scenario, path, seed, size, other=None, expect_served=True, before=None):
    """Run the scenario without and with the preload from the same bytes: same transcript,
    same file afterwards. before(): resets anything else the scenario changes."""
    reset(path, seed, size)
    if before:
        before()
    fuse, _ = run(scenario, path, other, preload=False)
    after_fuse = content(path)
    reset(path, seed, size)
    if before:
        before()
    pre, err = run(scenario, path, other, preload=True)
    for a, b in zip(fuse, pre):
        assert a == b, "FUSE %r, preload %r" % (a, b)
    assert len(fuse) == len(pre)
    assert content(path) == after_fuse
    if expect_served:
        assert SERVED in err, err  # the preload did serve the famfs fd
    return pre, err


@pytest.fixture
def files(master, client):
    simple = create_file(master, "rw.dat", SIMPLE_SIZE, seed=5)
    il = create_file(master, "il.dat", INTERLEAVED_SIZE, seed=6, nstrips=3, chunk=2 * MiB)
    replay(master, client)
    assert "interleave 3" in fh.getxattr(il, "user.famfs.fmap")
    return {"simple": (simple, 5, SIMPLE_SIZE), "interleaved": (il, 6, INTERLEAVED_SIZE)}


@pytest.mark.parametrize("kind", ["simple", "interleaved"])
@pytest.mark.parametrize("scenario", ["basic", "dup_fork", "threads", "modes"])
def test_preload_rw_matches_fuse(files, kind, scenario):
    path, seed, size = files[kind]
    pre, _ = compare(scenario, path, seed, size)
    if scenario == "threads":
        d = dict((k, v) for k, v in pre)
        assert d["shared-offset reads: total"] == size
        assert d["shared-offset reads: blocks"] is True
    if scenario == "modes":
        d = dict((k, v) for k, v in pre)
        assert d["ro write"] == "EEBADF" and d["wo read"] == "EEBADF"
        assert d["append write"] == "EEFBIG" and d["write after F_SETFL O_APPEND"] == "EEFBIG"


def test_preload_rw_eof_rules(files):
    path, seed, size = files["simple"]
    pre, _ = compare("basic", path, seed, size)
    d = dict((k, v) for k, v in pre)
    assert d["pwrite crossing EOF"] == 100          # cut at EOF
    assert d["pwrite at EOF"] == "EEFBIG" and d["pwrite past EOF"] == "EEFBIG"
    assert d["write past EOF"] == "EEFBIG" and d["write at EOF"] == "EEFBIG"
    assert d["pwrite empty at EOF"] == 0
    assert d["read at EOF"][0] == 0 and d["read past EOF"][0] == 0
    assert d["fstat size"] == size


def test_preload_rw_fd_reuse_and_other_files(files, tmp_path):
    path, seed, size = files["simple"]
    fd, other = tempfile.mkstemp(prefix="famfs-rw-other-", dir="/dev/shm")
    try:
        os.close(fd)

        def fill_other():
            with open(other, "wb") as f:
                f.write(b"o" * 5000)

        compare("reuse", path, seed, size, other, before=fill_other)
        # a tmpfs file and a pipe: the same results with and without the preload
        with open(other, "wb") as f:
            f.write(os.urandom(4 * MiB))
        keep = content(other)
        fuse, _ = run("nonfamfs", other, preload=False)
        with open(other, "wb") as f:
            f.write(keep)
        pre, err = run("nonfamfs", other, preload=True)
        assert pre == fuse
        assert SERVED not in err
    finally:
        os.unlink(other)


def test_preload_sendfile_copy_file_range_pass_through(files):
    path, seed, size = files["simple"]
    fd, other = tempfile.mkstemp(prefix="famfs-rw-out-", dir="/dev/shm")
    os.close(fd)
    try:
        pre, _ = compare("passthrough", path, seed, size, other)
        d = dict((k, v) for k, v in pre)
        assert d["sendfile"] == 10000 and d["copied"][0] == 15000, d
        # FUSE to tmpfs: the kernel's answer (EXDEV here), the same with the preload
    finally:
        os.unlink(other)


def fuse_requests(mpt):
    """Read syscalls of the daemon (each FUSE request is one read of /dev/fuse)."""
    n = 0
    for pid in fh.daemon_pids(mpt):
        with open("/proc/%d/io" % pid) as f:
            for ln in f:
                if ln.startswith("syscr:"):
                    n += int(ln.split()[1])
    return n


def test_preload_rw_served_without_fuse_round_trips(master, files):
    path = files["simple"][0]
    before = fuse_requests(master.mpt)
    run("count", path, preload=False)
    plain = fuse_requests(master.mpt) - before
    before = fuse_requests(master.mpt)
    run("count", path, preload=True)
    served = fuse_requests(master.mpt) - before
    before = fuse_requests(master.mpt)
    _, err = run("count", path, preload=True, env={"FAMFS_PRELOAD_RW": "0"})
    off = fuse_requests(master.mpt) - before
    assert plain >= 2000, plain
    assert served < 200, (served, plain)   # open, getxattr, lookups: no per-read request
    assert off >= 2000, off                # FAMFS_PRELOAD_RW=0: all through FUSE
    assert SERVED not in err


def test_store_through_preload_seen_by_other_host_at_once(master, client, files):
    path, seed, size = files["simple"]
    reset(path, seed, size)
    _, err = run("store", path, preload=True)
    assert SERVED in err
    want = bytearray(fh.pattern(seed, size))
    small = b"seen on the other host at once" * 100
    want[777:777 + len(small)] = small
    want[3 * MiB:4 * MiB] = b"L" * MiB
    other = os.path.join(client.mpt, "rw.dat")
    assert content(other) == bytes(want)          # the other host's FUSE read
    # and the other host's preload read (its mount is read-only for this file: reads served)
    with tempfile.NamedTemporaryFile(prefix="famfs-rw-dump-", dir="/dev/shm") as dump:
        code = ("import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); "
                "open(sys.argv[2],'wb').write(os.pread(fd, %d, 0))" % size)
        e = dict(os.environ, LD_PRELOAD=preload_lib(), FAMFS_PRELOAD_DEBUG="1")
        p = subprocess.run([sys.executable, "-c", code, other, dump.name], env=e,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "reads served from the device" in p.stderr, p.stderr
        assert content(dump.name) == bytes(want)


def libfamfs():
    lib = ctypes.CDLL(os.path.join(fh.BUILD_DIR, "src", "lib", "libfamfs.so"),
                      use_errno=True)
    for name in ("famfs_pread", "famfs_pwrite"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_ssize_t
        fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64]
    return lib


def test_libfamfs_pread_pwrite(master, client, files, tmp_path):
    lib = libfamfs()
    path, seed, size = files["interleaved"]
    reset(path, seed, size)
    pat = fh.pattern(seed, size)
    fd = os.open(path, os.O_RDWR)
    try:
        before = fuse_requests(master.mpt)
        buf = ctypes.create_string_buffer(1 << 20)
        for off in range(0, size - (1 << 20), 3 * MiB + 4097):   # across chunks and strips
            assert lib.famfs_pread(fd, buf, 1 << 20, off) == 1 << 20
            assert buf.raw == pat[off:off + (1 << 20)]
        assert lib.famfs_pread(fd, buf, 1 << 20, size - 10) == 10
        assert lib.famfs_pread(fd, buf, 100, size) == 0
        data = b"famfs_pwrite" * 1000
        assert lib.famfs_pwrite(fd, data, len(data), 2 * MiB - 5) == len(data)
        assert lib.famfs_pwrite(fd, b"Q" * 100, 100, size - 40) == 40     # cut at EOF
        assert lib.famfs_pwrite(fd, b"Q", 1, size) == -27                 # -EFBIG
        assert ctypes.get_errno() == 27
        assert fuse_requests(master.mpt) - before < 50
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0                           # offset untouched
    finally:
        os.close(fd)
    want = bytearray(pat)
    want[2 * MiB - 5:2 * MiB - 5 + len(data)] = data
    want[size - 40:] = b"Q" * 40
    assert content(os.path.join(client.mpt, "il.dat")) == bytes(want)    # other host sees it
    fd = os.open(path, os.O_RDONLY)
    try:
        assert lib.famfs_pwrite(fd, b"x", 1, 0) == -9                      # -EBADF, as pwrite
    finally:
        os.close(fd)
    other = tmp_path / "plain"                 # not famfs: plain pread/pwrite
    other.write_bytes(b"plain file")
    fd = os.open(str(other), os.O_RDWR)
    try:
        assert lib.famfs_pwrite(fd, b"P", 1, 0) == 1
        assert lib.famfs_pread(fd, buf, 100, 0) == 10 and buf.raw[:10] == b"Plain file"
    finally:
        os.close(fd)


@pytest.fixture
def shared_master(image):
    """A master mounted with allow_other, so another user can reach the mount."""
    h = fh.Host("master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image, None, "--allow-other")
        h.image = image
        yield h
    finally:
        for m in list(h.mounts):
            fh.cleanup_mount(m)


def test_nonroot_without_device_access_reads_through_the_mount(shared_master):
    """A caller who may not open the device: the preload leaves its fds to FUSE (same
    results), one debug line says why."""
    h = shared_master
    path = create_file(h, "pub.dat", 4 * MiB, seed=99, mode=0o644)
    assert os.stat(h.image).st_mode & 0o006 == 0
    before = fuse_requests(h.mpt)
    out, err = run("count", path, preload=True, user="nobody")
    assert out == [["done", 2000]]
    assert fuse_requests(h.mpt) - before >= 2000
    assert "cannot open the device" in err and h.image in err, err
    assert "served from the device" not in err
