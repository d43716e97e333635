"""Staged files (docs/native-create.md): only this host sees them until their last close;
rename and unlink before commit; ENOSPC leaves nothing committed and the space free; kill -9
of the master daemon mid-write loses only the staged file; permissions are the kernel's
(default_permissions) and the entry records the caller's uid/gid."""

import os
import pwd
import signal
import subprocess
import time

import pytest

import create_helpers as ch
import famfs_harness as fh


@pytest.fixture
def pair():
    """A master owning the writer (allow_other) and a client."""
    image = fh.make_image()
    try:
        with ch.master_and_client(image, "--allow-other") as mc:
            yield mc
    finally:
        fh.remove_image(image)


def client_sees(c, rel):
    fh.logplay(c.mpt)
    return os.path.exists(os.path.join(c.mpt, rel))


def test_staged_invisible_on_client_until_close(pair):
    m, c = pair
    p = os.path.join(m.mpt, "s.bin")
    f = open(p, "wb")
    try:
        f.write(b"x" * 10000)
        f.flush()
        st = os.stat(p)                      # this host sees it, with its size so far
        assert st.st_size == 10000 and st.st_uid == os.getuid()
        assert "s.bin" in os.listdir(m.mpt)
        assert not ch.is_committed(p)
        time.sleep(0.3)
        assert not client_sees(c, "s.bin")
        f.write(b"y" * 10)
    finally:
        f.close()
    assert fh.wait_for(lambda: client_sees(c, "s.bin"), timeout=10)
    with open(os.path.join(c.mpt, "s.bin"), "rb") as g:
        assert g.read() == b"x" * 10000 + b"y" * 10
    # A client refuses creation with today's message.
    with pytest.raises(PermissionError):
        open(os.path.join(c.mpt, "new"), "wb")
    assert "create files with 'famfs creat/cp' on the master" in c.daemon_log(c.mpt)


def test_rename_and_unlink_before_commit(pair):
    m, c = pair
    free0 = fh.status(m.mpt)["free_bytes"]
    a, b = os.path.join(m.mpt, "a.tmp"), os.path.join(m.mpt, "a")
    with open(a, "wb") as f:
        f.write(b"A" * 5000)
        os.rename(a, b)                      # while open
        f.write(b"B")
    g = os.path.join(m.mpt, "gone")
    with open(g, "wb") as f:
        f.write(os.urandom(3 * ch.MiB))
        os.unlink(g)                         # while open: discarded at close
    with open(os.path.join(m.mpt, "gone2"), "wb") as f:
        f.write(b"z")
    os.unlink(os.path.join(m.mpt, "gone2"))  # after close, before the commit delay ends
    assert fh.wait_for(lambda: client_sees(c, "a"), timeout=10)
    time.sleep(0.3)
    for n in ("a.tmp", "gone", "gone2"):
        assert not client_sees(c, n), n
        assert not os.path.exists(os.path.join(m.mpt, n)), n
    with open(os.path.join(c.mpt, "a"), "rb") as f:
        assert f.read() == b"A" * 5000 + b"B"
    # Only "a" took space (one unit); the discarded files gave theirs back: all of what is
    # left can be allocated in one file.
    st = fh.status(m.mpt)
    unit = free0 - st["free_bytes"]
    assert unit > 0 and st["files"] == 1
    # (After an append: the owned writer's allocator is next-fit without wrap until the log
    # grows; docs/native-create.md "One allocator".)
    os.mkdir(os.path.join(m.mpt, "after"))
    big = os.path.join(m.mpt, "big")
    fd = os.open(big, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        keep_size_fallocate(fd, st["free_bytes"])
        os.unlink(big)
    finally:
        os.close(fd)
    # After commit: today's rules (no rename, no unlink).
    with pytest.raises(PermissionError):
        os.rename(b, os.path.join(m.mpt, "c"))
    with pytest.raises(PermissionError):
        os.unlink(b)
    ch.fsck_clean(m, m.mpt)


def keep_size_fallocate(fd, length):
    """fallocate(2) with FALLOC_FL_KEEP_SIZE: space held, nothing written."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if libc.fallocate(fd, 1, 0, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_enospc_mid_write_commits_nothing(pair):
    m, c = pair
    st0 = fh.status(m.mpt)
    free, entries = st0["free_bytes"], st0["entries_used"]
    hog = os.path.join(m.mpt, "hog")
    hfd = os.open(hog, os.O_CREAT | os.O_WRONLY, 0o644)
    p = os.path.join(m.mpt, "huge")
    try:
        keep_size_fallocate(hfd, free - 64 * ch.MiB)   # all but 64 MiB held by a staged file
        chunk = b"q" * ch.MiB
        written = 0
        with pytest.raises(OSError) as ei:
            with open(p, "wb") as f:
                while written <= 128 * ch.MiB:
                    f.write(chunk)
                    f.flush()
                    written += len(chunk)
        assert ei.value.errno == 28  # ENOSPC
        assert written <= 64 * ch.MiB
        os.unlink(hog)
    finally:
        os.close(hfd)
    assert fh.wait_for(lambda: not os.path.exists(p), timeout=10)
    time.sleep(0.3)
    st = fh.status(m.mpt)
    assert st["entries_used"] == entries and st["free_bytes"] == free
    assert not client_sees(c, "huge") and not client_sees(c, "hog")
    log = m.daemon_log(m.mpt)
    assert "out of space" in log and "not committed" in log
    # The space is free again: all of it can be held by one file. (After an append: the
    # owned writer's allocator is next-fit without wrap until the log grows.)
    os.mkdir(os.path.join(m.mpt, "after"))
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        keep_size_fallocate(fd, free)
        os.unlink(p)
    finally:
        os.close(fd)
    ch.fsck_clean(m, m.mpt)


def test_kill_9_mid_write(pair):
    m, c = pair
    with open(os.path.join(m.mpt, "kept"), "wb") as f:
        f.write(b"k" * 70000)
    assert fh.wait_for(lambda: client_sees(c, "kept"), timeout=10)
    before = fh.status(m.mpt)
    writer = subprocess.Popen(
        ["python3", "-c",
         "import sys, time\n"
         "f = open(sys.argv[1], 'wb')\n"
         "while True:\n"
         "    f.write(b'w' * 65536); f.flush(); time.sleep(0.01)\n",
         os.path.join(m.mpt, "partial")],
        stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for pid in fh.daemon_pids(m.mpt):
            os.kill(pid, signal.SIGKILL)
        writer.wait(timeout=20)              # its writes fail once the daemon is gone
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    fh.force_unmount(m.mpt)
    ch.fsck_clean(c, c.mpt)
    m.mpt = m.mount(m.image, None, *ch.OWNER)
    after = fh.status(m.mpt)
    assert after["free_bytes"] == before["free_bytes"]
    assert after["entries_used"] == before["entries_used"]
    assert not os.path.exists(os.path.join(m.mpt, "partial"))
    with open(os.path.join(m.mpt, "kept"), "rb") as f:
        assert f.read() == b"k" * 70000


def test_non_root_user(pair):
    m, c = pair
    user = pwd.getpwnam("nobody")
    os.mkdir(os.path.join(m.mpt, "pub"), 0o777)
    os.chmod(os.path.join(m.mpt, "pub"), 0o1777)   # host-local on the master: enough here
    os.mkdir(os.path.join(m.mpt, "rootonly"), 0o755)

    def as_user(*argv):
        return subprocess.run(["runuser", "-u", "nobody", "--"] + list(argv),
                              capture_output=True, text=True)
    mine = os.path.join(m.mpt, "pub/mine")
    r = as_user("mkdir", mine)
    assert r.returncode == 0, r.stderr
    r = as_user("sh", "-c", "echo hello > " + mine + "/f")
    assert r.returncode == 0, r.stderr
    r = as_user("sh", "-c", "echo no > " + os.path.join(m.mpt, "rootonly/f"))
    assert r.returncode != 0 and "Permission denied" in r.stderr
    r = as_user("mkdir", os.path.join(m.mpt, "rootonly/d"))
    assert r.returncode != 0 and "Permission denied" in r.stderr
    cf = os.path.join(c.mpt, "pub/mine/f")
    assert fh.wait_for(lambda: client_sees(c, "pub/mine/f"), timeout=10)
    for path in (os.path.join(c.mpt, "pub/mine"), cf):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), path
    with open(cf) as f:
        assert f.read() == "hello\n"
    assert not client_sees(c, "rootonly/f")


def test_staged_files_and_famfs_commands_share_one_allocator(pair):
    """Staged files held open and growing while `famfs creat` and `famfs cp` run at the same
    time on the same master: one allocator (the owning daemon), so no space is handed out
    twice: fsck finds no cross-link and every file reads its own bytes, on the client too."""
    import threading
    m, c = pair
    MiB = 1 << 20
    staged = []
    for i in range(3):
        f = open(os.path.join(m.mpt, "staged%d" % i), "wb")
        f.write(fh.pattern(100 + i, 3 * MiB))
        f.flush()
        staged.append(f)
    src = os.path.join(m.dir, "src.bin")
    with open(src, "wb") as f:
        f.write(fh.pattern(7, 5 * MiB))
    errors = []

    def command(*argv):
        p = m.famfs(*argv, check=False)
        if p.returncode != 0:
            errors.append((argv, p.stderr))

    threads = [threading.Thread(target=command, args=("creat", "-s", "3m", "-r", "-S", str(10 + i),
                                                      os.path.join(m.mpt, "creat%d" % i)))
               for i in range(4)]
    threads.append(threading.Thread(target=command, args=("cp", src, os.path.join(m.mpt, "copy"))))
    for t in threads:
        t.start()
    for i, f in enumerate(staged):   # the staged files grow past their first extent meanwhile
        f.write(fh.pattern(200 + i, 3 * MiB))
    for t in threads:
        t.join()
    for f in staged:
        f.close()
    assert not errors, errors
    assert fh.wait_for(lambda: fh.status(m.mpt)["files"] >= 8, timeout=10)
    m.famfs("fsck", m.mpt)   # exit 0: no cross-linked allocation units
    fh.logplay(c.mpt)
    for h in (m, c):
        for i in range(3):
            with open(os.path.join(h.mpt, "staged%d" % i), "rb") as f:
                assert f.read() == fh.pattern(100 + i, 3 * MiB) + fh.pattern(200 + i, 3 * MiB)
        for i in range(4):
            h.famfs("verify", "-S", str(10 + i), "-f", os.path.join(h.mpt, "creat%d" % i))
        with open(os.path.join(h.mpt, "copy"), "rb") as f:
            assert f.read() == fh.pattern(7, 5 * MiB)
