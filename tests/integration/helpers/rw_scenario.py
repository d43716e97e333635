#!/usr/bin/python3
"""Scenarios of read/write/lseek/readv/pwritev calls on files, for tests/integration/
test_mmap_preload_rw.py. The test runs the same scenario under LD_PRELOAD=libfamfs-preload.so
and without it (the FUSE path) on files with the same bytes, and compares the transcripts:
every call's result (bytes as sha256 prefix + length, errno names, offsets from lseek, sizes
from fstat) is one JSON line on stdout.

  rw_scenario.py SCENARIO FILE [FILE2]
"""

import errno
import hashlib
import json
import os
import sys
import threading

out = []


def rec(what, value):
    out.append([what, value])


def h(data):
    return [len(data), hashlib.sha256(data).hexdigest()[:16]]


def call(what, fn, *a):
    """Record fn(*a): bytes -> hash, int -> int, OSError -> errno name."""
    try:
        r = fn(*a)
    except OSError as e:
        rec(what, "E" + errno.errorcode.get(e.errno, str(e.errno)))
        return None
    if isinstance(r, (bytes, bytearray)):
        rec(what, h(bytes(r)))
    else:
        rec(what, r)
    return r


def pos(fd, tag="pos"):
    rec(tag, os.lseek(fd, 0, os.SEEK_CUR))


def size(fd):
    rec("fstat size", os.fstat(fd).st_size)


def basic(path, _):
    fd = os.open(path, os.O_RDWR)
    sz = os.fstat(fd).st_size
    size(fd)
    call("read 100", os.read, fd, 100)
    pos(fd)
    call("read 1 MiB", os.read, fd, 1 << 20)
    pos(fd)
    for off in (0, 4095, 2 << 20, sz - 10, sz, sz + 4096):
        call("pread %d" % off, os.pread, fd, 8192, off)
    pos(fd)
    bufs = [bytearray(3), bytearray(5000), bytearray(70000)]
    call("readv", os.readv, fd, bufs)
    rec("readv bytes", h(b"".join(bufs)))
    pos(fd)
    bufs = [bytearray(100), bytearray(9000)]
    call("preadv", os.preadv, fd, bufs, sz - 5000)
    rec("preadv bytes", h(b"".join(bufs)))
    pos(fd)
    call("lseek end-10", os.lseek, fd, -10, os.SEEK_END)
    call("read at end-10", os.read, fd, 100)
    call("read at EOF", os.read, fd, 100)
    pos(fd)
    call("lseek past EOF", os.lseek, fd, sz + 100, os.SEEK_SET)
    call("read past EOF", os.read, fd, 100)
    call("write past EOF", os.write, fd, b"x" * 10)
    pos(fd)
    call("lseek 12345", os.lseek, fd, 12345, os.SEEK_SET)
    call("write", os.write, fd, b"hello famfs" * 100)
    pos(fd)
    call("writev", os.writev, fd, [b"a" * 10, b"b" * 70000, b"c" * 3])
    pos(fd)
    call("pwrite", os.pwrite, fd, b"P" * 4096, 3 << 20)
    call("pwrite large", os.pwrite, fd, bytes(range(256)) * 1024, 1 << 20)
    call("pwrite crossing EOF", os.pwrite, fd, b"Z" * 5000, sz - 100)
    call("pwrite at EOF", os.pwrite, fd, b"Z", sz)
    call("pwrite past EOF", os.pwrite, fd, b"Z", sz + 1)
    call("pwrite empty at EOF", os.pwrite, fd, b"", sz)
    call("pwritev", os.pwritev, fd, [b"v" * 100, b"w" * 200], sz - 150)
    pos(fd)
    call("lseek end", os.lseek, fd, 0, os.SEEK_END)
    call("write at EOF", os.write, fd, b"q")
    pos(fd)
    size(fd)
    os.lseek(fd, 0, os.SEEK_SET)
    call("whole file", os.read, fd, sz + 1)
    call("fsync", os.fsync, fd)
    os.close(fd)


def dup_fork(path, _):
    fd = os.open(path, os.O_RDWR)
    d = os.dup(fd)
    call("read fd", os.read, fd, 1000)
    pos(d, "pos dup")
    call("lseek dup", os.lseek, d, 50000, os.SEEK_SET)
    call("read fd after dup lseek", os.read, fd, 10)
    call("write dup", os.write, d, b"D" * 20)
    pos(fd)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: reads and writes through the inherited fd, reports its offsets
        os.close(r)
        a = os.read(fd, 300)
        os.write(fd, b"child")
        os.write(w, json.dumps([h(a), os.lseek(fd, 0, os.SEEK_CUR)]).encode())
        os._exit(0)
    os.close(w)
    rec("child", json.loads(os.read(r, 4096)))
    os.waitpid(pid, 0)
    os.close(r)
    pos(fd, "pos after child")
    call("read after child", os.read, fd, 100)
    d2 = os.dup2(fd, 100)
    call("read dup2", os.read, d2, 10)
    pos(fd)
    os.close(d)
    os.close(d2)
    call("read after closing dups", os.read, fd, 10)
    os.close(fd)


def threads(path, _):
    """8 threads: pwrite own regions, pread them back; then 4 threads read() one shared fd to
    the end in 64 KiB steps: every block is read exactly once (the offset is shared)."""
    fd = os.open(path, os.O_RDWR)
    sz = os.fstat(fd).st_size
    step = sz // 8

    def pw(i):
        blob = bytes([i + 1]) * 4096
        for k in range(0, step - 4096, 4096 * 7):
            os.pwrite(fd, blob, i * step + k)

    ts = [threading.Thread(target=pw, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    os.lseek(fd, 0, os.SEEK_SET)
    call("after pwrites", os.read, fd, sz)
    os.lseek(fd, 0, os.SEEK_SET)
    got = []
    lock = threading.Lock()

    def rd():
        while True:
            b = os.read(fd, 65536)
            if not b:
                return
            with lock:
                got.append(b)

    ts = [threading.Thread(target=rd) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    rec("shared-offset reads: total", sum(len(b) for b in got))
    rec("shared-offset reads: blocks", sorted(hashlib.sha256(b).hexdigest()[:8] for b in got)
        == sorted(hashlib.sha256(os.pread(fd, 65536, o)).hexdigest()[:8]
                  for o in range(0, sz, 65536)))
    pos(fd)
    os.close(fd)


def modes(path, _):
    """Read-only and write-only opens, O_APPEND (at open and by fcntl)."""
    fd = os.open(path, os.O_RDONLY)
    call("ro read", os.read, fd, 100)
    call("ro write", os.write, fd, b"x")
    call("ro pwrite", os.pwrite, fd, b"x", 0)
    call("ro pwritev", os.pwritev, fd, [b"x"], 0)
    pos(fd)
    os.close(fd)
    fd = os.open(path, os.O_WRONLY)
    call("wo read", os.read, fd, 100)
    call("wo pread", os.pread, fd, 100, 0)
    call("wo write", os.write, fd, b"W" * 10)
    pos(fd)
    os.close(fd)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    call("append write", os.write, fd, b"A")
    call("append pwrite", os.pwrite, fd, b"A", 0)
    call("append read", os.pread, fd, 10, 0)
    os.close(fd)
    fd = os.open(path, os.O_RDWR)
    call("write before F_SETFL", os.write, fd, b"B")
    import fcntl
    fcntl.fcntl(fd, fcntl.F_SETFL, os.O_APPEND)
    call("write after F_SETFL O_APPEND", os.write, fd, b"B")
    pos(fd)
    os.close(fd)
    with open(path, "rb") as f:
        rec("content", h(f.read()))


def reuse(path, other):
    """fd numbers reused after close, dup2 over, fopen/fclose: the new file is read, not the
    famfs one."""
    fd = os.open(path, os.O_RDWR)
    call("famfs read", os.pread, fd, 100, 0)
    os.close(fd)
    fd2 = os.open(other, os.O_RDWR)
    rec("same number", fd2 == fd)
    call("other read", os.pread, fd2, 100, 0)
    call("other write", os.pwrite, fd2, b"other", 10)
    call("other read 2", os.pread, fd2, 100, 0)
    f = os.open(path, os.O_RDWR)
    call("famfs read 2", os.pread, f, 100, 0)
    os.dup2(fd2, f)  # f now is the other file
    call("dup2 read", os.pread, f, 100, 0)
    os.close(f)
    os.close(fd2)
    with open(path, "rb") as fp:  # Python's open: open/read/close of libc
        rec("python open read", h(fp.read(1000)))
    fd = os.open(other, os.O_RDONLY)
    call("other again", os.pread, fd, 100, 0)
    os.close(fd)


def nonfamfs(path, _):
    """A tmpfs file and a pipe: everything as without the preload."""
    basic(path, None)
    r, w = os.pipe()
    call("pipe write", os.write, w, b"through the pipe")
    call("pipe read", os.read, r, 100)
    os.close(r)
    os.close(w)


def passthrough(path, other):
    """sendfile and copy_file_range go to the kernel: they see a store made just before
    through write(), and keep the offsets as the kernel does."""
    fd = os.open(path, os.O_RDWR)
    out = os.open(other, os.O_RDWR | os.O_TRUNC)
    call("pwrite", os.pwrite, fd, b"S" * 3000, 100)
    call("sendfile", os.sendfile, out, fd, 50, 10000)
    pos(fd)
    os.lseek(fd, 7, os.SEEK_SET)
    call("sendfile at offset", os.sendfile, out, fd, None, 5000)
    pos(fd)
    call("copy_file_range", os.copy_file_range, fd, out, 4096, 0, 2000)
    pos(fd)
    call("read after", os.read, fd, 100)
    os.lseek(out, 0, os.SEEK_SET)
    call("copied", os.read, out, 1 << 20)
    os.close(out)
    os.close(fd)


def count(path, _):
    """2000 small preads (the test counts the daemon's FUSE requests around this)."""
    fd = os.open(path, os.O_RDONLY)
    for i in range(2000):
        os.pread(fd, 4096, (i * 4096 * 3) % (os.fstat(fd).st_size - 4096))
    os.close(fd)
    rec("done", 2000)


def store(path, _):
    """A store through the preload, for another host to see."""
    fd = os.open(path, os.O_RDWR)
    call("store", os.pwrite, fd, b"seen on the other host at once" * 100, 777)
    call("store large", os.pwrite, fd, b"L" * (1 << 20), 3 << 20)
    os.close(fd)


SCENARIOS = {"basic": basic, "dup_fork": dup_fork, "threads": threads, "modes": modes,
             "reuse": reuse, "nonfamfs": nonfamfs, "passthrough": passthrough, "count": count, "store": store}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    for r in out:
        print(json.dumps(r))
