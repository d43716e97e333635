"""Create through the master's mount with ordinary tools (docs/native-create.md): mkdir(2),
cp -r, tar -x, rsync -a (temp file + rename after close), python writes, dd conv=fsync,
fallocate then write, mkdir -p. Each tree must diff equal on the master, on a client, and
after a remount, and famfs fsck must be clean."""

import os
import stat

import pytest

import create_helpers as ch
import famfs_harness as fh


@pytest.fixture
def pair(image):
    """A master whose daemon owns the writer, and a client of the same image."""
    with ch.master_and_client(image) as mc:
        yield mc


@pytest.fixture
def src_tree():
    d = ch.scratch_dir("src")
    root = ch.make_tree(os.path.join(d, "tree"))
    yield root
    ch.rmtree(d)


def check_everywhere(m, c, rel, want):
    """The tree at `rel` is `want` on the master (all committed), on the client, after a
    remount of the master; fsck is clean."""
    mroot = os.path.join(m.mpt, rel)
    assert fh.wait_for(lambda: ch.all_committed(mroot), timeout=20, interval=0.05)
    assert ch.tree_digest(mroot) == want
    assert ch.wait_tree(os.path.join(c.mpt, rel), want) == want
    ch.fsck_clean(m, m.mpt)
    m.umount(m.mpt)
    m.mpt = m.mount(m.image, None, *ch.OWNER)
    assert ch.tree_digest(os.path.join(m.mpt, rel)) == want


def test_mkdir_appends_a_mkdir_entry(pair):
    m, c = pair
    old = os.umask(0o027)
    try:
        os.mkdir(os.path.join(m.mpt, "d"), 0o775)
    finally:
        os.umask(old)
    st = os.stat(os.path.join(m.mpt, "d"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert st.st_uid == os.getuid()
    with pytest.raises(FileExistsError):
        os.mkdir(os.path.join(m.mpt, "d"))
    cd = os.path.join(c.mpt, "d")
    assert fh.wait_for(lambda: os.path.isdir(cd), timeout=5)
    assert stat.S_IMODE(os.stat(cd).st_mode) == 0o750
    ch.run(["mkdir", "-p", os.path.join(m.mpt, "a/b/c")])
    assert fh.wait_for(lambda: os.path.isdir(os.path.join(c.mpt, "a/b/c")), timeout=5)
    # Not under .meta, not on a client (today's refusal).
    with pytest.raises(PermissionError):
        os.mkdir(os.path.join(m.mpt, ".meta/x"))
    with pytest.raises(PermissionError):
        os.mkdir(os.path.join(c.mpt, "e"))
    ch.fsck_clean(m, m.mpt)


def test_cp_r(pair, src_tree):
    m, c = pair
    ch.run(["cp", "-r", src_tree, os.path.join(m.mpt, "cp")])
    check_everywhere(m, c, "cp", ch.tree_digest(src_tree))


def test_tar_x(pair, src_tree):
    m, c = pair
    d = ch.scratch_dir("tar")
    try:
        tarball = os.path.join(d, "t.tar")
        ch.run(["tar", "-cf", tarball, "-C", os.path.dirname(src_tree), "tree"])
        os.mkdir(os.path.join(m.mpt, "tar"))
        ch.run(["tar", "-xf", tarball, "-C", os.path.join(m.mpt, "tar")])
    finally:
        ch.rmtree(d)
    check_everywhere(m, c, "tar/tree", ch.tree_digest(src_tree))


def test_rsync_a_temp_and_rename(pair, src_tree):
    m, c = pair
    ch.run(["rsync", "-a", src_tree + "/", os.path.join(m.mpt, "rs") + "/"])
    want = ch.tree_digest(src_tree)
    check_everywhere(m, c, "rs", want)
    # rsync -a kept the modes (set after close, before the commit).
    for rel, v in want.items():
        if v is not None:
            a = os.stat(os.path.join(src_tree, rel)).st_mode
            b = os.stat(os.path.join(c.mpt, "rs", rel)).st_mode
            assert stat.S_IMODE(a) & 0o555 == stat.S_IMODE(b) & 0o555, rel
    # No temp file was committed.
    assert not [n for n in os.listdir(os.path.join(m.mpt, "rs")) if n.startswith(".")]


def test_python_dd_fallocate(pair):
    m, c = pair
    os.mkdir(os.path.join(m.mpt, "w"))
    data = os.urandom(3 * ch.MiB + 5)
    p = os.path.join(m.mpt, "w/py.bin")
    with open(p, "wb") as f:               # python: many small writes
        for i in range(0, len(data), 4096):
            f.write(data[i:i + 4096])
    src = os.path.join(ch.scratch_dir("dd"), "src.bin")
    with open(src, "wb") as f:
        f.write(data)
    ch.run(["dd", "if=" + src, "of=" + os.path.join(m.mpt, "w/dd.bin"), "bs=64k",
            "conv=fsync", "status=none"])
    fa = os.path.join(m.mpt, "w/fa.bin")
    ch.run(["fallocate", "-l", str(len(data)), fa])
    with open(fa, "r+b") as f:
        f.write(data)
    sp = os.path.join(m.mpt, "w/sparse.bin")  # a hole: zeros
    with open(sp, "wb") as f:
        f.seek(ch.MiB)
        f.write(b"end")
    tr = os.path.join(m.mpt, "w/trunc.bin")   # ftruncate first, then write
    with open(tr, "wb") as f:
        f.truncate(len(data))
        f.write(data[:100])
    want = {
        "py.bin": data, "dd.bin": data, "fa.bin": data,
        "sparse.bin": bytes(ch.MiB) + b"end",
        "trunc.bin": data[:100] + bytes(len(data) - 100),
    }
    for n, body in want.items():
        mp, cp = os.path.join(m.mpt, "w", n), os.path.join(c.mpt, "w", n)
        assert fh.wait_for(lambda: ch.is_committed(mp), timeout=10), n
        assert fh.wait_for(lambda: os.path.exists(cp), timeout=10), n
        for path in (mp, cp):
            with open(path, "rb") as f:
                assert f.read() == body, (n, path)
    # fallocate / truncate first: one extent.
    fmap = os.getxattr(fa, "user.famfs.fmap").decode().split("\n")
    assert "simple 1" in fmap
    # After commit: an ordinary famfs file (fixed size).
    with pytest.raises(OSError):
        os.truncate(mp, 1)
    ch.rmtree(os.path.dirname(src))
    ch.fsck_clean(m, m.mpt)


def test_empty_files_commit_with_one_unit(pair):
    m, c = pair
    p = os.path.join(m.mpt, "empty")
    open(p, "wb").close()
    ch.run(["touch", os.path.join(m.mpt, "touched")])
    for n in ("empty", "touched"):
        assert fh.wait_for(lambda: os.path.exists(os.path.join(c.mpt, n)), timeout=10)
        assert os.path.getsize(os.path.join(c.mpt, n)) == 0
    ch.fsck_clean(m, m.mpt)
