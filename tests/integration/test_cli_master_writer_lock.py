"""The writer lock of a file system (docs/design.md "One writer per host"): one per file
system UUID in /run/famfs, root-only; no user of the mount can take it; a second writer says
what it waits for and gives up after FAMFS_LOCK_TIMEOUT_S. The commands write themselves,
under the lock, when no daemon owns the writes: the mounts here are -o noowner."""

import fcntl
import os
import signal
import subprocess
import threading
import time

import pytest

import famfs_harness as fh

RUN_DIR = "/run/famfs"


@pytest.fixture
def master(image):
    """A master mount whose daemon leaves the writes to famfs commands (-o noowner)."""
    h = fh.Host("master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image, None, "-o", "noowner")
        h.image = image
        yield h
    finally:
        for mpt in list(h.mounts):
            fh.cleanup_mount(mpt)


def lock_path(mpt):
    return os.path.join(RUN_DIR, fh.status(mpt)["fs_uuid"], "writer.lock")


def test_lock_is_root_only_and_keyed_by_fs_uuid(master):
    master.famfs("creat", "-s", "4k", os.path.join(master.mpt, "a"))
    path = lock_path(master.mpt)
    st = os.stat(os.path.dirname(path))
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o700
    st = os.stat(path)
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o600


def test_user_holding_flock_on_the_log_does_not_stall_creat(image):
    # issue 8 defect 4: any user allowed on the mount could flock .meta/.log and freeze
    # every master command.
    h = fh.Host("master")
    mpt = None
    try:
        h.mkfs(image)
        mpt = h.mount(image, None, "--allow-other", "-o", "noowner")
        os.chmod(mpt, 0o755)
        holder = subprocess.Popen(["runuser", "-u", "nobody", "--", "flock",
                                   os.path.join(mpt, ".meta", ".log"), "sleep", "1000"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            time.sleep(0.5)
            if holder.poll() is None:
                # It holds a flock on the log (it could open it): the old lock is taken.
                assert fh.wait_for(lambda: "FLOCK" in open("/proc/locks").read(), 5.0)
            env = dict(h.env, FAMFS_LOCK_TIMEOUT_S="10")
            t0 = time.monotonic()
            p = fh._run([fh.famfs_bin(), "creat", "-s", "4k", os.path.join(mpt, "f")], env=env,
                        check=False, timeout=60)
            assert p.returncode == 0, p.stderr
            assert "waiting" not in p.stderr
            assert time.monotonic() - t0 < 10
            assert os.stat(os.path.join(mpt, "f")).st_size == 4096
        finally:
            try:
                os.killpg(holder.pid, signal.SIGKILL)   # runuser, flock and sleep
            except ProcessLookupError:
                pass   # it could not even open .meta/.log (root-only now) and is gone
            holder.wait()
    finally:
        if mpt:
            fh.cleanup_mount(mpt)


def test_second_writer_waits_says_so_and_times_out(master):
    master.famfs("creat", "-s", "4k", os.path.join(master.mpt, "first"))
    uuid = fh.status(master.mpt)["fs_uuid"]
    fd = os.open(lock_path(master.mpt), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        env = dict(master.env, FAMFS_LOCK_TIMEOUT_S="2")
        t0 = time.monotonic()
        p = fh._run([fh.famfs_bin(), "creat", "-s", "4k", os.path.join(master.mpt, "second")],
                    env=env, check=False, timeout=60)
        took = time.monotonic() - t0
    finally:
        os.close(fd)
    assert p.returncode == 1
    assert ("famfs creat: waiting for the writer lock of file system %s (held by pid %d)"
            % (uuid, os.getpid())) in p.stderr
    assert "gave up after 2 s waiting for the writer lock of file system " + uuid in p.stderr
    assert "FAMFS_LOCK_TIMEOUT_S" in p.stderr
    assert took >= 2
    assert not os.path.exists(os.path.join(master.mpt, "second"))
    # cp and mkdir take the same lock.
    fd = os.open(lock_path(master.mpt), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        env = dict(master.env, FAMFS_LOCK_TIMEOUT_S="0")
        p = fh._run([fh.famfs_bin(), "mkdir", os.path.join(master.mpt, "d")], env=env,
                    check=False, timeout=60)
        assert p.returncode == 1 and "writer lock of file system " + uuid in p.stderr
        p = fh._run([fh.famfs_bin(), "cp", "/etc/hostname", os.path.join(master.mpt, "h")],
                    env=env, check=False, timeout=60)
        assert p.returncode == 1 and "writer lock of file system " + uuid in p.stderr
    finally:
        os.close(fd)


def test_second_writer_proceeds_when_the_first_is_done(master):
    master.famfs("creat", "-s", "4k", os.path.join(master.mpt, "first"))
    fd = os.open(lock_path(master.mpt), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    release = threading.Timer(1.8, lambda: os.close(fd))
    release.start()
    try:
        env = dict(master.env, FAMFS_LOCK_TIMEOUT_S="20")
        p = fh._run([fh.famfs_bin(), "creat", "-s", "4k", "-r", "-S", "3",
                     os.path.join(master.mpt, "second")], env=env, check=False, timeout=60)
    finally:
        release.join()
    assert p.returncode == 0, p.stderr
    assert "waiting for the writer lock of file system" in p.stderr
    master.famfs("verify", "-f", os.path.join(master.mpt, "second"), "-S", "3")
