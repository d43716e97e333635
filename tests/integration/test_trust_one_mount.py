"""One mount of a file system per host (issue 8 defect 2, mount side): a device is known by
what it is (an image's st_dev/st_ino, a device node's major:minor) and the fs UUID it holds,
not by the path that names it. `famfs mount` refuses a second mount of a file system this host
(this identity) already has mounted, under any name, naming the mount that has it; famfs-fused
refuses the same at start, for the starts that do not go through `famfs mount`
(famfs@.service runs `famfs-service start`, which execs famfs-fused). Other simulated hosts
(their own identity file) still mount it: that is how a master and its clients share one
machine in these tests."""

import os
import subprocess
import tempfile

import pytest

import famfs_harness as fh

WT = "wt-trust"


def refused(p, existing_mpt):
    assert not isinstance(p, str), "a second mount of one file system was made at " + p
    assert p.returncode != 0
    assert "which is already mounted on this host at " + existing_mpt in p.stderr, p.stderr
    assert "famfs umount " + existing_mpt in p.stderr, p.stderr


def serving(h, mpt, pids):
    assert fh.is_mounted(mpt) and fh.daemon_pids(mpt) == pids
    assert fh.status(mpt)["role"] in ("master", "client")


@pytest.fixture
def aliases(master):
    """Other names of the master's image; each is removed at the end."""
    made, binds = [], []

    def make(how):
        img = master.image
        if how == "hard link":
            p = img + "." + WT + "-link"
            os.link(img, p)
        elif how == "symlink":
            p = img + "." + WT + "-sym"
            os.symlink(img, p)
        elif how == "bind mount":
            p = img + "." + WT + "-bind"
            open(p, "wb").close()
            subprocess.run(["mount", "--bind", img, p], check=True)
            binds.append(p)
            return p
        elif how == "renamed":
            p = img + "." + WT + "-moved"
            os.rename(img, p)          # the first daemon's path now names nothing
            made.append((p, img))
            return p
        made.append((p, None))
        return p

    yield make
    for p, back in made:
        if back:
            os.rename(p, back)
        else:
            os.unlink(p)
    for p in binds:
        subprocess.run(["umount", "-l", p], check=False)
        os.unlink(p)


@pytest.mark.parametrize("how", ["hard link", "symlink", "bind mount", "renamed"])
def test_second_master_mount_by_another_name_is_refused(master, aliases, how):
    pids = fh.daemon_pids(master.mpt)
    other = aliases(how)
    p = master.mount(other, None, check=False)
    refused(p, master.mpt)
    assert "role master" in p.stderr
    if how == "renamed":
        assert "names no device now" in p.stderr, p.stderr
    else:
        assert "the same image file (inode %d" % os.stat(other).st_ino in p.stderr, p.stderr
    assert fh.daemon_pids(master.mpt) == pids
    serving(master, master.mpt, pids)
    # read-only is no way around it either
    refused(master.mount(other, None, "--read-only", check=False), master.mpt)


def test_client_host_mounts_once_and_other_hosts_still_mount(master, client, aliases):
    link = aliases("hard link")
    pids = fh.daemon_pids(client.mpt)
    # a client host: its second mount of the file system is refused as well (chosen: one
    # mount per file system per host, whatever the role; a bind mount gives a second path)
    p = client.mount(link, None, check=False)
    refused(p, client.mpt)
    assert "role client" in p.stderr
    serving(client, client.mpt, pids)
    # a third host (its own identity) mounts it through the link: a client
    third = fh.Host("third")
    mpt = third.mount(link)
    assert fh.status(mpt)["role"] == "client"


def test_famfs_fused_started_directly_refuses(master, aliases):
    """As famfs-service start does (exec famfs-fused -f ... DEVICE MOUNTPOINT)."""
    link = aliases("hard link")
    mpt = tempfile.mkdtemp(prefix="famfs-%s-direct-" % WT)
    fh._mounts.append(mpt)
    try:
        p = subprocess.run([fh.fused_bin(), "-f", "-o", "system_uuid_file=" + master.uuid_file,
                            link, mpt], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert not fh.is_mounted(mpt)
        assert "which is already mounted on this host at " + master.mpt in p.stderr, p.stderr
    finally:
        fh.cleanup_mount(mpt)
    serving(master, master.mpt, fh.daemon_pids(master.mpt))


def test_a_copy_is_another_file_system_on_the_host(master):
    """A copy of the image holds the same fs UUID but other memory: it mounts, but its writers
    share the writer lock of that UUID (docs/design.md "One writer per host"): the original's
    daemon owns it, so the copy mounts only with -o noowner, and a famfs command on the copy
    is refused (it would reach the original's daemon) with nothing appended to either log."""
    copy = master.image + "." + WT + "-copy"
    subprocess.run(["cp", "--sparse=always", master.image, copy], check=True)
    try:
        p = master.mount(copy, None, check=False)
        assert not isinstance(p, str) and p.returncode != 0
        assert "writer.lock is held by pid" in p.stderr + master.daemon_log(list(master.logs)[-1])
        mpt = master.mount(copy, None, "-o", "noowner")
        assert fh.status(mpt)["fs_uuid"] == fh.status(master.mpt)["fs_uuid"]
        before = (fh.status(master.mpt)["entries_used"], fh.status(mpt)["entries_used"])
        r = master.famfs("creat", "-s", "4k", os.path.join(mpt, "x"), check=False)
        assert r.returncode != 0 and "a copy of the image?" in r.stderr, r.stderr
        fh.logplay(master.mpt)
        assert (fh.status(master.mpt)["entries_used"], fh.status(mpt)["entries_used"]) == before
        fh.cleanup_mount(mpt)
    finally:
        os.unlink(copy)


def test_a_dead_mount_does_not_block_and_is_named(master, aliases):
    """A mount whose daemon is gone cannot write: the new mount goes ahead; the daemon logs
    the one it ignored."""
    link = aliases("hard link")
    pid = fh.daemon_pids(master.mpt)[0]
    os.kill(pid, 9)
    assert fh.wait_for(lambda: not fh._pid_alive(pid), timeout=5)
    mpt = master.mount(link)
    assert fh.status(mpt)["role"] == "master"
    assert master.mpt + " (famfs, of " in master.daemon_log(mpt)
    assert "does not answer" in master.daemon_log(mpt)
    fh.cleanup_mount(mpt)


@pytest.mark.parametrize("how", ["hard link", "bind mount"])
def test_mkfs_and_fsck_know_a_mounted_image_by_another_name(master, aliases, how):
    """mkfs -f through another name of a mounted image would reformat it under its daemon;
    fsck of it checks a device that is changing (upstream: EBUSY, fsck the mount point)."""
    other = aliases(how)
    p = master.mkfs(other, "-f", check=False)
    assert p.returncode != 0
    assert "is mounted at " + master.mpt in p.stderr, p.stderr
    assert fh.status(master.mpt)["damaged"] is False
    p = master.famfs("fsck", other, check=False)
    assert p.returncode == 16, p.stdout + p.stderr
    assert "is mounted at " + master.mpt in p.stderr
