"""Issue 8 defect 1: a refused mount never tears down the mount that was already there, and a
dead mount (daemon killed) is reported with what to do, never detached silently."""

import os
import signal

import pytest

import famfs_harness as fh


def _alive_and_serving(h, mpt, pids):
    assert fh.is_mounted(mpt)
    assert fh.daemon_pids(mpt) == pids and all(fh._pid_alive(p) for p in pids)
    assert os.path.isdir(os.path.join(mpt, ".meta"))
    assert fh.status(mpt)["role"] in ("master", "client")


# (mount -t famfs runs the same 'famfs mount' through the mount.famfs helper.)
@pytest.mark.parametrize("how", ["same host", "other identity"])
def test_second_mount_on_the_same_mountpoint_keeps_the_first(master, how):
    mpt = master.mpt
    h = master if how != "other identity" else fh.Host("other")
    pids = fh.daemon_pids(mpt)
    p = h.famfs("mount", master.image, mpt, check=False)
    assert p.returncode != 0
    assert mpt in p.stderr and "already" in p.stderr, p.stderr
    _alive_and_serving(master, mpt, pids)


def test_mount_over_a_dead_mount_says_so_and_keeps_it(master):
    mpt = master.mpt
    pid = fh.daemon_pids(mpt)[0]
    os.kill(pid, signal.SIGKILL)
    assert fh.wait_for(lambda: not fh._pid_alive(pid), timeout=5)
    p = master.famfs("mount", master.image, mpt, check=False)
    assert p.returncode != 0
    assert "not running" in p.stderr and "famfs umount " + mpt in p.stderr, p.stderr
    assert fh.is_mounted(mpt), "the dead mount was detached silently"
    master.umount(mpt)
    assert not fh.is_mounted(mpt)
