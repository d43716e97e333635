"""The daemon's transports (-o transport=dev|uring|auto): FUSE-over-io_uring when the kernel
offers it, /dev/fuse otherwise, and the fallback when the fuse module's enable_uring is off.

The parameter is changed only under uring_param's host-wide lock and put back afterwards;
the whole daemon suite also runs once with the ring (run_uring.py, meson integration-uring).
"""

import os
import subprocess

import pytest

import famfs_harness as fh
import uring_param

needs_param = pytest.mark.skipif(not uring_param.available(),
                                 reason="no writable %s (kernel < 6.14 or not root)"
                                 % uring_param.PARAM)


def _host(name, transport_env=None):
    h = fh.Host(name)
    h.env.pop("FAMFS_TRANSPORT", None)      # this test chooses the transport itself
    if transport_env:
        h.env["FAMFS_TRANSPORT"] = transport_env
    return h


def _mount(h, image, param, *opts):
    """Mount with the parameter at `param` while INIT and the ring registration happen."""
    with uring_param.setting(param):
        mpt = h.mount(image, None, *opts)
        fh.status(mpt)   # the first request after INIT: the ring (if any) is registered
    return mpt


def _exercise(h, image, mpt, seed):
    """Reads, writes, lookups, readdir and notifications through the mount; checks the bytes."""
    size = 3 * fh.MiB + 5
    fh.append(image, "mkdir", "t%d" % seed)
    fh.append(image, "file", "t%d/f" % seed, "--size", size, "--seed", seed)
    # a name appended behind the daemon's back: found by the poller, invalidated through
    # /dev/fuse (notifications never use the ring)
    path = os.path.join(mpt, "t%d/f" % seed)
    assert fh.wait_for(lambda: os.path.exists(path), timeout=10)
    want = fh.pattern(seed, size)
    with open(path, "rb") as f:
        assert f.read() == want
    fd = os.open(path, os.O_RDWR)
    try:
        for off in (0, 4096 * 7 + 3, fh.MiB - 2, size - 10):
            assert os.pwrite(fd, b"ring-%d" % off, off) == min(len(b"ring-%d" % off), size - off)
        big = bytes(range(256)) * 4096   # 1 MiB: one full ring payload
        assert os.pwrite(fd, big, fh.MiB) == len(big)
        assert os.pread(fd, len(big), fh.MiB) == big
        os.fsync(fd)
    finally:
        os.close(fd)
    assert sorted(os.listdir(os.path.join(mpt, "t%d" % seed))) == ["f"]
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mpt, "t%d/none" % seed))


@needs_param
def test_ring_serves_the_mount(image):
    h = _host("ring")
    h.mkfs(image)
    mpt = _mount(h, image, "Y", "-o", "transport=uring")
    st = fh.status(mpt)
    assert st["transport"] == "uring", h.daemon_log(mpt)
    assert "FUSE transport: io_uring" in h.daemon_log(mpt)
    before = fh.debug_counters(mpt)["uring_requests"]
    _exercise(h, image, mpt, 21)
    after = fh.debug_counters(mpt)["uring_requests"]
    assert after - before >= 20, (before, after)   # the requests above came through the ring
    h.umount(mpt)
    assert not fh.is_mounted(mpt)


@needs_param
def test_fallback_when_parameter_off(image):
    h = _host("fallback")
    h.mkfs(image)
    mpt = _mount(h, image, "N", "-o", "transport=uring")
    st = fh.status(mpt)
    assert st["transport"] == "dev" and st["debug"]["uring_requests"] == 0
    log = h.daemon_log(mpt)
    assert "does not offer FUSE-over-io_uring" in log and "enable_uring is off" in log, log
    _exercise(h, image, mpt, 22)
    assert fh.debug_counters(mpt)["uring_requests"] == 0
    h.umount(mpt)


@needs_param
def test_default_and_auto(image):
    """The default stays /dev/fuse even when the kernel offers the ring; auto takes it."""
    h = _host("default")
    h.mkfs(image)
    mpt = _mount(h, image, "Y")
    assert fh.status(mpt)["transport"] == "dev"
    h.umount(mpt)
    mpt = _mount(h, image, "Y", "-o", "transport=auto")
    assert fh.status(mpt)["transport"] == "uring"
    h.umount(mpt)
    mpt = _mount(h, image, "N", "-o", "transport=auto")
    assert fh.status(mpt)["transport"] == "dev"
    assert "transport=auto" in h.daemon_log(mpt)
    h.umount(mpt)
    # $FAMFS_TRANSPORT is the default of the option
    h2 = _host("env", transport_env="uring")
    mpt = _mount(h2, image, "Y")
    assert fh.status(mpt)["transport"] == "uring"
    h2.umount(mpt)


def test_bad_transport_refused(image, tmp_path):
    for argv, env in ((["-o", "transport=rdma"], None), ([], "bogus")):
        e = dict(os.environ)
        e.pop("FAMFS_TRANSPORT", None)
        if env:
            e["FAMFS_TRANSPORT"] = env
        p = subprocess.run([fh.fused_bin(), "-f"] + argv + [image, str(tmp_path)],
                           capture_output=True, text=True, env=e)
        assert p.returncode == 1
        assert "must be dev, uring or auto" in p.stderr
        assert not fh.is_mounted(str(tmp_path))
