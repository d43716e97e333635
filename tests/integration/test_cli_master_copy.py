"""famfs cp on a mounted image: files, directories, overwrite rules, threads, failure cases."""

import os
import stat
import tempfile

import pytest

import famfs_harness as fh
from test_cli_master_util import fill_log, next_index, read, write

MiB = 1 << 20


@pytest.fixture
def srcdir():
    d = tempfile.mkdtemp(prefix="famfs-cp-src-", dir="/dev/shm")
    yield d
    fh._run(["rm", "-rf", d], check=False)


def make_tree(root):
    """root/{a.bin (3 MiB + 5), b.txt (0640), sub/{c (1 byte), deeper/d (2 MiB)}}."""
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.chmod(os.path.join(root, "sub"), 0o750)
    files = {
        "a.bin": os.urandom(3 * MiB + 5),
        "b.txt": b"hello famfs\n",
        "sub/c": b"x",
        "sub/deeper/d": os.urandom(2 * MiB),
    }
    for rel, data in files.items():
        write(os.path.join(root, rel), data)
    os.chmod(os.path.join(root, "b.txt"), 0o640)
    return files


def test_cp_file_to_new_name_and_into_dir(master, srcdir):
    data = os.urandom(5 * MiB + 17)
    src = os.path.join(srcdir, "s.bin")
    write(src, data, 0o604)
    n = next_index(master.image)
    master.famfs("cp", src, os.path.join(master.mpt, "renamed"))
    assert read(os.path.join(master.mpt, "renamed")) == data
    master.famfs("mkdir", os.path.join(master.mpt, "dir"))
    master.famfs("cp", src, os.path.join(master.mpt, "dir"))          # keeps the basename
    assert read(os.path.join(master.mpt, "dir", "s.bin")) == data
    master.famfs("cp", src, os.path.join(master.mpt, "dir") + "/")
    assert next_index(master.image) == n + 3
    st = os.stat(os.path.join(master.mpt, "renamed"))
    # cp: the source's mode & 0777 (not umask-masked), real uid/gid.
    assert stat.S_IMODE(st.st_mode) == 0o604
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_cp_several_sources_mode_uid_gid(master, srcdir):
    srcs = []
    for i in range(4):
        p = os.path.join(srcdir, "f%d" % i)
        write(p, os.urandom(1000 * (i + 1)))
        srcs.append(p)
    master.famfs("mkdir", os.path.join(master.mpt, "many"))
    old = os.umask(0o022)
    try:
        master.famfs("cp", "-m", "0666", "-u", "7", "-g", "8", *srcs,
                     os.path.join(master.mpt, "many"))
    finally:
        os.umask(old)
    for p in srcs:
        d = os.path.join(master.mpt, "many", os.path.basename(p))
        assert read(d) == read(p)
        st = os.stat(d)
        assert stat.S_IMODE(st.st_mode) == 0o644 and (st.st_uid, st.st_gid) == (7, 8)
    # Several sources need an existing directory.
    p = master.famfs("cp", srcs[0], srcs[1], os.path.join(master.mpt, "nodir"), check=False)
    assert p.returncode == 1 and "not an existing directory" in p.stderr


def test_cp_recursive(master, srcdir):
    tree = os.path.join(srcdir, "tree")
    files = make_tree(tree)
    m = master.mpt
    # Into an existing directory: <dest>/tree/...
    master.famfs("cp", "-r", tree, m)
    # To a new name: <dest> is the copy.
    master.famfs("cp", "-r", tree, os.path.join(m, "copy2"))
    for base in (os.path.join(m, "tree"), os.path.join(m, "copy2")):
        for rel, data in files.items():
            assert read(os.path.join(base, rel)) == data, rel
        assert stat.S_IMODE(os.stat(os.path.join(base, "sub")).st_mode) == 0o750
        assert stat.S_IMODE(os.stat(os.path.join(base, "b.txt")).st_mode) == 0o640
    # Without -r a directory is refused.
    n = next_index(master.image)
    p = master.famfs("cp", tree, os.path.join(m, "copy3"), check=False)
    assert p.returncode == 1 and "use famfs cp -r" in p.stderr
    assert next_index(master.image) == n and not os.path.exists(os.path.join(m, "copy3"))
    # Restartable: copying the same tree again overwrites same-size files, logs nothing new.
    master.famfs("cp", "-r", tree, m)
    assert next_index(master.image) == n


def test_cp_threads_many_files(master, srcdir):
    tree = os.path.join(srcdir, "t")
    os.makedirs(tree)
    want = {}
    for i in range(300):
        d = os.urandom(1 + (i * 37) % 9000)
        write(os.path.join(tree, "f%03d" % i), d)
        want["f%03d" % i] = d
    write(os.path.join(tree, "big"), os.urandom(9 * MiB))
    want["big"] = read(os.path.join(tree, "big"))
    n = next_index(master.image)
    master.famfs("cp", "-r", "-t", "4", tree, os.path.join(master.mpt, "t"))
    assert next_index(master.image) == n + 1 + len(want)
    for k, v in want.items():
        assert read(os.path.join(master.mpt, "t", k)) == v, k
    p = master.famfs("fsck", master.mpt, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_cp_overwrite_same_size_only(master, srcdir):
    a = os.path.join(srcdir, "a")
    write(a, os.urandom(MiB + 1))
    dst = os.path.join(master.mpt, "a")
    master.famfs("cp", a, dst)
    n = next_index(master.image)
    new = os.urandom(MiB + 1)
    write(a, new)
    master.famfs("cp", a, dst)                         # same size: overwritten in place
    assert next_index(master.image) == n
    assert read(dst) == new
    b = os.path.join(srcdir, "b")
    write(b, os.urandom(MiB + 2))
    p = master.famfs("cp", b, dst, check=False)        # other size: refused
    assert p.returncode == 1
    assert "already exists with size %d" % (MiB + 1) in p.stderr
    assert read(dst) == new and next_index(master.image) == n


def test_cp_failures_leave_nothing(master, srcdir):
    m = master.mpt
    empty = os.path.join(srcdir, "empty")
    write(empty, b"")
    good = os.path.join(srcdir, "good")
    write(good, b"g" * 1000)
    os.mkfifo(os.path.join(srcdir, "fifo"))
    n = next_index(master.image)
    cases = [
        ([empty, os.path.join(m, "e")], "empty file"),
        ([os.path.join(srcdir, "missing"), os.path.join(m, "x")], "cannot read the source"),
        ([os.path.join(srcdir, "fifo"), os.path.join(m, "x")], "regular files and directories"),
        ([good, "/tmp/famfs-cp-outside"], "not inside a famfs"),
        ([good, os.path.join(m, "nodir", "x")], "does not exist"),
        ([good, os.path.join(m, ".meta", "x")], ".meta"),
        ([good, os.path.join(m, "d" * 80)], "at most 79"),
        ([good], "source and a destination"),
    ]
    for args, msg in cases:
        p = master.famfs("cp", *args, check=False)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
    assert next_index(master.image) == n
    assert sorted(os.listdir(m)) == [".meta"]
    # A batch with one bad source copies the rest and exits 1.
    master.famfs("mkdir", os.path.join(m, "dd"))
    p = master.famfs("cp", good, empty, os.path.join(m, "dd"), check=False)
    assert p.returncode == 1 and "empty file" in p.stderr
    assert os.listdir(os.path.join(m, "dd")) == ["good"]


def test_cp_out_of_space_is_all_or_nothing(master, srcdir):
    big = os.path.join(srcdir, "big")
    with open(big, "wb") as f:
        f.truncate(5 * (1 << 29))                       # sparse 2.5 GiB; twice does not fit
    os.link(big, big + "2")
    small = os.path.join(srcdir, "small")
    write(small, b"s" * 100)
    master.famfs("mkdir", os.path.join(master.mpt, "d"))
    n = next_index(master.image)
    p = master.famfs("cp", small, big, big + "2", os.path.join(master.mpt, "d"), check=False)
    assert p.returncode == 1
    assert "out of space" in p.stderr and "nothing was copied" in p.stderr
    assert next_index(master.image) == n
    assert os.listdir(os.path.join(master.mpt, "d")) == []
    # The same source named twice for one destination: the second is an error.
    p = master.famfs("cp", small, small, os.path.join(master.mpt, "d"), check=False)
    assert p.returncode == 1 and "same destination" in p.stderr
    assert os.listdir(os.path.join(master.mpt, "d")) == ["small"]


def test_cp_log_full_exit_12(master, srcdir):
    tree = os.path.join(srcdir, "t")
    os.makedirs(tree)
    for i in range(3):
        write(os.path.join(tree, "f%d" % i), b"z" * 10)
    fill_log(master.image, 3)
    fh.logplay(master.mpt)
    n = next_index(master.image)
    p = master.famfs("cp", "-r", tree, master.mpt, check=False)      # 4 entries, 3 free
    assert p.returncode == 12, (p.stdout, p.stderr)
    assert "log full" in p.stderr and "nothing was copied" in p.stderr
    assert next_index(master.image) == n and not os.path.exists(os.path.join(master.mpt, "t"))
    os.unlink(os.path.join(tree, "f2"))
    master.famfs("cp", "-r", tree, master.mpt)                        # exactly 3: fits
    assert next_index(master.image) == 15420


def test_cp_from_famfs_to_famfs(master):
    m = master.mpt
    master.famfs("creat", "-s", "7m", "-r", "-S", "99", os.path.join(m, "orig"))
    master.famfs("cp", os.path.join(m, "orig"), os.path.join(m, "dup"))
    master.famfs("verify", "-f", os.path.join(m, "dup"), "-S", "99")


def test_cp_interleaved(master, srcdir):
    data = os.urandom(13 * MiB + 11)
    src = os.path.join(srcdir, "il")
    write(src, data)
    dst = os.path.join(master.mpt, "il")
    master.famfs("cp", "-N", "2", "-B", "4", "-C", "2m", src, dst)
    assert read(dst) == data
    out = master.famfs("getmap", dst).stdout
    assert "Interleave_Param chunk_size: 2097152" in out
    assert "Interleaved extent has 2 strips:" in out
    # Invalid interleave parameters are refused before anything is created.
    n = next_index(master.image)
    for args, msg in ((["-N", "3", "-B", "2"], "must not exceed"),
                      (["-N", "17", "-B", "4"], "between 1 and 16"),
                      (["-N", "2", "-B", "8"], "at least 1 GiB"),
                      (["-N", "2", "-B", "4", "-C", "3m"], "power of two"),
                      (["-C", "4m"], "-N/--nstrips")):
        p = master.famfs("cp", *args, src, dst + "x", check=False)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
    assert next_index(master.image) == n


def _cp_on_a_terminal(master, src, dst, delay_ms):
    """Run famfs cp with stderr on a pseudo-terminal; returns what it wrote there."""
    import pty
    import subprocess
    mfd, sfd = pty.openpty()
    env = dict(master.env, FAMFS_PROGRESS_DELAY_MS=str(delay_ms))
    proc = subprocess.Popen([fh.famfs_bin(), "cp", src, dst],
                            env=env, stdout=subprocess.PIPE, stderr=sfd)
    os.close(sfd)
    chunks = []
    while True:
        try:
            b = os.read(mfd, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    proc.wait(timeout=300)
    os.close(mfd)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_cp_progress_bar_only_on_a_terminal(master, srcdir):
    src = os.path.join(srcdir, "sparse")
    with open(src, "wb") as f:
        f.truncate(256 * MiB)
    # Not a terminal: nothing on stderr, even when the bar would show at once.
    import subprocess
    p = subprocess.run([fh.famfs_bin(), "cp", src, os.path.join(master.mpt, "quiet")],
                       env=dict(master.env, FAMFS_PROGRESS_DELAY_MS="0"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    # A terminal, bar due at once: it is drawn and ends at 100%.
    out = _cp_on_a_terminal(master, src, os.path.join(master.mpt, "loud"), 0)
    assert "famfs cp [" in out and "100%" in out, out
    assert os.stat(os.path.join(master.mpt, "loud")).st_size == 256 * MiB
    # A terminal, bar due after an hour: a copy that ends first draws nothing.
    out = _cp_on_a_terminal(master, src, os.path.join(master.mpt, "short"), 3600 * 1000)
    assert "famfs cp [" not in out, out


def test_cp_tree_with_symlinks(master, srcdir):
    tree = os.path.join(srcdir, "t")
    os.makedirs(os.path.join(tree, "real"))
    write(os.path.join(tree, "real", "f"), b"file data")
    os.symlink("real", os.path.join(tree, "dirlink"))          # would loop / duplicate: skipped
    os.symlink("real/f", os.path.join(tree, "filelink"))       # followed: copied as a file
    os.symlink(tree, os.path.join(tree, "real", "loop"))       # a cycle: skipped
    p = master.famfs("cp", "-r", tree, master.mpt, check=False)
    assert p.returncode == 1
    assert "symbolic link to a directory" in p.stderr
    m = os.path.join(master.mpt, "t")
    assert sorted(os.listdir(m)) == ["filelink", "real"]
    assert read(os.path.join(m, "filelink")) == b"file data"
    assert os.listdir(os.path.join(m, "real")) == ["f"]


def test_cp_unreadable_source(master, srcdir):
    """Root without CAP_DAC_OVERRIDE/READ_SEARCH cannot read a mode-000 file."""
    import shutil
    if not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")
    secret = os.path.join(srcdir, "secret")
    write(secret, b"s" * 5000, 0o000)
    ok = os.path.join(srcdir, "ok")
    write(ok, b"o" * 5000)
    master.famfs("mkdir", os.path.join(master.mpt, "d"))
    n = next_index(master.image)
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    p = master.run(drop + [fh.famfs_bin(), "cp", secret, os.path.join(master.mpt, "d")], check=False)
    assert p.returncode == 1
    assert "cannot read the source '%s': Permission denied" % secret in p.stderr
    assert next_index(master.image) == n and os.listdir(os.path.join(master.mpt, "d")) == []
    # With a readable one alongside: that one is copied, the exit status still says 1.
    p = master.run(drop + [fh.famfs_bin(), "cp", secret, ok, os.path.join(master.mpt, "d")], check=False)
    assert p.returncode == 1
    assert os.listdir(os.path.join(master.mpt, "d")) == ["ok"]


def test_cp_one_large_file_on_several_threads(master, srcdir):
    data = os.urandom(64 * MiB) * 3 + os.urandom(5 * MiB + 9)     # 4 pieces of <= 64 MiB
    src = os.path.join(srcdir, "large")
    write(src, data)
    master.famfs("cp", "-t", "3", src, os.path.join(master.mpt, "large"))
    assert read(os.path.join(master.mpt, "large")) == data
    # Interleaved destination, pieces split per strip run.
    master.famfs("cp", "-t", "2", "-N", "3", "-B", "4", src, os.path.join(master.mpt, "large-il"))
    assert read(os.path.join(master.mpt, "large-il")) == data


def test_cp_compare_reads_back_every_copy(master, srcdir):
    """cp -c/--compare (upstream's flag): each copy read back through the mount and compared
    with its source; -v names each comparison. (A difference is tested in the unit tests of
    master::compare_files: a copy cannot be made to differ from outside the daemon.)"""
    files = make_tree(os.path.join(srcdir, "t"))
    p = master.famfs("cp", "-r", "-c", "-v", "-t", "2", os.path.join(srcdir, "t"),
                     os.path.join(master.mpt, "t"))
    for rel in files:
        assert "compared %s with %s: identical" % (
            os.path.join(master.mpt, "t", rel), os.path.join(srcdir, "t", rel)) in p.stdout + p.stderr
        assert read(os.path.join(master.mpt, "t", rel)) == files[rel]
    p = master.famfs("cp", "--compare", os.path.join(srcdir, "t", "a.bin"),
                     os.path.join(master.mpt, "a2"))
    assert p.returncode == 0 and p.stderr == ""
    # A file cp could not copy is reported once, not again by the compare.
    p = master.famfs("cp", "-c", os.path.join(srcdir, "t", "b.txt"),
                     os.path.join(master.mpt, "a2"), check=False)
    assert p.returncode == 1 and "compare" not in p.stderr
