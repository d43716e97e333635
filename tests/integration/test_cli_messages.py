"""Issue 9 defect 9: messages that name the real cause (seen as a new user would)."""

import os
import subprocess

import famfs_harness as fh


def test_creat_size_zero_says_the_size_is_zero(master):
    p = master.famfs("creat", "-s", "0", os.path.join(master.mpt, "z"), check=False)
    assert p.returncode == 1
    assert "size 0" in p.stderr and "cannot be empty" in p.stderr, p.stderr
    assert "no size" not in p.stderr
    assert not os.path.exists(os.path.join(master.mpt, "z"))


def test_status_as_another_user_names_allow_other(master):
    # The mount was made without allow_other: only root (and the mounting user) get in.
    p = subprocess.run(["runuser", "-u", "nobody", "--", fh.famfs_bin(), "status", master.mpt],
                       capture_output=True, text=True, env=master.env, timeout=60)
    assert p.returncode != 0
    assert "allow_other" in p.stderr, p.stderr
    assert "release" not in p.stderr   # not "is it running famfs-fused from this release?"
