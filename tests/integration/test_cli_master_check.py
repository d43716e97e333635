"""famfs check (upstream's per-file map check, ours against the log): every file's served map
(user.famfs.fmap) against the log's FILE entry; upstream's or-ed exit codes."""

import os
import struct

import famfs_harness as fh
import test_cli_device_omf as omf
from test_cli_master_util import next_index, write

MiB = 1 << 20


def populate(master):
    m = master.mpt
    master.famfs("mkdir", "-p", os.path.join(m, "d", "e"))
    master.famfs("creat", "-s", "3m", "-r", "-S", "1", os.path.join(m, "d", "a"))
    master.famfs("creat", "-s", "4k", os.path.join(m, "d", "e", "b"))
    master.famfs("creat", "-s", "8m", "-N", "2", "-B", "4", "-C", "2m", os.path.join(m, "strip"))
    return [os.path.join(m, "d", "a"), os.path.join(m, "d", "e", "b"), os.path.join(m, "strip")]


def test_check_good_files_master_and_client(master, client):
    files = populate(master)
    p = master.famfs("check", master.mpt)
    assert p.returncode == 0
    assert "3 files of the log of %s: 3 good, 0 not mapped, 0 differ" % master.mpt in p.stdout
    p = master.famfs("check", "-v", os.path.join(master.mpt, "d"))     # any path inside it
    for f in files:
        assert "%s: ok" % f in p.stdout
    assert fh.wait_for(lambda: os.path.exists(os.path.join(client.mpt, "strip")))
    p = client.famfs("check", client.mpt)
    assert p.returncode == 0 and "3 good" in p.stdout
    p = master.famfs("check", "-q", master.mpt)
    assert p.returncode == 0 and p.stdout == ""


def test_check_served_map_differs_from_log(master):
    populate(master)
    # Rewrite the FILE entry of d/e/b in place (a valid entry with another size): the daemon
    # keeps serving what it replayed, and check reports the difference.
    slot = None
    for i in range(next_index(master.image)):
        e = omf.read_at(master.image, omf.slot_offset(i), omf.ENTRY_SIZE)
        if e[40:40 + len(b"d/e/b") + 1] == b"d/e/b\0":
            slot, body = i, bytearray(e)
    assert slot is not None
    struct.pack_into("<Q", body, 16, 8192)
    omf.write_at(master.image, omf.slot_offset(slot), omf._seal(body, slot))
    p = master.famfs("check", master.mpt, check=False)
    assert p.returncode == 1
    assert "%s: the served size differs from the log's FILE entry %d" % (
        os.path.join(master.mpt, "d", "e", "b"), slot) in p.stderr
    assert "2 good, 0 not mapped, 1 differ" in p.stdout


def test_check_usage_and_outside_famfs(master):
    p = master.famfs("check", check=False)
    assert p.returncode == 22 and "no mount point given" in p.stderr
    p = master.famfs("check", "/dev/shm", check=False)
    assert p.returncode == 1 and "/dev/shm" in p.stderr
