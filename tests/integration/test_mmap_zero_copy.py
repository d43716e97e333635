"""Zero-copy mmap of famfs files: libfamfs and the LD_PRELOAD shim, across two simulated hosts
(two daemons, two identity files, one image), and the FUSE mmap fallback."""

import ctypes
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "helpers"))
import famfs_harness as fh  # noqa: E402
from mmap_probe import (MiB, Probe, ProbeError, create_file, preload_lib, probe_bin,  # noqa: E402
                        replay)

FAMFS_EDEVACCESS = -4002


@pytest.fixture
def probes():
    made = []

    def make(*a, **kw):
        p = Probe(*a, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def both(master, client, rel):
    return os.path.join(master.mpt, rel), os.path.join(client.mpt, rel)


def fresh_read(path, off, n):
    with open(path, "rb") as f:
        return os.pread(f.fileno(), n, off)


@pytest.mark.parametrize("mode,preload", [("lib", False), ("sys", True)],
                         ids=["libfamfs", "preload"])
def test_store_on_A_seen_by_B_at_once(master, client, probes, mode, preload):
    create_file(master, "shared.dat", 8 * MiB)
    replay(master, client)
    pa, pb = both(master, client, "shared.dat")
    A = probes(mode, preload=preload)
    B = probes(mode, preload=preload)
    ia, _ = A.map(pa, 0, 8 * MiB, "rw")
    ib, _ = B.map(pb, 0, 8 * MiB, "r")
    # both are mappings of the image, not of the FUSE file
    assert master.image in A.maps_line(ia, 0)
    assert master.image in B.maps_line(ib, 0)
    for off in (0, 4096 + 17, 2 * MiB - 3, 5 * MiB + 12345, 8 * MiB - 8):
        data = os.urandom(8)
        A.write(ia, off, data)
        assert B.read(ib, off, 8) == data          # B's mapping sees it at once
        assert fresh_read(pb, off, 8) == data      # and B's read() too
    # and back, where the client may write (the daemon may make files read-only on clients)
    if os.stat(pb).st_mode & 0o222:
        jb, _ = B.map(pb, 0, 8 * MiB, "rw")
        data = b"from-B!!"
        B.write(jb, 3 * MiB, data)
        assert A.read(ia, 3 * MiB, 8) == data
        assert fresh_read(pa, 3 * MiB, 8) == data
    else:
        with pytest.raises(ProbeError) as e:
            B.map(pb, 0, 8 * MiB, "rw")
        assert e.value.code in (-13, -1, -30), e.value


def test_mmap_fd_respects_open_mode(master, probes):
    path = create_file(master, "fd.dat", 4 * MiB, seed=17)
    L = probes("lib")
    with pytest.raises(ProbeError) as e:
        L.mapfd(path, 0, 4 * MiB, "rw", "ro")      # writable mapping of an O_RDONLY fd
    assert e.value.code == -13, e.value
    i, _ = L.mapfd(path, 0, 4 * MiB, "r", "ro")
    assert L.read(i, 4 * MiB - 8, 8) == fh.pattern(17, 4 * MiB)[-8:]
    j, _ = L.mapfd(path, 2 * MiB, 2 * MiB, "rw", "rw")
    L.write(j, 0, b"via-fd")
    assert L.read(i, 2 * MiB, 6) == b"via-fd"
    # not a famfs file: a distinct code
    fd, tmp = tempfile.mkstemp(dir="/dev/shm", prefix="famfs-mmap-nf-")
    os.write(fd, b"x" * 4096)
    os.close(fd)
    try:
        with pytest.raises(ProbeError) as e:
            L.mapfd(tmp, 0, 4096, "r", "ro")
        assert e.value.code == -4001 and "errno=95" in e.value.text, e.value
    finally:
        os.unlink(tmp)


def test_beyond_allocation_and_meta_files(master, probes, tmp_path):
    path = create_file(master, "edge.dat", 4 * MiB + 5, seed=4)    # allocation: 6 MiB
    L = probes("lib")
    with pytest.raises(ProbeError) as e:
        L.map(path, 0, 8 * MiB, "r")
    assert e.value.code == -6, e.value                                 # -ENXIO
    i, _ = L.map(path, 0, 6 * MiB, "r")                                # the whole allocation
    assert L.read(i, 4 * MiB, 5) == fh.pattern(4, 4 * MiB + 5)[-5:]
    # the preload leaves such a request to the FUSE mmap
    S = probes("sys", preload=True)
    j, _ = S.map(path, 0, 8 * MiB, "r")
    assert "edge.dat" in S.maps_line(j, 0)
    assert S.read(j, 4 * MiB, 5) == fh.pattern(4, 4 * MiB + 5)[-5:]
    # the superblock and the log are famfs files too
    for rel, n in ((".meta/.superblock", 4096), (".meta/.log", 64 * 1024)):
        p = os.path.join(master.mpt, rel)
        k, _ = L.map(p, 0, n, "r")
        out = str(tmp_path / "meta")
        L.dump(k, 0, n, out)
        with open(out, "rb") as f, open(p, "rb") as g:
            assert f.read() == g.read(n), rel


def test_getmap_matches_xattr(master, probes):
    path = create_file(master, "m.dat", 3 * MiB + 5)
    P = probes("lib")
    d = P.getmap(path)
    assert d["size"] == str(3 * MiB + 5)
    assert d["kind"] == "simple"
    assert d["device"] == fh.getxattr(path, "user.famfs.device")
    text = fh.getxattr(path, "user.famfs.fmap").split("\n")
    exts = [l.split() for l in text[3:] if l.strip()]
    assert d["ext"] == ",".join("%s:%s" % (o, l) for o, l in exts)


@pytest.mark.parametrize("mode,preload", [("lib", False), ("sys", True)],
                         ids=["libfamfs", "preload"])
def test_interleaved_mapping_matches_read(master, client, probes, mode, preload, tmp_path):
    size = 22 * MiB + 4096 * 3 + 100
    create_file(master, "il.dat", size, seed=1234, nstrips=3, chunk=2 * MiB)
    replay(master, client)
    pa, pb = both(master, client, "il.dat")
    fmap = fh.getxattr(pb, "user.famfs.fmap")
    assert "interleave 3" in fmap, fmap
    P = probes(mode, preload=preload)
    i, _ = P.map(pb, 0, size, "r")
    assert client.image in P.maps_line(i, 0)
    out = str(tmp_path / "dump")
    P.dump(i, 0, size, out)
    with open(out, "rb") as f:
        mapped = f.read()
    with open(pb, "rb") as f:
        read = f.read()
    assert len(read) == size
    assert mapped == read
    assert mapped == fh.pattern(1234, size)
    # a window that starts and ends inside chunks
    j, _ = P.map(pb, 5 * MiB + 8192, 7 * MiB, "r")
    P.dump(j, 0, 7 * MiB, out)
    with open(out, "rb") as f:
        assert f.read() == read[5 * MiB + 8192:12 * MiB + 8192]


@pytest.mark.parametrize("mode,preload", [("lib", False), ("sys", True)],
                         ids=["libfamfs", "preload"])
def test_partial_stripe_interleave_maps(master, client, probes, mode, preload, tmp_path):
    """Issue 8 defect 7: 2 strips x 6 MiB, chunk 4 MiB, size 10 MiB (strip length not a
    multiple of the chunk) is valid for the core and served by read(); libfamfs gave
    EBADMAP. It maps, equal to read() and to the pattern."""
    size = 10 * MiB
    fh.append(master.image, "file", "partial.dat", "--size", size, "--seed", 99,
              "--interleave", 2, "--chunk", 4 * MiB, "--buckets", 2, "--strip-len", 6 * MiB)
    replay(master, client)
    for mpt, image in ((master.mpt, master.image), (client.mpt, client.image)):
        path = os.path.join(mpt, "partial.dat")
        fmap = fh.getxattr(path, "user.famfs.fmap")
        assert "interleave 2 0x400000" in fmap and fmap.count(" 0x600000") == 2, fmap
        with open(path, "rb") as f:
            read = f.read()
        assert read == fh.pattern(99, size)
        P = probes(mode, preload=preload)
        i, _ = P.map(path, 0, size, "r")
        assert image in P.maps_line(i, 0)
        out = str(tmp_path / "dump")
        P.dump(i, 0, size, out)
        with open(out, "rb") as f:
            assert f.read() == read


def test_readonly_file_cannot_be_mapped_writable(master, client, probes):
    create_file(master, "ro.dat", 4 * MiB, seed=7, mode=0o444)
    replay(master, client)
    for mpt in (master.mpt, client.mpt):
        path = os.path.join(mpt, "ro.dat")
        L = probes("lib")
        with pytest.raises(ProbeError) as e:
            L.map(path, 0, 4 * MiB, "rw")
        assert e.value.code in (-13, -1), e.value        # -EACCES / -EPERM
        i, _ = L.map(path, 0, 4 * MiB, "r")
        assert L.read(i, 0, 16) == fh.pattern(7, 16)
        # an unmodified program under the preload: no writable shared mapping either
        S = probes("sys", preload=True)
        with pytest.raises(ProbeError) as e:
            S.map(path, 0, 4 * MiB, "rw")
        assert e.value.code in (-13, -1), e.value
    # the superblock is read-only too
    L = probes("lib")
    with pytest.raises(ProbeError) as e:
        L.map(os.path.join(master.mpt, ".meta", ".superblock"), 0, 4096, "rw")
    assert e.value.code in (-13, -1, -30)


def test_readonly_mount(master, probes):
    """A read-only mount (famfs mount --read-only) maps read-only: a writable mapping is EROFS."""
    path = create_file(master, "rom.dat", 4 * MiB, seed=6)
    h = fh.Host("ro")
    try:
        mpt = h.mount(master.image, None, "--read-only")
        p = os.path.join(mpt, "rom.dat")
        fh.wait_for(lambda: os.path.exists(p), 5)
        L = probes("lib")
        with pytest.raises(ProbeError) as e:
            L.map(p, 0, 4 * MiB, "rw")
        assert e.value.code in (-30, -13), e.value          # EROFS (or EACCES)
        i, _ = L.map(p, 0, 4 * MiB, "r")
        assert L.read(i, 0, 16) == fh.pattern(6, 16)
        assert master.image in L.maps_line(i, 0)
        L.close()
    finally:
        for m in list(h.mounts):
            fh.cleanup_mount(m)


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


def test_nonroot_without_device_access_falls_back(shared_master, probes):
    h = shared_master
    path = create_file(h, "pub.dat", 4 * MiB, seed=99, mode=0o644)
    assert os.stat(h.mpt).st_mode & 0o005 == 0o005, "nobody must reach the mount root"
    st = os.stat(h.image)
    assert st.st_mode & 0o006 == 0, "image must not be accessible to others for this test"
    # libfamfs: a distinct code, errno EACCES, and a message naming the device
    L = probes("lib", user="nobody")
    with pytest.raises(ProbeError) as e:
        L.map(path, 0, 4 * MiB, "r")
    assert e.value.code == FAMFS_EDEVACCESS, e.value
    assert "errno=13" in e.value.text and h.image in e.value.text
    # the preload falls back to the FUSE mapping silently (debug: one line)
    S = probes("sys", preload=True, user="nobody", env={"FAMFS_PRELOAD_DEBUG": "1"})
    i, _ = S.map(path, 0, 4 * MiB, "r")
    assert S.read(i, 0, 4096) == fh.pattern(99, 4096)
    line = S.maps_line(i, 0)
    assert h.image not in line and "pub.dat" in line
    err = S.close()
    assert "cannot open" in err and h.image in err
    # without debug: nothing on stderr
    Q = probes("sys", preload=True, user="nobody")
    i, _ = Q.map(path, 0, 4 * MiB, "r")
    assert Q.read(i, 4 * MiB - 16, 16) == fh.pattern(99, 4 * MiB)[-16:]
    assert Q.close() == ""


def test_non_famfs_mmaps_untouched_by_preload(master, probes):
    fd, tmp = tempfile.mkstemp(dir="/dev/shm", prefix="famfs-mmap-tmpfs-")
    try:
        data = os.urandom(3 * MiB + 100)
        os.write(fd, data)
        os.close(fd)
        S = probes("sys", preload=True)
        i, _ = S.map(tmp, 0, len(data), "rw")
        assert tmp in S.maps_line(i, 0)
        assert S.read(i, 3 * MiB, 100) == data[3 * MiB:]
        S.write(i, 10, b"xyz")
        with open(tmp, "rb") as f:
            assert f.read(13)[10:] == b"xyz"
        # a page-offset mapping of it, partially unmapped: the kernel's semantics
        j, _ = S.map(tmp, 8192, 3 * 4096, "r")
        S.unmap(j, 4096, 4096)
        assert S.mapped(j, 0) and not S.mapped(j, 4096) and S.mapped(j, 8192)
        assert S.read(j, 0, 3) == data[8192:8195]
    finally:
        os.unlink(tmp)


@pytest.mark.parametrize("mode,preload", [("lib", False), ("sys", True)],
                         ids=["libfamfs", "preload"])
def test_partial_munmap(master, probes, mode, preload):
    path = create_file(master, "pm.dat", 6 * MiB, seed=5)
    pat = fh.pattern(5, 6 * MiB)
    P = probes(mode, preload=preload)
    i, addr = P.map(path, 0, 6 * MiB, "r")
    assert addr % (2 * MiB) == 0
    P.unmap(i, 3 * MiB, 4096)
    assert not P.mapped(i, 3 * MiB)
    assert P.mapped(i, 3 * MiB - 4096) and P.mapped(i, 3 * MiB + 4096)
    assert P.read(i, 3 * MiB + 4096, 64) == pat[3 * MiB + 4096:3 * MiB + 4096 + 64]
    P.unmap(i, 0, 2 * MiB)
    assert not P.mapped(i, 0) and P.mapped(i, 2 * MiB)
    P.unmap(i, 2 * MiB, 4 * MiB)
    assert P.maps_line(i, 5 * MiB) == "none"

    # a small window at a page offset: whole granules are mapped around it...
    j, addr = P.map(path, 0x3000, 2 * 4096, "r")
    assert (addr - 0x3000) % (2 * MiB) == 0
    assert P.read(j, 0, 32) == pat[0x3000:0x3020]
    assert master.image in P.maps_line(j, 0)
    # ...and go away with it, in two steps
    P.unmap(j, 4096, 4096)
    assert P.mapped(j, 0) and not P.mapped(j, 4096)
    P.unmap(j, 0, 4096)
    assert P.maps_line(j, -0x3000) == "none"
    assert P.maps_line(j, 0) == "none"


def test_preload_mremap(master, probes):
    """A zero-copy mapping may shrink (like a partial munmap) but not grow or move."""
    path = create_file(master, "mr.dat", 6 * MiB, seed=8)
    P = probes("sys", preload=True)
    i, addr = P.map(path, 0, 6 * MiB, "r")
    with pytest.raises(ProbeError) as e:
        P.mremap(i, 8 * MiB)
    assert e.value.code == -22
    assert P.mremap(i, 4 * MiB) == addr
    assert P.mapped(i, 4 * MiB - 4096) and not P.mapped(i, 4 * MiB)
    assert P.read(i, 4 * MiB - 16, 16) == fh.pattern(8, 4 * MiB)[-16:]
    # anonymous memory still moves and grows
    fd, tmp = tempfile.mkstemp(dir="/dev/shm", prefix="famfs-mmap-mr-")
    try:
        os.write(fd, b"q" * (2 * MiB))
        os.close(fd)
        j, _ = P.map(tmp, 0, MiB, "r")
        P.mremap(j, 2 * MiB)
        assert P.read(j, 2 * MiB - 1, 1) == b"q"
    finally:
        os.unlink(tmp)


@pytest.mark.parametrize("mode,preload", [("lib", False), ("sys", True)],
                         ids=["libfamfs", "preload"])
def test_proc_maps_shows_the_image(master, probes, mode, preload):
    path = create_file(master, "pm2.dat", 4 * MiB)
    P = probes(mode, preload=preload)
    i, _ = P.map(path, 0, 4 * MiB, "r")
    line = P.maps_line(i, 0)
    assert master.image in line and "pm2.dat" not in line
    # the device offset in /proc/self/maps is the file's first extent
    off = int(line.split()[2], 16)
    first = fh.getxattr(path, "user.famfs.fmap").split("\n")[3].split()[0]
    assert off == int(first, 16)


def test_preload_disabled_and_private_pass_through(master, probes):
    path = create_file(master, "pt.dat", 4 * MiB, seed=3)
    D = probes("sys", preload=True, env={"FAMFS_PRELOAD_DISABLE": "1"})
    i, _ = D.map(path, 0, 4 * MiB, "r")
    line = D.maps_line(i, 0)
    assert master.image not in line and "pt.dat" in line
    assert D.read(i, 100, 16) == fh.pattern(3, 116)[100:]
    # MAP_PRIVATE (python's ACCESS_COPY) goes to the kernel: a private FUSE mapping
    code = r"""
import ctypes, mmap, sys
f = open(sys.argv[1], 'rb')
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
a = ctypes.addressof(ctypes.c_char.from_buffer(m))
line = [l for l in open('/proc/self/maps') if int(l.split('-')[0], 16) <= a < int(l.split()[0].split('-')[1], 16)][0]
m[0:4] = b'priv'
print(line.strip())
print(bytes(m[0:4]).decode())
"""
    out = subprocess.run(["/usr/bin/python3", "-c", code, path], capture_output=True, text=True,
                         env=dict(os.environ, LD_PRELOAD=preload_lib()), timeout=60)
    assert out.returncode == 0, out.stderr
    line, data = out.stdout.splitlines()
    assert "pt.dat" in line and data == "priv"
    assert fresh_read(path, 0, 4) == fh.pattern(3, 4)   # copy on write: the file is unchanged


PY_READER = r"""
import mmap, sys
before = set(open('/proc/self/maps').read().splitlines())
f = open(sys.argv[1], 'rb')
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
after = set(open('/proc/self/maps').read().splitlines())
print(' | '.join(sorted(after - before)))
print(len(m))
sys.stdout.write(m[int(sys.argv[2]):int(sys.argv[2]) + int(sys.argv[3])].hex() + '\n')
m.close()
"""


def test_python_mmap_under_preload_reads_other_host(master, client, probes):
    create_file(master, "py.dat", 5 * MiB + 123)
    replay(master, client)
    pa, pb = both(master, client, "py.dat")
    A = probes("lib")
    ia, _ = A.map(pa, 0, 5 * MiB + 123, "rw")
    data = os.urandom(64)
    A.write(ia, 4 * MiB + 1000, data)
    out = subprocess.run(["/usr/bin/python3", "-c", PY_READER, pb, str(4 * MiB + 1000), "64"],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, LD_PRELOAD=preload_lib()))
    assert out.returncode == 0, out.stderr
    line, length, hexdata = out.stdout.splitlines()
    assert client.image in line, line
    assert int(length) == 5 * MiB + 123
    assert bytes.fromhex(hexdata) == data


def test_fuse_mmap_fallback_coherent_at_open(master, client, probes):
    """Without the preload, MAP_SHARED mmap of a famfs file is a FUSE mapping: it works, and a
    new open + mmap sees what another host stored (no page cache survives across opens)."""
    create_file(master, "fb.dat", 4 * MiB, seed=11)
    replay(master, client)
    pa, pb = both(master, client, "fb.dat")
    F = probes("sys")                       # client, no preload
    i, _ = F.map(pb, 0, 4 * MiB, "r")
    assert client.image not in F.maps_line(i, 0) and "fb.dat" in F.maps_line(i, 0)
    assert F.read(i, 0, 32) == fh.pattern(11, 32)
    A = probes("lib")
    ia, _ = A.map(pa, 0, 4 * MiB, "rw")
    for k in range(3):
        data = os.urandom(32)
        A.write(ia, 1 * MiB + k * 4096, data)
        j, _ = F.map(pb, 0, 4 * MiB, "r")   # a new open and mapping
        assert F.read(j, 1 * MiB + k * 4096, 32) == data
        F.unmap(j, 0, 4 * MiB)
    # a mapping held across a remote store is refreshed by the next open of the file on this
    # host (the daemon never lets the page cache survive an open)
    data = os.urandom(32)
    A.write(ia, 3 * MiB, data)
    assert fresh_read(pb, 3 * MiB, 32) == data     # an open (and a read())
    assert F.read(i, 3 * MiB, 32) == data          # the held mapping sees it now
    # the FUSE mapping of the master's own file works for writes too
    W = probes("sys")
    iw, _ = W.map(pa, 0, 4 * MiB, "rw")
    W.write(iw, 2 * MiB, b"fuse-write")
    W.unmap(iw, 0, 4 * MiB)                 # munmap writes back the dirty page (msync)
    assert fresh_read(pb, 2 * MiB, 10) == b"fuse-write" or \
        A.read(ia, 2 * MiB, 10) == b"fuse-write"


def test_preload_threads(master):
    """Concurrent mmap/munmap of famfs and anonymous memory from several threads."""
    path = create_file(master, "thr.dat", 8 * MiB, seed=21)
    code = r"""
import mmap, os, sys, threading
path = sys.argv[1]
want = open(path, 'rb').read(8 << 20)
errs = []
def work(k):
    try:
        for n in range(40):
            with open(path, 'rb') as f:
                off = ((n + k) % 4) * (2 << 20)
                m = mmap.mmap(f.fileno(), 2 << 20, access=mmap.ACCESS_READ, offset=off)
                assert m[:64] == want[off:off + 64] and m[-64:] == want[off + (2 << 20) - 64:off + (2 << 20)]
                a = mmap.mmap(-1, 1 << 20)
                a[0:3] = b'abc'
                a.close()
                m.close()
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=work, args=(k,)) for k in range(6)]
[t.start() for t in ts]
[t.join() for t in ts]
print('errors', errs)
sys.exit(1 if errs else 0)
"""
    out = subprocess.run(["/usr/bin/python3", "-c", code, path], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, LD_PRELOAD=preload_lib()))
    assert out.returncode == 0, out.stdout + out.stderr


def test_preload_fork(master):
    """A zero-copy mapping is inherited across fork; the child's munmap leaves the parent's."""
    path = create_file(master, "fork.dat", 4 * MiB + 4096, seed=31)
    code = r"""
import mmap, os, sys
want = open(sys.argv[1], 'rb').read()
f = open(sys.argv[1], 'rb')
m = mmap.mmap(f.fileno(), 4096, access=mmap.ACCESS_READ, offset=3 << 20)   # a window: padding
assert any(sys.argv[2] in l for l in open('/proc/self/maps'))
pid = os.fork()
if pid == 0:
    ok = m[:64] == want[3 << 20:(3 << 20) + 64]
    m.close()
    n = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    ok = ok and n[-100:] == want[-100:]
    n.close()
    os._exit(0 if ok else 1)
_, st = os.waitpid(pid, 0)
assert st == 0, st
assert m[:64] == want[3 << 20:(3 << 20) + 64]
m.close()
assert not any(sys.argv[2] in l for l in open('/proc/self/maps')), 'padding left behind'
print('ok')
"""
    out = subprocess.run(["/usr/bin/python3", "-c", code, path, master.image],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, LD_PRELOAD=preload_lib()))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr
