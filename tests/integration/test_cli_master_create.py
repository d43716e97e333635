"""famfs creat / verify / mkdir on a mounted image: options, defaults and failure cases."""

import os
import re
import stat

import pytest

import famfs_harness as fh
from test_cli_master_util import (fill_log, getmap_extents, next_index, read)

MiB = 1 << 20


# ---- creat + verify ---------------------------------------------------------------------

def test_creat_randomize_verify_and_defaults(master):
    f = os.path.join(master.mpt, "r1")
    before = next_index(master.image)
    p = master.famfs("creat", "-s", "3m", "-r", "-S", "42", f)
    assert "randomized 3145728 bytes" in p.stdout
    assert next_index(master.image) == before + 1
    # Visible at once (the CLI triggers a replay), right size, right bytes.
    st = os.stat(f)
    assert st.st_size == 3 * MiB
    um = os.umask(0)
    os.umask(um)
    assert stat.S_IMODE(st.st_mode) == 0o644 & ~um
    assert st.st_uid == os.geteuid() and st.st_gid == os.getegid()
    assert read(f) == fh.pattern(42, 3 * MiB)
    v = master.famfs("verify", "-f", f, "-S", "42")
    assert v.stdout.strip() == "Success: verified 3145728 bytes in file %s" % f
    # Quiet verify prints nothing; the long options work too.
    v = master.famfs("verify", "--filename", f, "--seed", "42", "-q")
    assert v.stdout == ""


def test_creat_odd_size_and_suffixes(master):
    for name, size, arg in (("a", 100, "100"), ("b", 5 * MiB + 3, str(5 * MiB + 3)),
                            ("c", 64 * 1024, "64k"), ("d", 1 << 30, "1g"), ("e", 0x3000, "0x3000")):
        f = os.path.join(master.mpt, name)
        master.famfs("creat", "--size", arg, "--randomize", "--seed", "7", f)
        assert os.stat(f).st_size == size
        master.famfs("verify", "-f", f, "-S", "7", "-q")
    # B§6.2: 5 MiB + 3 takes three allocation units.
    assert getmap_extents(master, os.path.join(master.mpt, "b"))[0][1] == 6 * MiB


def test_verify_failures(master):
    f = os.path.join(master.mpt, "v")
    master.famfs("creat", "-s", "1m", "-r", "-S", "5", f)
    p = master.famfs("verify", "-f", f, "-S", "6", check=False)
    assert p.returncode == 1
    assert "Verify fail: %s at offset 0 of 1048576 bytes" % f in p.stderr
    p = master.famfs("verify", "-f", f, check=False)            # no seed
    assert p.returncode == 1 and "seed" in p.stderr
    p = master.famfs("verify", "-S", "5", check=False)          # no file
    assert p.returncode == 1 and "-f FILE" in p.stderr
    p = master.famfs("verify", "-f", f + "nope", "-S", "5", check=False)
    assert p.returncode == 1 and "cannot open" in p.stderr
    # A mismatch in the middle is reported at its word-aligned offset.
    with open(f, "r+b") as fd:
        fd.seek(777777)
        b = fd.read(1)
        fd.seek(777777)
        fd.write(bytes([b[0] ^ 0xFF]))
    p = master.famfs("verify", "-f", f, "-S", "5", check=False)
    assert p.returncode == 1
    assert "at offset %d of" % (777777 & ~3) in p.stderr


def test_creat_mode_uid_gid(master):
    f = os.path.join(master.mpt, "owned")
    master.famfs("creat", "-s", "1m", "-m", "0640", "-u", "1234", "-g", "5678", f)
    st = os.stat(f)
    um = os.umask(0)
    os.umask(um)
    assert stat.S_IMODE(st.st_mode) == 0o640 & ~um
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    p = master.famfs("creat", "-s", "1m", "-m", "999", f + "2", check=False)
    assert p.returncode == 1 and "octal" in p.stderr
    assert not os.path.exists(f + "2")


def test_creat_umask_applies(master):
    f = os.path.join(master.mpt, "masked")
    old = os.umask(0o077)
    try:
        master.famfs("creat", "-s", "1m", "-m", "0666", f)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_creat_existing_same_size_is_noop_other_size_refused(master):
    f = os.path.join(master.mpt, "same")
    master.famfs("creat", "-s", "2m", "-r", "-S", "3", f)
    n = next_index(master.image)
    master.famfs("creat", "-s", "2m", f)                      # same size: nothing logged
    assert next_index(master.image) == n
    master.famfs("creat", "-s", "2m", "-r", "-S", "9", f)     # re-randomised in place
    master.famfs("verify", "-f", f, "-S", "9")
    p = master.famfs("creat", "-s", "3m", f, check=False)
    assert p.returncode == 1
    assert "already exists with size 2097152" in p.stderr and "resized" in p.stderr
    assert next_index(master.image) == n


def test_creat_multi_and_verify_multi(master):
    m = master.mpt
    p = master.famfs("creat", "-t", "2", "-M", "%s/m1,1m,11" % m, "-M", "%s/m2,3m,12" % m,
                     "--multi", "%s/m3,100k" % m)
    assert "Create complete for 3 of 3 files with 0 errs" in p.stdout
    for name, size in (("m1", MiB), ("m2", 3 * MiB), ("m3", 100 * 1024)):
        assert os.stat(os.path.join(m, name)).st_size == size
    v = master.famfs("verify", "-t", "2", "-m", "%s/m1,11" % m, "--multi", "%s/m2,12" % m)
    assert "Verify complete for 2 files with 0 errs" in v.stdout
    v = master.famfs("verify", "-m", "%s/m1,11" % m, "-m", "%s/m2,13" % m, check=False)
    assert v.returncode == 1 and "Verify complete for 2 files with 1 errs" in v.stdout
    # Errors in a multi-create are counted; the good files are still created.
    p = master.famfs("creat", "-M", "%s/m4,1m" % m, "-M", "%s/m2,5m" % m,
                     "-M", "%s/nodir/x,1m" % m, check=False)
    assert p.returncode == 2
    assert "Create complete for 1 of 3 files with 2 errs" in p.stdout
    assert os.path.exists(os.path.join(m, "m4"))
    # Bad --multi syntax.
    p = master.famfs("creat", "-M", "%s/m5" % m, check=False)
    assert p.returncode == 1 and "FILE,SIZE" in p.stderr


def test_creat_argument_errors(master):
    f = os.path.join(master.mpt, "x")
    n = next_index(master.image)
    cases = [
        (["creat", f], "famfs files cannot be empty"),               # no size: empty file
        (["creat", "-s", "0", f], "famfs files cannot be empty"),
        (["creat", "-s", "1m", "-S", "4", f], "without -r"),
        (["creat", "-s", "12q", f], "-s/--size"),
        (["creat", "-s", "1m"], "no file given"),
        (["creat", "-s", "1m", "-u", "-1", f], "-u/--uid"),
        (["creat", "-s", "1m", os.path.join(master.mpt, "nodir", "f")], "does not exist"),
        (["creat", "-s", "1m", master.mpt], "root of the famfs"),
        (["creat", "-s", "1m", os.path.join(master.mpt, ".meta", "x")], ".meta"),
        (["creat", "-s", "1m", "/tmp/famfs-not-here"], "not inside a famfs"),
    ]
    for args, msg in cases:
        p = master.famfs(*args, check=False)
        assert p.returncode != 0, args
        assert msg in p.stderr, (args, p.stderr)
    assert next_index(master.image) == n
    assert not os.path.exists(f)


def test_relpath_limit(master):
    name79 = "d" * 10 + "/" + "f" * 68           # 79 bytes relative to the root
    name80 = "d" * 10 + "/" + "f" * 69
    master.famfs("mkdir", os.path.join(master.mpt, "d" * 10))
    master.famfs("creat", "-s", "1m", os.path.join(master.mpt, name79))
    n = next_index(master.image)
    p = master.famfs("creat", "-s", "1m", os.path.join(master.mpt, name80), check=False)
    assert p.returncode == 1
    assert "80 bytes long" in p.stderr and "at most 79" in p.stderr
    p = master.famfs("mkdir", os.path.join(master.mpt, name80), check=False)
    assert p.returncode == 1 and "80 bytes long" in p.stderr
    p = master.famfs("mkdir", "-p", os.path.join(master.mpt, "e" * 40, "g" * 39, "h"), check=False)
    assert p.returncode == 1 and "at most 79" in p.stderr
    assert next_index(master.image) == n
    assert not os.path.exists(os.path.join(master.mpt, "e" * 40))


def test_creat_out_of_space(master):
    # A 4 GiB image holds less than 4 GiB of files.
    f = os.path.join(master.mpt, "huge")
    n = next_index(master.image)
    p = master.famfs("creat", "-s", "5g", f, check=False)
    assert p.returncode == 1
    assert "out of space" in p.stderr and "nothing was created" in p.stderr
    assert next_index(master.image) == n and not os.path.exists(f)
    # What fits still fits afterwards.
    master.famfs("creat", "-s", "1g", f)


def test_creat_log_full(master):
    fill_log(master.image, 2)
    fh.logplay(master.mpt)
    m = master.mpt
    n = next_index(master.image)
    p = master.famfs("creat", "-M", "%s/a,1m" % m, "-M", "%s/b,1m" % m, "-M", "%s/c,1m" % m,
                     check=False)
    assert p.returncode != 0
    assert "log full" in p.stderr and "nothing was created" in p.stderr
    assert next_index(master.image) == n
    for x in "abc":
        assert not os.path.exists(os.path.join(m, x))
    master.famfs("creat", "-M", "%s/a,1m" % m, "-M", "%s/b,1m" % m)
    assert next_index(master.image) == fh_slots()
    p = master.famfs("creat", "-s", "1m", os.path.join(m, "c"), check=False)
    assert p.returncode == 1 and "log full" in p.stderr


def fh_slots():
    return 15420


# ---- mkdir ------------------------------------------------------------------------------

def test_mkdir_basic_and_modes(master):
    m = master.mpt
    n = next_index(master.image)
    old = os.umask(0o077)
    try:
        master.famfs("mkdir", os.path.join(m, "d1"))
    finally:
        os.umask(old)
    st = os.stat(os.path.join(m, "d1"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755   # not umask-masked
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    master.famfs("mkdir", "-m", "0700", "-u", "42", "-g", "43", os.path.join(m, "d2"))
    st = os.stat(os.path.join(m, "d2"))
    assert stat.S_IMODE(st.st_mode) == 0o700 and (st.st_uid, st.st_gid) == (42, 43)
    assert next_index(master.image) == n + 2
    # Existing: an error without -p, fine with -p (nothing logged).
    p = master.famfs("mkdir", os.path.join(m, "d1"), check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    master.famfs("mkdir", "-p", os.path.join(m, "d1"))
    assert next_index(master.image) == n + 2
    # Missing parent without -p.
    p = master.famfs("mkdir", os.path.join(m, "x", "y"), check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr and "mkdir -p" in p.stderr
    # Over a file.
    master.famfs("creat", "-s", "1m", os.path.join(m, "file"))
    n = next_index(master.image)
    p = master.famfs("mkdir", "-p", os.path.join(m, "file", "sub"), check=False)
    assert p.returncode == 1
    p = master.famfs("mkdir", os.path.join(m, "file"), check=False)
    assert p.returncode == 1
    p = master.famfs("mkdir", m, check=False)
    assert p.returncode == 1 and "root of the famfs" in p.stderr
    # -p over an existing file: refused, naming the file.
    p = master.famfs("mkdir", "-p", os.path.join(m, "file"), check=False)
    assert p.returncode == 1 and "not a directory" in p.stderr and "file" in p.stderr
    # -p of an existing directory, the mount root included: success, as mkdir(1) and upstream.
    for d in (m, m + "/", os.path.join(m, "d1"), os.path.join(m, "d1") + "/", os.path.join(m, ".")):
        p = master.famfs("mkdir", "-p", d)
        assert p.returncode == 0 and p.stderr == "", (d, p.stderr)
    master.famfs("mkdir", "-p", ".", cwd=os.path.join(m, "d1"))
    assert next_index(master.image) == n


def test_mkdir_parents_logs_one_entry_per_missing_component(master):
    m = master.mpt
    master.famfs("mkdir", os.path.join(m, "a"))
    n = next_index(master.image)
    master.famfs("mkdir", "-p", "-m", "0711", os.path.join(m, "a", "b", "c", "d"))
    assert next_index(master.image) == n + 3                   # b, b/c, b/c/d
    for sub in ("a/b", "a/b/c", "a/b/c/d"):
        assert stat.S_IMODE(os.stat(os.path.join(m, sub)).st_mode) == 0o711
    # Relative paths and trailing slashes work from a cwd inside the mount.
    master.famfs("mkdir", "-p", "rel/one/", cwd=os.path.join(m, "a"))
    assert os.path.isdir(os.path.join(m, "a", "rel", "one"))


def test_mkdir_parents_reserves_all_slots_up_front(master):
    fill_log(master.image, 2)
    fh.logplay(master.mpt)
    n = next_index(master.image)
    p = master.famfs("mkdir", "-p", os.path.join(master.mpt, "x", "y", "z"), check=False)
    assert p.returncode == 1
    assert "log full" in p.stderr and "3 log entries" in p.stderr
    assert next_index(master.image) == n
    assert not os.path.exists(os.path.join(master.mpt, "x"))
    master.famfs("mkdir", "-p", os.path.join(master.mpt, "x", "y"))
    assert os.path.isdir(os.path.join(master.mpt, "x", "y"))
