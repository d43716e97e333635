"""Packaging: the mount.famfs helper (fstab, mount -t famfs).

The option translation is checked with a stand-in famfs that records its arguments; the real
thing is checked with util-linux mount, which runs /sbin/mount.famfs: the test installs the
built helper there for the duration of the test only (and restores whatever was there).
"""

import os
import shutil
import subprocess

import pytest

import famfs_harness as fh

HELPER = os.path.join(fh.BUILD_DIR, "packaging", "mount.famfs")


def _stub(tmp_path):
    """A fake famfs that writes its argv, one per line, to $STUB_OUT."""
    stub = tmp_path / "famfs"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$STUB_OUT"\nexit ${STUB_RC:-0}\n')
    stub.chmod(0o755)
    return stub


def _helper(tmp_path, *args, rc=0):
    out = tmp_path / "argv"
    if out.exists():
        out.unlink()
    env = dict(os.environ, FAMFS_CLI=str(_stub(tmp_path)), STUB_OUT=str(out), STUB_RC=str(rc))
    p = subprocess.run([HELPER] + list(args), env=env, capture_output=True, text=True,
                       timeout=30)
    argv = out.read_text().splitlines() if out.exists() else None
    return p, argv


@pytest.mark.parametrize("opts,flags", [
    ("defaults", ["-o", "defaults"]),
    ("rw", []),
    ("ro", ["--read-only"]),
    ("refresh_ms=5", ["--refresh-ms", "5"]),
    ("system_uuid_file=/tmp/x y", ["--system-uuid-file", "/tmp/x y"]),
    ("allow_other", ["--allow-other"]),
    ("timeout=30", ["--timeout", "30"]),
    # everything famfs mount has no flag for goes to famfs-fused as one -o list
    ("defaults,noauto,nofail,_netdev,user,x-systemd.automount,comment=x,nosuid,nodev,noatime",
     ["-o", "defaults,noauto,nofail,_netdev,user,x-systemd.automount,comment=x,nosuid,nodev,"
            "noatime"]),
    ("noexec,refresh_ms=3,nosuid", ["--refresh-ms", "3", "-o", "noexec,nosuid"]),
    ("ro,rw", []),
    ("cache=never,log_file=/tmp/l,threads=4,nodirect,debug",
     ["--cache", "never", "--log-file", "/tmp/l", "--threads", "4", "--nodirect", "--debug"]),
    ("rw,ro,refresh_ms=10,allow_other", ["--refresh-ms", "10", "--allow-other", "--read-only"]),
])
def test_options_translate(tmp_path, opts, flags):
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", "-o", opts)
    assert p.returncode == 0, p.stderr
    assert argv == ["mount"] + flags + ["/dev/dax0.0", "/mnt/famfs"]


def test_mount_style_arguments(tmp_path):
    # mount(8) style: flags after the operands, -o joined, -t with a subtype, -n, -v.
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", "-n", "-v", "-orefresh_ms=7",
                      "-t", "fuse.famfs", "-r")
    assert p.returncode == 0, p.stderr
    assert argv == ["mount", "--refresh-ms", "7", "--read-only", "/dev/dax0.0", "/mnt/famfs"]
    assert "famfs mount" in p.stderr      # -v prints the command


def test_unknown_options_go_to_the_daemon(tmp_path):
    # famfs-fused decides (and refuses, naming them: test_mount_options_refused); mount -s
    # (sloppy) asks it to ignore them instead.
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", "-o", "bogus=1")
    assert p.returncode == 0 and argv == ["mount", "-o", "bogus=1", "/dev/dax0.0", "/mnt/famfs"]
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", "-s", "-o", "bogus=1,ro")
    assert p.returncode == 0
    assert argv == ["mount", "--read-only", "-o", "sloppy,bogus=1", "/dev/dax0.0", "/mnt/famfs"]


def test_fake_and_usage_and_failure(tmp_path):
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", "-f", "-o", "ro")
    assert p.returncode == 0 and argv is None and "--read-only /dev/dax0.0 /mnt/famfs" in p.stderr
    p, argv = _helper(tmp_path, "/dev/dax0.0")
    assert p.returncode == 1 and argv is None and "usage" in p.stderr
    # A famfs mount failure is mount(8)'s "mount failure", 32.
    p, argv = _helper(tmp_path, "/dev/dax0.0", "/mnt/famfs", rc=5)
    assert p.returncode == 32


@pytest.fixture
def sbin_helper():
    """Install the built helper as /sbin/mount.famfs and mount.fuse.famfs for one test."""
    saved = {}
    names = ["/sbin/mount.famfs", "/sbin/mount.fuse.famfs"]
    try:
        for n in names:
            if os.path.lexists(n):
                saved[n] = n + ".famfs-test-saved"
                os.rename(n, saved[n])
            shutil.copy(HELPER, n)
            os.chmod(n, 0o755)
        yield
    finally:
        for n in names:
            if os.path.lexists(n):
                os.unlink(n)
            if n in saved:
                os.rename(saved[n], n)


def _mount_env():
    env = dict(os.environ)
    env["FAMFS_CLI"] = fh.famfs_bin()
    # famfs mount finds famfs-fused next to famfs, else on PATH.
    env["PATH"] = os.path.dirname(fh.fused_bin()) + ":" + env.get("PATH", "")
    env.pop("FAMFS_SYSTEM_UUID_FILE", None)
    return env


@pytest.mark.parametrize("fstype", ["famfs", "fuse.famfs"])
def test_mount_t_famfs_and_umount(sbin_helper, tmp_path, fstype):
    image = fh.make_image()
    host = fh.Host("fstab")
    mpt = str(tmp_path / "mnt")
    os.mkdir(mpt)
    try:
        host.mkfs(image)
        r = subprocess.run(["mount", "-t", fstype, "-o",
                            "defaults,nofail,refresh_ms=5,system_uuid_file=" + host.uuid_file,
                            image, mpt], env=_mount_env(), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        m = fh.mount_entry(mpt)
        assert m is not None and m["fstype"] == "fuse.famfs", m
        assert m["device"] == os.path.realpath(image)
        st = fh.status(mpt)
        assert st["role"] == "master" and st["system_uuid"] == host.uuid
        assert st["refresh_ms"] == 5
        pids = fh.daemon_pids(mpt)
        assert pids
        r = subprocess.run(["umount", mpt], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert not fh.is_mounted(mpt)
        for pid in pids:
            assert fh.wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                               open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
                               == "Z", timeout=10)
    finally:
        fh.force_unmount(mpt)
        fh.remove_image(image)


def test_fstab_line(sbin_helper, tmp_path):
    """The documented fstab line, from an alternative fstab file (mount -T FILE MPT)."""
    image = fh.make_image()
    host = fh.Host("fstab")
    mpt = str(tmp_path / "mnt")
    os.mkdir(mpt)
    fstab = tmp_path / "fstab"
    fstab.write_text("# test fstab\n%s  %s  famfs  defaults,noauto,refresh_ms=5,"
                     "system_uuid_file=%s  0 0\n" % (image, mpt, host.uuid_file))
    try:
        host.mkfs(image)
        r = subprocess.run(["mount", "-T", str(fstab), mpt], env=_mount_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert fh.status(mpt)["role"] == "master"
        r = subprocess.run(["umount", mpt], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert not fh.is_mounted(mpt)
    finally:
        fh.force_unmount(mpt)
        fh.remove_image(image)


def test_mount_read_only_client(sbin_helper, tmp_path):
    """Two hosts through mount(8): a master, and a read-only client of the same image."""
    image = fh.make_image()
    master, client = fh.Host("m"), fh.Host("c")
    mm, cm = str(tmp_path / "m"), str(tmp_path / "c")
    os.mkdir(mm)
    os.mkdir(cm)
    try:
        master.mkfs(image)
        for h, mpt, extra in ((master, mm, ""), (client, cm, ",ro")):
            r = subprocess.run(["mount", "-t", "famfs", "-o",
                                "system_uuid_file=" + h.uuid_file + extra, image, mpt],
                               env=_mount_env(), capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        assert fh.status(mm)["role"] == "master"
        cs = fh.status(cm)
        assert cs["role"] == "client" and cs["read_only"] is True
        assert "ro" in fh.mount_entry(cm)["options"].split(",")
    finally:
        for mpt in (cm, mm):
            if fh.is_mounted(mpt):
                subprocess.run(["umount", mpt], capture_output=True, timeout=60)
            fh.force_unmount(mpt)
        fh.remove_image(image)


def _mount_options(mpt):
    return set(fh.mount_entry(mpt)["options"].split(","))


def test_generic_options_reach_the_kernel_mount(sbin_helper, tmp_path):
    """noexec, nosuid, nodev, noatime, ro... are flags of the kernel mount (/proc/mounts), by
    mount(8) through the helper, and by famfs mount -o."""
    image = fh.make_image()
    master, client = fh.Host("m"), fh.Host("c")
    mm, cm = str(tmp_path / "m"), str(tmp_path / "c")
    os.mkdir(mm)
    os.mkdir(cm)
    try:
        master.mkfs(image)
        r = subprocess.run(["mount", "-t", "famfs", "-o", "noexec,nosuid,nodev,noatime,"
                            "system_uuid_file=" + master.uuid_file, image, mm],
                           env=_mount_env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        got = _mount_options(mm)
        assert {"rw", "noexec", "nosuid", "nodev", "noatime"} <= got, got
        # famfs mount -o (twice: the lists add up), on a client, read-only
        client.famfs("mount", "-o", "noexec,ro", "-o", "sync,dirsync,suid", image, cm)
        got = _mount_options(cm)
        assert {"ro", "noexec", "sync", "dirsync"} <= got and "nosuid" not in got, got
        assert fh.status(cm)["read_only"] is True
        # an executable file on a noexec mount does not run
        master.famfs("cp", "-m", "0755", "/bin/true", mm + "/true")
        with pytest.raises(PermissionError):
            subprocess.run([mm + "/true"], capture_output=True, timeout=30)
    finally:
        for mpt in (cm, mm):
            fh.force_unmount(mpt)
        fh.remove_image(image)


def test_unknown_mount_options_are_refused_by_name(sbin_helper, tmp_path):
    image = fh.make_image()
    host = fh.Host("u")
    mpt = str(tmp_path / "mnt")
    os.mkdir(mpt)
    try:
        host.mkfs(image)
        p = host.famfs("mount", "-o", "noexec,bogus=1,nonsense", image, mpt, check=False)
        assert p.returncode != 0
        assert "unknown options 'bogus', 'nonsense'" in p.stderr, p.stderr
        assert not fh.is_mounted(mpt)
        # a kernel mount flag that libfuse cannot pass: refused, saying so
        p = host.famfs("mount", "-o", "nodiratime", image, mpt, check=False)
        assert p.returncode != 0 and "'nodiratime' cannot be set on a FUSE mount" in p.stderr
        assert not fh.is_mounted(mpt)
        r = subprocess.run(["mount", "-t", "famfs", "-o", "bogus,system_uuid_file=" +
                            host.uuid_file, image, mpt], env=_mount_env(), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode != 0 and "'bogus'" in r.stderr, r.stderr
        assert not fh.is_mounted(mpt)
        # mount -s (sloppy): ignored, with a warning
        r = subprocess.run(["mount", "-s", "-t", "famfs", "-o", "bogus,nodev,system_uuid_file=" +
                            host.uuid_file, image, mpt], env=_mount_env(), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "ignoring unknown option 'bogus'" in r.stderr, r.stderr
        assert "nodev" in _mount_options(mpt)
    finally:
        fh.force_unmount(mpt)
        fh.remove_image(image)


def test_mount_failure_is_reported(sbin_helper, tmp_path):
    image = fh.make_image()      # not formatted: famfs mount must refuse
    mpt = str(tmp_path / "mnt")
    os.mkdir(mpt)
    try:
        r = subprocess.run(["mount", "-t", "famfs", image, mpt], env=_mount_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert not fh.is_mounted(mpt)
    finally:
        fh.force_unmount(mpt)
        fh.remove_image(image)
