"""What the kernel caches for a famfs mount, and the invalidations that keep it right.

Negative lookups and directory listings are cached by the kernel (issue 13); a replay that
adds a name or changes a directory must invalidate them, on the host that follows the log and
on the master after a command. Requests are counted in the daemon's debug log (libfuse logs
every request with -d; the log is complete once the daemon has exited).
"""

import os
import re
import threading

import famfs_harness as fh


def _requests(host, mpt, opcode):
    """Unmount, then count the requests named `opcode` in that daemon's debug log."""
    host.umount(mpt)
    return len(re.findall(r"opcode: %s \(" % opcode, host.daemon_log(mpt)))


def test_negative_lookup_cached_then_bulk_created_visible(master, client):
    """More names than one replay used to invalidate by name (256), each looked up first."""
    fh.append(master.image, "mkdir", "b")
    assert fh.wait_for(lambda: os.path.isdir(os.path.join(client.mpt, "b")), timeout=5)
    names = [os.path.join(client.mpt, "b", "f%d" % i) for i in range(300)]
    before = fh.debug_counters(client.mpt)["negative_entries"]
    for p in names:
        assert not os.path.exists(p)
    # the daemon answered each with a cacheable negative entry, and remembers them
    assert fh.debug_counters(client.mpt)["negative_entries"] == before + 300
    fh.append(master.image, "bulk", "b", 300, "--size", 4096)
    # no command: the poller replays, then invalidates every cached negative entry by name
    assert fh.wait_for(lambda: all(os.path.exists(p) for p in names), timeout=5)
    assert fh.debug_counters(client.mpt)["negative_entries"] == before


def test_negative_lookup_cached_on_master_then_creat(master):
    """A master command's new name is visible when the command returns, also when the
    master's kernel had cached that it did not exist."""
    p = os.path.join(master.mpt, "later")
    for _ in range(3):
        assert not os.path.exists(p)
    assert fh.debug_counters(master.mpt)["negative_entries"] >= 1
    master.famfs("creat", "-s", "4k", p)
    assert os.path.exists(p)          # no wait: the command waited for the invalidation


def test_negative_lookups_answered_by_the_kernel(image):
    h = fh.Host("neg")
    h.mkfs(image)
    mpt = h.mount(image, None, "-d")
    p = os.path.join(mpt, "absent")
    base = fh.debug_counters(mpt)["negative_entries"]
    for _ in range(20):
        assert not os.path.exists(p)
    assert fh.debug_counters(mpt)["negative_entries"] == base + 1
    # 20 stats, one LOOKUP (and the few famfs mount may make): not one each
    assert _requests(h, mpt, "LOOKUP") < 10


def test_no_negative_caching_with_cache_never(image):
    h = fh.Host("never")
    h.mkfs(image)
    mpt = h.mount(image, None, "-c", "never")
    assert not os.path.exists(os.path.join(mpt, "absent"))
    assert fh.debug_counters(mpt)["negative_entries"] == 0


def test_listing_cached(image):
    h = fh.Host("dirc")
    h.mkfs(image)
    fh.append(image, "mkdir", "d")
    fh.append(image, "file", "d/a", "--size", 4096)
    fh.append(image, "file", "d/b", "--size", 4096)
    mpt = h.mount(image, None, "-d")
    for _ in range(5):
        assert sorted(os.listdir(os.path.join(mpt, "d"))) == ["a", "b"]
    # five listings, one read of the directory (and of its end): not five
    assert _requests(h, mpt, "READDIR(PLUS)?") <= 3


def test_listing_invalidated_by_replay(master, client):
    fh.append(master.image, "mkdir", "d")
    fh.append(master.image, "file", "d/a", "--size", 4096)
    d = os.path.join(client.mpt, "d")
    assert fh.wait_for(lambda: os.path.isdir(d), timeout=5)
    mtime0 = os.stat(d).st_mtime_ns
    for _ in range(5):
        assert os.listdir(d) == ["a"]
    # a replay adding one entry: the listing shows it after the poll, with no command
    fh.append(master.image, "file", "d/b", "--size", 4096)
    assert fh.wait_for(lambda: sorted(os.listdir(d)) == ["a", "b"], timeout=5)
    assert os.stat(d).st_mtime_ns > mtime0     # the directory's mtime says it changed
    # replays adding many (no names invalidated, only the directories' listings)
    many = os.path.join(d, "many")
    fh.append(master.image, "bulk", "d/many", 400)
    assert fh.wait_for(lambda: sorted(os.listdir(d)) == ["a", "b", "many"], timeout=5)
    assert fh.wait_for(lambda: len(os.listdir(many)) == 400, timeout=5)
    fh.append(master.image, "bulk", "d/many", 450)     # f400 .. f449 into a listed directory
    assert fh.wait_for(lambda: len(os.listdir(many)) == 450, timeout=5)
    for _ in range(3):
        assert len(os.listdir(many)) == 450
    # the master's own mount, listed before a command, shows what the command made
    assert sorted(os.listdir(os.path.join(master.mpt, "d"))) == ["a", "b", "many"]
    master.famfs("creat", "-s", "4k", os.path.join(master.mpt, "d", "c"))
    assert sorted(os.listdir(os.path.join(master.mpt, "d"))) == ["a", "b", "c", "many"]


def test_listing_not_cached_with_cache_never(image):
    h = fh.Host("dirnever")
    h.mkfs(image)
    mpt = h.mount(image, None, "-c", "never", "-d")
    fh.append(image, "mkdir", "d")
    fh.logplay(mpt)
    for _ in range(5):
        assert os.listdir(os.path.join(mpt, "d")) == []
    assert _requests(h, mpt, "READDIR(PLUS)?") >= 5


def test_flush_only_for_writable_opens(master):
    fh.append(master.image, "file", "w", "--size", 1 << 20)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "w")
    h = fh.Host("flush")
    mpt = h.mount(master.image, None, "-d")          # a second host, with the debug log
    q = os.path.join(mpt, "w")
    os.chmod(q, 0o644)
    for _ in range(4):
        with open(q, "rb") as f:
            f.read(10)
    for i in range(3):
        with open(q, "r+b") as f:
            f.write(b"x%d" % i)                      # small write: flushed at close
    with open(p, "rb") as f:
        assert f.read(2) == b"x2"
    # three writable closes each send FLUSH (answered, so the kernel keeps sending it);
    # read-only closes send none (FOPEN_NOFLUSH)
    assert _requests(h, mpt, "FLUSH") == 3


def test_parallel_writers_to_one_file(master, client):
    size = 8 << 20
    fh.append(master.image, "file", "pw", "--size", size)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "pw")
    chunk = 1 << 20

    def writer(k):
        fd = os.open(p, os.O_WRONLY)
        try:
            for j in range(k, size // chunk, 4):
                os.pwrite(fd, bytes([j + 1]) * chunk, j * chunk)
        finally:
            os.close(fd)

    ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    fh.logplay(client.mpt)
    with open(os.path.join(client.mpt, "pw"), "rb") as f:
        data = f.read()
    assert all(data[j * chunk:(j + 1) * chunk] == bytes([j + 1]) * chunk
               for j in range(size // chunk))
