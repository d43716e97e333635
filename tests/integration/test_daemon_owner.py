"""The master daemon as the owner of its file system's writes on this host (docs/design.md
"One writer per host"): it takes the writer lock at start without waiting and holds it for
life; a second owner of the same file system on this host is refused; clients, read-only and
-o noowner mounts do not own. famfs master commands reach it over its control socket, which
serves root only, survives hostile requests, and takes back what a client held when it goes."""

import fcntl
import json
import os
import socket
import subprocess

import pytest

import famfs_harness as fh

GiB = 1 << 30


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


def run_dir(mpt):
    return os.path.join("/run/famfs", fh.status(mpt)["fs_uuid"])


def lock_is_held(path):
    with open(path, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


class Control:
    """A raw client of the control socket (proto/control.hpp)."""

    def __init__(self, mpt):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(10)
        self.s.connect(os.path.join(run_dir(mpt), "control"))

    def raw(self, data):
        self.s.send(data)
        return json.loads(self.s.recv(1 << 20))

    def __call__(self, op, **kw):
        return self.raw(json.dumps(dict(op=op, **kw)).encode())

    def close(self):
        self.s.close()


def test_owner_holds_the_lock_for_life(image, hosts):
    h = hosts("master")
    h.mkfs(image)
    mpt = h.mount(image)
    st = fh.status(mpt)
    assert st["owner"] is True
    d = run_dir(mpt)
    lock = os.path.join(d, "writer.lock")
    assert lock_is_held(lock)
    # The daemon (after fuse_daemonize) recorded itself as the holder.
    with open(lock) as f:
        assert int(f.read().strip()) == st["pid"]
    sock = os.stat(os.path.join(d, "control"))
    assert sock.st_uid == 0 and (sock.st_mode & 0o777) == 0o600
    assert (os.stat(d).st_mode & 0o777) == 0o700
    h.umount(mpt)
    assert not lock_is_held(lock)
    assert not os.path.exists(os.path.join(d, "control"))


def test_second_owner_of_the_same_fs_is_refused(image, hosts):
    h = hosts("master")
    h.mkfs(image)
    mpt = h.mount(image)
    pid = fh.status(mpt)["pid"]
    # Another device with the same file system UUID (a copy of the image): the one-mount-per-
    # device check lets it mount, the lock (keyed by the fs UUID) refuses a second owner.
    link = image + "-owner-copy"
    subprocess.run(["cp", "--sparse=always", image, link], check=True)
    try:
        p = h.mount(link, None, check=False)
        assert not isinstance(p, str), "a second owner of one file system was mounted"
        assert p.returncode != 0
        log = p.stderr + h.daemon_log(list(h.logs)[-1])
        assert "writer.lock is held by pid %d" % pid in log, log
        assert "famfs-fused, mounted at %s" % mpt in log, log
        assert "famfs umount" in log, log
        assert fh.status(mpt)["owner"] is True   # the first one is untouched
        # A mount that leaves the writes to commands is allowed beside it.
        other = h.mount(link, None, "-o", "noowner")
        assert fh.status(other)["owner"] is False
    finally:
        os.unlink(link)


def test_clients_read_only_and_noowner_mounts_do_not_own(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    ro = m.mount(image, None, "--read-only", "-o", "owner")
    assert fh.status(ro)["owner"] is False
    m.umount(ro)
    c = hosts("client")
    cm = c.mount(image, None, "-o", "owner")
    assert fh.status(cm)["owner"] is False
    mm = m.mount(image, None, "-o", "noowner")
    assert fh.status(mm)["owner"] is False
    assert not os.path.exists(os.path.join(run_dir(mm), "control"))


def test_commands_write_through_the_owner(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    mpt = m.mount(image)
    # The daemon holds the lock for life: a command that took the lock itself would wait and
    # fail; through the socket it does not wait at all.
    env = dict(m.env, FAMFS_LOCK_TIMEOUT_S="0")
    for argv in (["mkdir", "-p", os.path.join(mpt, "d/e")],
                 ["creat", "-s", "4k", "-r", "-S", "7", os.path.join(mpt, "d/e/f")],
                 ["cp", "/etc/hostname", os.path.join(mpt, "d/h")],
                 ["fsck", mpt],   # no collision: nothing allocated twice
                 ["clone", os.path.join(mpt, "d/e/f"), os.path.join(mpt, "d/g")]):
        p = fh._run([fh.famfs_bin()] + argv, env=env, check=False)
        assert p.returncode == 0, (argv, p.stderr)
        assert "waiting" not in p.stderr
    m.famfs("verify", "-f", os.path.join(mpt, "d/e/f"), "-S", "7")
    m.famfs("verify", "-f", os.path.join(mpt, "d/g"), "-S", "7")


def test_control_socket_is_root_only(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    mpt = m.mount(image)
    path = os.path.join(run_dir(mpt), "control")
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
            "try:\n  s.connect(sys.argv[1])\nexcept PermissionError:\n  sys.exit(3)\n")
    p = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", code, path])
    assert p.returncode == 3


def test_hostile_requests_get_refusals_and_the_daemon_lives(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    mpt = m.mount(image)
    before = fh.status(mpt)
    c = Control(mpt)
    try:
        for bad in (b"not json", b"[]", b'{"op":"format"}', b'{"op":"reserve","n":-1}',
                    b'{"op":"lookup","path":"' + b"a" * 500 + b'"}',
                    b'{"op":"lookup","path":"../x"}',
                    b'{"op":"append","entry":"00"}',
                    b'{"op":"unreserve","n":5}',
                    b'{"op":"release","fmap":"famfs-fmap 1\\nsize 0x1000\\nsimple 1\\n'
                    b'0x2800000 0x200000\\n"}',
                    b'{"op":"allocate","size":1,"what":"x","interleave":{"nbuckets":99,'
                    b'"nstrips":98,"chunk_size":3}}'):
            r = c.raw(bad)
            assert r["ok"] is False and r["errno"] > 0 and r["message"], (bad, r)
        # An entry that replay would skip is not written: a path escaping the root.
        entry = bytearray(544)
        entry[8] = 1                                  # MKDIR
        entry[16 + 12:16 + 12 + 5] = b"../..\0"[:5]
        r = c("append", entry=entry.hex())
        assert r["ok"] is False and "refused" in r["message"], r
        # A file entry over space nobody allocated to this client is refused too.
        r = c("hello", version=1)
        assert r["ok"] and r["fs_uuid"] == before["fs_uuid"]
        # Oversized packets end the connection, and nothing else.
        with pytest.raises((ConnectionError, json.JSONDecodeError, OSError)):
            c.raw(b" " * (1 << 17))
            c("hello", version=1)
    finally:
        c.close()
    after = fh.status(mpt)
    assert after["pid"] == before["pid"]
    assert after["entries_used"] == before["entries_used"]
    m.famfs("creat", "-s", "4k", os.path.join(mpt, "still-works"))


def test_a_client_that_goes_gives_back_what_it_held(image, hosts):
    m = hosts("master")
    m.mkfs(image)
    mpt = m.mount(image)
    before = fh.status(mpt)
    c = Control(mpt)
    r = c("reserve", n=1000)
    assert r["ok"], r
    free_slots = r["free_slots"]
    r = c("allocate", size=GiB, what="big")
    assert r["ok"], r
    assert c("free_bytes")["free_bytes"] <= before["free_bytes"] - GiB
    c.close()
    # Another client sees the slots and the space back once the daemon has seen the first go.
    c2 = Control(mpt)
    try:
        assert fh.wait_for(lambda: c2("free_slots")["free_slots"] >= free_slots + 1000, 5.0)
        assert c2("free_bytes")["free_bytes"] == before["free_bytes"]
    finally:
        c2.close()
    assert fh.status(mpt)["entries_used"] == before["entries_used"]
