"""Root's commands trust only fuse.famfs mounts made by root (or by the caller), the rule
libfamfs applies (FAMFS_EUNTRUSTED): a mount made by an ordinary user can name any device, and
must not steer root's famfs cp/creat into appending to it (issue 8 defect 3)."""

import os
import pwd
import subprocess
import tempfile

import famfs_harness as fh
from test_cli_master_util import next_index


def user_mount(h, image, uid):
    """Mount `image` as a master whose mount records user_id=uid (the daemon runs with that
    real uid, as a user's own FUSE mount would), with allow_other so root can reach it."""
    mpt = tempfile.mkdtemp(prefix="famfs-mpt-user-")
    fh._mounts.append(mpt)
    os.chown(mpt, uid, 0)
    p = subprocess.run(["setpriv", "--ruid", str(uid), "--", fh.famfs_bin(), "mount",
                        "--allow-other", image, mpt],
                       env=h.env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "user_id=%d," % uid in fh.mount_entry(mpt)["options"]
    return mpt


def test_root_refuses_a_mount_made_by_another_user(image):
    nobody = pwd.getpwnam("nobody").pw_uid
    h = fh.Host("master")
    h.mkfs(image)
    fh.append(image, "file", "f", "--size", "4096", "--seed", "5")
    mpt = user_mount(h, image, nobody)
    try:
        n = next_index(image)
        want = "the famfs mount at %s was made by uid %d, not by root" % (mpt, nobody)
        for args in (["creat", "-s", "4k", os.path.join(mpt, "x")],
                     ["mkdir", os.path.join(mpt, "d")],
                     ["cp", "/etc/hostname", os.path.join(mpt, "h")],
                     ["clone", os.path.join(mpt, "f"), os.path.join(mpt, "g")],
                     ["status", mpt],
                     ["flush", os.path.join(mpt, "f")],
                     ["chkread", os.path.join(mpt, "f")],
                     ["getmap", os.path.join(mpt, "f")]):
            p = h.famfs(*args, check=False)
            assert p.returncode != 0, (args, p.stdout, p.stderr)
            assert want in p.stderr, (args, p.stderr)
        assert next_index(image) == n   # nothing was appended through it
    finally:
        fh.cleanup_mount(mpt)
    # The same image mounted by root is trusted as before.
    mpt = h.mount(image)
    h.famfs("creat", "-s", "4k", os.path.join(mpt, "x"))
    h.famfs("status", mpt)
