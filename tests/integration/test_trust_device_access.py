"""Issue 8 defect 9, device side: an image made with truncate is 0644, so every user reads every
file's data straight from it, whatever the files' modes say. mkfs.famfs and famfs mount warn
when users other than root can read or write the device (mode bits and owner) and say what to
do; it is a warning, not an error. With the mode fixed, no other user gets at the data."""

import os
import subprocess

import pytest

import famfs_harness as fh



def data_offset(path):
    """The device offset of the file's first extent (user.famfs.fmap, design.md)."""
    lines = fh.getxattr(path, "user.famfs.fmap").splitlines()
    assert lines[2].startswith("simple"), lines
    return int(lines[3].split()[0], 16)


def as_nobody(argv):
    return subprocess.run(["runuser", "-u", "nobody", "--"] + argv, capture_output=True)


def warning_lines(p, prog):
    return [ln for ln in p.stderr.splitlines() if ln.startswith(prog + ": warning: ")]


@pytest.mark.parametrize("mode,owner,who", [
    (0o644, 0, "every user can read it (mode 0644, owner uid 0"),
    (0o666, 0, "every user can read and write it (mode 0666"),
    (0o640, 0, "the members of group 0 can read it (mode 0640"),
    (0o600, 65534, "its owner, uid 65534, can read and write it (mode 0600, owner uid 65534"),
])
def test_mkfs_and_mount_warn_when_others_can_reach_the_image(image, mode, owner, who):
    h = fh.Host("m9dev")
    os.chown(image, owner, 0)
    os.chmod(image, mode)
    p = h.mkfs(image)
    w = warning_lines(p, "mkfs.famfs")
    assert len(w) == 1, p.stderr
    assert image + " is open to users other than root: " + who in w[0]
    assert "read every file's data straight from it" in w[0]
    assert ("change any file and the log" in w[0]) == bool(mode & 0o022 or owner), w[0]
    assert "run 'chmod 600 " + image + "'" in w[0]
    assert ("chown root:root " + image in w[0]) == (owner != 0)
    mpt = h.mount(image)                       # a warning, not an error
    try:
        p = h.famfs("umount", mpt)
        p = h.famfs("mount", image, mpt)
        w = warning_lines(p, "famfs mount")
        assert len(w) == 1 and "run 'chmod 600 " + image + "'" in w[0], p.stderr
        assert fh.status(mpt)["role"] == "master"
    finally:
        fh.cleanup_mount(mpt)


def test_no_warning_for_a_root_only_image_and_no_data_for_others(image):
    h = fh.Host("m9ok")
    os.chmod(image, 0o600)
    p = h.mkfs(image)
    assert "warning" not in p.stderr, p.stderr
    mpt = h.mount(image, None, "--allow-other")
    try:
        os.chmod(mpt, 0o755)
        h.famfs("creat", "-s", "64k", "-r", "-S", "7", "-m", "0600", os.path.join(mpt, "private"))
        secret = fh.pattern(7, 4096)
        off = data_offset(os.path.join(mpt, "private"))
        with open(image, "rb") as f:      # root sees the data in the image
            assert os.pread(f.fileno(), 4096, off) == secret
        # another user: neither through the mount (mode 0600) nor through the image
        r = as_nobody(["head", "-c", "4096", os.path.join(mpt, "private")])
        assert r.returncode != 0 and b"Permission denied" in r.stderr
        r = as_nobody(["dd", "if=" + image, "bs=4096", "skip=%d" % (off // 4096),
                       "count=1", "status=none"])
        assert r.returncode != 0 and b"Permission denied" in r.stderr
        assert secret not in r.stdout
    finally:
        fh.cleanup_mount(mpt)


def test_the_leak_the_warning_is_about(image):
    """What mkfs warns about is real: with a 0644 image, another user reads a 0600 file's data
    from the image (this is why the warning says chmod 600)."""
    h = fh.Host("m9leak")
    os.chmod(image, 0o644)
    assert "chmod 600" in h.mkfs(image).stderr
    mpt = h.mount(image)
    try:
        h.famfs("creat", "-s", "64k", "-r", "-S", "8", "-m", "0600", os.path.join(mpt, "private"))
        off = data_offset(os.path.join(mpt, "private"))
        r = as_nobody(["dd", "if=" + image, "bs=4096", "skip=%d" % (off // 4096),
                       "count=1", "status=none"])
        assert r.returncode == 0 and r.stdout == fh.pattern(8, 4096)
    finally:
        fh.cleanup_mount(mpt)
