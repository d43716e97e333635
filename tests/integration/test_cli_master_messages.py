"""Messages of the master commands for mistakes a user makes (issue 8 defect 10): the real
errno when the mount's daemon is gone, and sizes that cannot be a famfs file."""

import os
import signal
import time

import famfs_harness as fh
from test_cli_master_util import next_index


def test_master_commands_with_the_daemon_dead(image):
    h = fh.Host("master")
    mpt = None
    try:
        h.mkfs(image)
        mpt = h.mount(image)
        h.famfs("mkdir", os.path.join(mpt, "d"))
        n = next_index(image)
        for pid in fh.daemon_pids(mpt):
            os.kill(pid, signal.SIGKILL)
        assert fh.wait_for(lambda: not fh.daemon_pids(mpt), 5.0)
        time.sleep(0.2)
        want = ("the famfs daemon of %s is not running; famfs umount %s, then mount again"
                % (mpt, mpt))
        for args in (["creat", "-s", "4k", os.path.join(mpt, "x")],
                     ["creat", "-s", "4k", os.path.join(mpt, "d", "x")],
                     ["mkdir", os.path.join(mpt, "e")],
                     ["mkdir", "-p", os.path.join(mpt, "d", "e", "f")],
                     ["cp", "/etc/hostname", mpt + "/"],
                     ["cp", "/etc/hostname", os.path.join(mpt, "d", "h")],
                     ["check", mpt]):
            p = h.famfs(*args, check=False)
            assert p.returncode == 1, (args, p.stderr)
            assert want in p.stderr, (args, p.stderr)
            assert "not a directory" not in p.stderr
        assert next_index(image) == n   # nothing was appended
    finally:
        if mpt:
            fh.cleanup_mount(mpt)


def test_creat_size_too_large_is_refused_not_wrapped(master):
    n = next_index(master.image)
    f = os.path.join(master.mpt, "y")
    for size in ("18446744073709551615", "0xffffffffffe00001", "9223372036854775808"):
        p = master.famfs("creat", "-s", size, f, check=False)
        assert p.returncode == 1
        assert "too large" in p.stderr, p.stderr
        assert "needs 0 bytes" not in p.stderr
    p = master.famfs("creat", "-M", f + ",18446744073709551615", check=False)
    assert p.returncode == 1 and "too large" in p.stderr
    assert next_index(master.image) == n and not os.path.exists(f)
    # The largest size that is merely out of space still says so.
    p = master.famfs("creat", "-s", "9223372036854775807", f, check=False)
    assert p.returncode == 1 and "out of space" in p.stderr
