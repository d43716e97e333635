"""famfs getmap / clone / chkread / flush / status on mounted images."""

import json
import os
import re
import subprocess

import famfs_harness as fh
from test_cli_master_util import getmap_extents, next_index, read

MiB = 1 << 20


# ---- getmap (spec B§8.4) ----------------------------------------------------------------

def test_getmap_simple_format(master):
    f = os.path.join(master.mpt, "g")
    master.famfs("creat", "-s", "3m", f)
    p = master.famfs("getmap", f)
    lines = p.stdout.splitlines()
    assert lines[0] == "File:     %s" % f
    assert lines[1] == "\tsize:    3145728"
    assert lines[2] == "\textents: 1"
    assert re.fullmatch(r"\t\t[0-9a-f]+\t4194304", lines[3])
    assert lines[4] == "famfs_getmap: good file %s" % f
    # The first file of a fresh 8 MiB-log file system lands at 0xa00000 (B§6.2).
    assert lines[3].split()[0] == "a00000"
    # Quiet: only the 'good file' line, as upstream.
    p = master.famfs("getmap", "-q", f)
    assert p.stdout == "famfs_getmap: good file %s\n" % f


def test_getmap_interleaved_format(master):
    f = os.path.join(master.mpt, "il")
    master.famfs("creat", "-s", "10m", "-N", "4", "-B", "4", "-C", "2m", "-r", "-S", "3", f)
    out = master.famfs("getmap", f).stdout.splitlines()
    assert out[1] == "\tsize:    10485760"
    assert "Interleave_Param chunk_size: 2097152" in out
    assert "Interleaved extent has 4 strips:" in out
    strips = getmap_extents(master, f)
    assert len(strips) == 4 and all(ln == 4 * MiB for _, ln in strips)   # B§6.3 example
    assert len({o for o, _ in strips}) == 4


def test_getmap_json_several_files(master):
    """getmap --json: an array, one object per file in argument order; errors carry exit_code."""
    m = master.mpt
    a, b = os.path.join(m, "ja"), os.path.join(m, "jb")
    master.famfs("creat", "-s", "3m", a)
    master.famfs("creat", "-s", "10m", "-N", "4", "-B", "4", "-C", "2m", b)
    arr = json.loads(master.famfs("getmap", "--json", a, b).stdout)
    assert [o["file"] for o in arr] == [a, b]
    assert arr[0]["exit_code"] == 0 and arr[0]["size"] == 3 * MiB
    assert arr[0]["extent_type"] == "simple"
    assert [(e["offset"], e["length"]) for e in arr[0]["extents"]] == getmap_extents(master, a)
    assert arr[1]["extent_type"] == "interleave" and arr[1]["chunk_size"] == 2 * MiB
    assert [(e["offset"], e["length"]) for e in arr[1]["strips"]] == getmap_extents(master, b)
    # Several files in text form too, as upstream.
    p = master.famfs("getmap", "-q", a, b)
    assert p.stdout == "famfs_getmap: good file %s\nfamfs_getmap: good file %s\n" % (a, b)
    # Errors: the same exit codes; with -c every file has its object.
    nope = os.path.join(m, "nope")
    p = master.famfs("getmap", "--json", "-c", nope, a, check=False)
    assert p.returncode == 9
    arr = json.loads(p.stdout)
    assert arr[0]["file"] == nope and arr[0]["exit_code"] == 9 and "no such file" in arr[0]["error"]
    assert arr[1]["exit_code"] == 0
    p = master.famfs("getmap", "--json", nope, a, check=False)
    assert p.returncode == 9 and len(json.loads(p.stdout)) == 1
    # A name that is not UTF-8 is still reported (its bad bytes as U+FFFD).
    odd = os.fsencode(m) + b"/nope-\xff"
    p = subprocess.run([fh.famfs_bin(), "getmap", "--json", odd], env=master.env,
                       capture_output=True, timeout=60)
    assert p.returncode == 9, p.stderr
    arr = json.loads(p.stdout.decode("utf-8"))
    assert arr[0]["file"] == m + "/nope-\ufffd" and arr[0]["exit_code"] == 9


def test_getmap_exit_codes(master):
    m = master.mpt
    f = os.path.join(m, "ok")
    master.famfs("creat", "-s", "1m", f)
    master.famfs("mkdir", os.path.join(m, "dir"))
    assert master.famfs("getmap", check=False).returncode == 22
    assert master.famfs("getmap", os.path.join(m, "nope"), check=False).returncode == 9
    assert master.famfs("getmap", os.path.join(m, "dir"), check=False).returncode == 21
    outside = os.path.join(master.dir, "plain")
    with open(outside, "w") as fd:
        fd.write("x")
    p = master.famfs("getmap", outside, check=False)
    assert p.returncode == 1 and "not in famfs" in p.stderr
    # Stops at the first error without -c; with -c it goes on and reports the first error.
    p = master.famfs("getmap", os.path.join(m, "nope"), f, check=False)
    assert p.returncode == 9 and "good file" not in p.stdout
    p = master.famfs("getmap", "-c", os.path.join(m, "nope"), f, check=False)
    assert p.returncode == 9 and "good file %s" % f in p.stdout
    # The meta files have maps too.
    p = master.famfs("getmap", os.path.join(m, ".meta", ".log"))
    assert "\t\t200000\t8388608" in p.stdout


# ---- clone ------------------------------------------------------------------------------

def test_clone_cross_links(master):
    m = master.mpt
    a, b = os.path.join(m, "a"), os.path.join(m, "b")
    master.famfs("creat", "-s", "2m", "-r", "-S", "5", a)
    assert master.famfs("fsck", m, check=False).returncode == 0
    p = master.famfs("clone", a, b)
    assert "cross-link" in p.stderr
    assert read(b) == read(a)
    assert getmap_extents(master, a) == getmap_extents(master, b)
    p = master.famfs("fsck", m, check=False)
    assert p.returncode != 0                         # one AU claimed twice
    n = next_index(master.image)
    for args in ((a, b), (os.path.join(m, "nope"), os.path.join(m, "c")),
                 (m, os.path.join(m, "c")), (os.path.join(m, ".meta", ".log"), os.path.join(m, "c"))):
        assert master.famfs("clone", *args, check=False).returncode == 1, args
    assert next_index(master.image) == n


# ---- chkread / flush --------------------------------------------------------------------

def test_chkread(master):
    m = master.mpt
    f = os.path.join(m, "c")
    master.famfs("creat", "-s", "3m", "-r", "-S", "8", f)
    p = master.famfs("chkread", f)
    assert re.search(r"Read and (mmap|device map) match", p.stdout)
    p = master.famfs("chkread", "-s", os.path.join(m, ".meta", ".superblock"))
    assert "magic:        0x87b282ff" in p.stdout and "match" in p.stdout
    p = master.famfs("chkread", "-l", os.path.join(m, ".meta", ".log"))
    assert "next index:   1" in p.stdout
    assert master.famfs("chkread", os.path.join(m, "nope"), check=False).returncode == 1


def test_flush(master):
    m = master.mpt
    a, b = os.path.join(m, "a"), os.path.join(m, "b")
    master.famfs("creat", "-s", "5m", a)
    master.famfs("creat", "-s", "10m", "-N", "2", "-B", "2", b)
    p = master.famfs("flush", "-v", a, b)
    assert "flushed 5242880 bytes in 1 device range" in p.stdout
    assert "flushed 10485760 bytes in 5 device ranges" in p.stdout
    p = master.famfs("flush", a, os.path.join(m, "nope"), check=False)
    assert p.returncode == 1 and "1 errors were detected" in p.stdout


# ---- status -----------------------------------------------------------------------------

def test_status_human_and_json(master, client):
    m = master.mpt
    master.famfs("mkdir", os.path.join(m, "d"))
    master.famfs("creat", "-s", "3m", os.path.join(m, "d", "f"))
    p = master.famfs("status", m)
    out = p.stdout
    for key in ("role:", "device:", "capacity:", "used:", "free:", "log entries:", "files:",
                "directories:", "last replay:", "replay lag:", "damaged log:"):
        assert key in out, key
    assert re.search(r"role:\s+master", out)
    assert re.search(r"log entries:\s+2 of 15420 used", out)
    assert re.search(r"files:\s+1\n", out) and re.search(r"directories:\s+1\n", out)
    assert re.search(r"damaged log:\s+no", out)
    j = json.loads(master.famfs("status", "--json", m).stdout)
    assert j["role"] == "master" and j["files"] == 1 and j["directories"] == 1
    assert j["entries_used"] == 2 and j["entries_total"] == 15420
    assert j["master_system_uuid"] == master.uuid and j["damaged"] is False
    # Any path inside the mount works; the client sees itself as a client and names the master.
    jc = json.loads(client.famfs("status", "--json", os.path.join(client.mpt, "d")).stdout)
    assert jc["role"] == "client" and jc["master_system_uuid"] == master.uuid
    pc = client.famfs("status", client.mpt).stdout
    assert re.search(r"role:\s+client", pc) and master.uuid in pc
    p = master.famfs("status", "/tmp", check=False)
    assert p.returncode == 1 and "not inside a famfs" in p.stderr


def test_status_shows_damage(master):
    m = master.mpt
    for i in range(3):
        master.famfs("creat", "-s", "1m", os.path.join(m, "f%d" % i))
    master.umount(m)
    fh.append(master.image, "corrupt", 1)
    m = master.mount(master.image)
    p = master.famfs("status", m)
    assert re.search(r"damaged log:\s+YES at entry 1", p.stdout)
    # The master refuses to append to a damaged log, and says how to look.
    n = next_index(master.image)
    p = master.famfs("creat", "-s", "1m", os.path.join(m, "g"), check=False)
    assert p.returncode == 1 and "famfs fsck" in p.stderr
    assert next_index(master.image) == n
