"""Mount/umount life cycle, refusals, crashes, a damaged log."""

import os
import signal
import subprocess
import tempfile
import time

import pytest

import famfs_harness as fh


def _cleanup(h):
    for m in list(h.mounts):
        fh.cleanup_mount(m)


def test_umount_mount_keeps_everything(master):
    fh.append(master.image, "mkdir", "keep")
    fh.append(master.image, "file", "keep/f", "--size", 3 * fh.MiB, "--seed", 1234)
    fh.logplay(master.mpt)
    p = os.path.join(master.mpt, "keep/f")
    ino = os.stat(p).st_ino
    with open(p, "r+b") as f:
        f.seek(100)
        f.write(b"persisted")
    pids = fh.daemon_pids(master.mpt)
    assert len(pids) == 1
    master.umount(master.mpt)
    assert not fh.is_mounted(master.mpt)
    assert fh.wait_for(lambda: not fh.daemon_pids(master.mpt), timeout=5)
    mpt = master.mount(master.image)
    q = os.path.join(mpt, "keep/f")
    assert os.stat(q).st_ino == ino
    with open(q, "rb") as f:
        data = f.read()
    want = bytearray(fh.pattern(1234, 3 * fh.MiB))
    want[100:109] = b"persisted"
    assert data == bytes(want)


def test_plain_umount_and_fusermount_stop_daemon(master):
    mpt = master.mpt
    pids = fh.daemon_pids(mpt)
    subprocess.run(["umount", mpt], check=True)
    assert fh.wait_for(lambda: not any(os.path.exists("/proc/%d" % p) and
                                       fh._pid_alive(p) for p in pids), timeout=5)
    mpt2 = master.mount(master.image)
    pids = fh.daemon_pids(mpt2)
    subprocess.run(["fusermount3", "-u", mpt2], check=True)
    assert fh.wait_for(lambda: not any(fh._pid_alive(p) for p in pids), timeout=5)
    assert not fh.is_mounted(mpt2)


def test_sigterm_unmounts(master):
    pids = fh.daemon_pids(master.mpt)
    os.kill(pids[0], signal.SIGTERM)
    assert fh.wait_for(lambda: not fh.is_mounted(master.mpt), timeout=5)
    assert fh.wait_for(lambda: not fh._pid_alive(pids[0]), timeout=5)


def test_sigkill_leaves_mount_that_famfs_umount_cleans(master):
    pids = fh.daemon_pids(master.mpt)
    os.kill(pids[0], signal.SIGKILL)
    assert fh.wait_for(lambda: not fh._pid_alive(pids[0]), timeout=5)
    assert fh.is_mounted(master.mpt)
    with pytest.raises(OSError):
        os.listdir(master.mpt)            # ENOTCONN
    master.umount(master.mpt)
    assert not fh.is_mounted(master.mpt)
    # and the image mounts again on the same mount point
    mpt = master.mount(master.image, master.mpt)
    assert mpt == master.mpt and os.path.isdir(os.path.join(mpt, ".meta"))


def test_foreground_daemon(image):
    h = fh.Host("fg")
    h.mkfs(image)
    mpt = tempfile.mkdtemp(prefix="famfs-mpt-fg-")
    fh._dirs.append(mpt)
    fh._mounts.append(mpt)
    proc = subprocess.Popen([fh.fused_bin(), "-f", "-o", "system_uuid_file=" + h.uuid_file,
                             image, mpt], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert fh.wait_for(lambda: fh.is_mounted(mpt), timeout=10)
        assert fh.wait_for(lambda: os.path.isdir(os.path.join(mpt, ".meta")), timeout=10)
        assert proc.poll() is None
        subprocess.run(["umount", mpt], check=True)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        fh.cleanup_mount(mpt)


def _ours(image, mpt):
    # only our image and mount point: other tests (other areas) mount in parallel
    dev = os.path.realpath(image)
    return [m for m in fh.famfs_mounts()
            if m["device"] == dev or m["mountpoint"] == os.path.realpath(mpt)]


def _refused(h, image, mpt, *opts):
    before = _ours(image, mpt)
    p = h.mount(image, mpt, *opts, check=False)
    assert not isinstance(p, str), "mount unexpectedly succeeded"
    assert p.returncode != 0
    assert _ours(image, mpt) == before
    assert not fh.daemon_pids(mpt)
    return p.stderr


def test_bad_devices_refused(image):
    h = fh.Host("bad")
    try:
        mpt = tempfile.mkdtemp(prefix="famfs-mpt-bad-")
        fh._dirs.append(mpt)
        err = _refused(h, image, mpt)                      # no superblock
        assert "superblock" in err
        err = _refused(h, "/dev/shm/does-not-exist.img", mpt)
        assert "does-not-exist" in err
        d = tempfile.mkdtemp(prefix="famfs-notadev-")
        fh._dirs.append(d)
        err = _refused(h, d, mpt)
        assert "directory" in err
        h.mkfs(image)
        with open(image, "r+b") as f:                        # damage the superblock CRC
            f.seek(48)
            b = f.read(1)
            f.seek(48)
            f.write(bytes([b[0] ^ 0xFF]))
        err = _refused(h, image, mpt)
        assert "superblock" in err
    finally:
        _cleanup(h)


def test_bad_mountpoints_refused(image):
    h = fh.Host("badmpt")
    h.mkfs(image)
    try:
        d = tempfile.mkdtemp(prefix="famfs-mpt-full-")
        fh._dirs.append(d)
        open(os.path.join(d, "x"), "w").close()
        assert "not empty" in _refused(h, image, d)
        f = os.path.join(d, "x")
        assert "not a directory" in _refused(h, image, f)
        assert "No such file" in _refused(h, image, os.path.join(d, "missing"))
    finally:
        _cleanup(h)


def test_nofuse_refused_and_ignored_flags(image):
    h = fh.Host("flags")
    h.mkfs(image)
    try:
        mpt = tempfile.mkdtemp(prefix="famfs-mpt-fl-")
        fh._dirs.append(mpt)
        assert "FUSE only" in _refused(h, image, mpt, "-F")
        p = h.famfs("mount", "--log-file", os.path.join(h.dir, "l.log"), "-p", "-S", "/x",
                    "-f", "-v", "-t", "30", image, mpt)
        h.mounts.append(mpt)
        fh._mounts.append(mpt)
        assert "default_permissions is always on" in p.stderr
        assert "shadow" in p.stderr
        assert fh.is_mounted(mpt)
        # -R on a live mount: just a replay
        fh.append(image, "file", "r", "--size", 4096)
        h.famfs("mount", "-R", image, mpt)
        assert os.path.exists(os.path.join(mpt, "r"))
    finally:
        _cleanup(h)


def test_damaged_log_serves_prefix(image):
    h = fh.Host("dmg")
    h.mkfs(image)
    fh.append(image, "mkdir", "ok")
    fh.append(image, "file", "ok/one", "--size", 4096, "--seed", 1)
    fh.append(image, "file", "bad", "--size", 4096)
    fh.append(image, "file", "after", "--size", 4096)
    fh.append(image, "corrupt", 2)
    try:
        mpt = h.mount(image)
        assert sorted(os.listdir(mpt)) == [".meta", "ok"]
        with open(os.path.join(mpt, "ok/one"), "rb") as f:
            assert f.read() == fh.pattern(1, 4096)
        st = fh.status(mpt)
        assert st["damaged"] is True and st["damage_index"] == 2
        assert st["damage_reason"]
        assert "LOG DAMAGED at entry 2" in h.daemon_log(mpt)
        p = h.famfs("logplay", mpt, check=False)
        assert p.returncode == 1
        assert "damaged at entry 2" in p.stdout
    finally:
        _cleanup(h)


def test_mount_is_ready_on_return(image):
    h = fh.Host("ready")
    h.mkfs(image)
    fh.append(image, "bulk", "d", 500)
    try:
        for _ in range(3):
            mpt = h.mount(image)
            # no waiting: files are visible as soon as famfs mount returns
            assert len(os.listdir(os.path.join(mpt, "d"))) == 500
            h.umount(mpt)
    finally:
        _cleanup(h)


def test_cache_and_allow_other_options(image):
    h = fh.Host("opts")
    h.mkfs(image)
    try:
        m1 = h.mount(image, None, "-c", "never", "--allow-other")
        assert "allow_other" in fh.mount_entry(m1)["options"]
        fh.append(image, "file", "f", "--size", 4096)
        assert fh.wait_for(lambda: os.path.exists(os.path.join(m1, "f")), timeout=2)
        p = h.famfs("mount", "-t", "5", "-c", "never", image, m1, check=False)
        assert p.returncode != 0 and "exclude" in p.stderr
    finally:
        _cleanup(h)


def test_daemon_usage_errors(image):
    p = subprocess.run([fh.fused_bin(), "-h"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: famfs-fused" in p.stdout
    p = subprocess.run([fh.fused_bin(), "-o", "bogus=1", image, "/tmp"], capture_output=True,
                       text=True)
    assert p.returncode != 0 and "unknown option 'bogus'" in p.stderr
    p = subprocess.run([fh.fused_bin(), image], capture_output=True, text=True)
    assert p.returncode != 0 and "DEVICE and MOUNTPOINT" in p.stderr


def test_umount_busy_and_lazy(master):
    fh.append(master.image, "file", "held", "--size", 4096)
    fh.logplay(master.mpt)
    pids = fh.daemon_pids(master.mpt)
    f = open(os.path.join(master.mpt, "held"), "rb")
    try:
        p = master.famfs("umount", master.mpt, check=False)
        assert p.returncode != 0 and "busy" in p.stderr.lower()
        assert fh.is_mounted(master.mpt)
        master.famfs("umount", "-l", master.mpt)
        assert not fh.is_mounted(master.mpt)
        assert f.read(16) is not None          # the open file still works after detaching
    finally:
        f.close()
    assert fh.wait_for(lambda: not any(fh._pid_alive(p) for p in pids), timeout=10)
