"""One writer per file system on a host (issue 8 defect 2, CLI part): the writer lock is keyed
by the file system's UUID, so writers that reach one file system through different mounts or
device paths still take the same lock (when no daemon owns the writes: -o noowner mounts)."""

import fcntl
import os
import subprocess
import time

import pytest

import famfs_harness as fh
from test_cli_master_util import next_index


@pytest.fixture
def master(image):
    h = fh.Host("master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image, None, "-o", "noowner")
        h.image = image
        yield h
    finally:
        for mpt in list(h.mounts):
            fh.cleanup_mount(mpt)


def test_writers_through_two_paths_to_one_fs_share_the_lock(master):
    # A second path to the same image (a hard link) is refused by the mount itself (one mount
    # of a file system per host); a copy of the image (another device with the same fs UUID)
    # mounts, and its writers take the same lock (it is keyed by the UUID).
    link = master.image + ".wt-master-link"
    os.link(master.image, link)
    copy = master.image + ".wt-master-copy"
    subprocess.run(["cp", "--sparse=always", master.image, copy], check=True)
    mpt2 = None
    try:
        refused = master.mount(link, None, "-o", "noowner", check=False)
        assert not isinstance(refused, str) and refused.returncode != 0
        assert "already mounted on this host" in refused.stderr
        uuid = fh.status(master.mpt)["fs_uuid"]
        master.famfs("creat", "-s", "4k", os.path.join(master.mpt, "first"))
        lock = os.path.join("/run/famfs", uuid, "writer.lock")
        mpt2 = master.mount(copy, None, "-o", "noowner")
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)   # a writer through the first mount
            n, n2 = next_index(master.image), next_index(copy)
            env = dict(master.env, FAMFS_LOCK_TIMEOUT_S="1")
            t0 = time.monotonic()
            p = fh._run([fh.famfs_bin(), "creat", "-s", "4k", os.path.join(mpt2, "second")],
                        env=env, check=False, timeout=60)
            assert p.returncode == 1, p.stderr
            assert "writer lock of file system " + uuid in p.stderr
            assert time.monotonic() - t0 >= 1
            assert next_index(master.image) == n and next_index(copy) == n2
        finally:
            os.close(fd)
        # Free again: the writer through the second path goes ahead.
        master.famfs("creat", "-s", "4k", os.path.join(mpt2, "second"))
    finally:
        if mpt2:
            fh.cleanup_mount(mpt2)
        os.unlink(link)
        os.unlink(copy)
