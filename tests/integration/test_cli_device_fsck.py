"""famfs fsck on images (spec B§8.2, Part A §4-§5): upstream's human report, the JSON object,
and exit codes (collisions count, 1 for any other problem, 16 for a mounted device, 0 clean).
Damaged and cross-linked logs are forged from Python following spec B§3."""

import json
import os
import re
import subprocess
import uuid as uuidlib

import pytest

import famfs_harness as fh
import test_cli_device_omf as omf

MiB = omf.MiB
GiB = omf.GiB
UPSTREAM_MASTER = "f2eee19b-6c47-4dfd-af58-fc1b0113599a"
JSON_FIELDS = ("entries_used", "entries_total", "files", "directories", "bad_entries",
               "collisions", "capacity_bytes", "allocated_bytes", "free_bytes", "role",
               "fs_uuid", "system_uuid", "device", "damaged", "damage_index",
               "skipped_entries", "out_of_bounds", "superblock_status", "log_status")


def fsck(host, target, *args):
    return host.famfs("fsck", *args, target, check=False)


def fsck_json(host, target, *args):
    p = fsck(host, target, "--json", *args)
    out = p.stdout.strip()
    assert out.startswith("{") and out.endswith("}") and "\n" not in out, p.stdout
    j = json.loads(out)
    for k in JSON_FIELDS:
        assert k in j, k
    return p.returncode, j


@pytest.fixture
def master_host():
    return fh.Host("master")


@pytest.fixture
def fresh(image, master_host):
    """A freshly made file system (not mounted) and its master."""
    master_host.mkfs(image)
    return image


@pytest.fixture
def populated(fresh):
    """dir d, files d/a (2 MiB at 0xA00000) and b (4 MiB at 0xC00000), forged as a master
    would append them."""
    omf.append_entries(fresh, [
        omf.mkdir_entry(0, "d"),
        omf.file_entry(1, "d/a", 1 * MiB, [(0xA00000, 0x200000)]),
        omf.file_entry(2, "b", 3 * MiB + 5, [(0xC00000, 0x400000)]),
    ])
    return fresh


def test_fsck_fresh_fs_human_report(fresh, master_host):
    p = fsck(master_host, fresh)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    sb = omf.superblock(fresh)
    order = ["Famfs Superblock:", "Log stats:", "Capacity:", "Famfs log:"]
    pos = [out.index(s) for s in order]
    assert pos == sorted(pos)
    assert "Filesystem UUID:   %s" % uuidlib.UUID(bytes=sb["uuid"]) in out
    assert "System UUID:       %s" % master_host.uuid in out
    assert "role of this node: Owner" in out
    assert "alloc_unit:        0x200000" in out
    assert "log size (bytes):  8388608" in out
    assert "primary: %s   %d" % (fresh, 4 * GiB) in out
    assert "# of log entries in use: 0 of 15420" in out
    assert "Log size in use:          48" in out
    assert "No allocation errors found" in out
    assert re.search(r"Device capacity:\s+4294967296\n", out)
    assert re.search(r"Allocated bytes:\s+10485760\n", out)       # superblock + 8 MiB log
    assert re.search(r"Free space:\s+%d\n" % (4 * GiB - 10 * MiB), out)
    assert "0 of 15420 entries used" in out
    assert "0 bad log entries detected" in out
    assert "No problems found" in out

    # -h is --human here (GiB with two decimals); help is -?.
    p = fsck(master_host, fresh, "-h")
    assert p.returncode == 0
    assert re.search(r"Device capacity:\s+4\.00G\n", p.stdout)
    p = master_host.famfs("fsck", "-?", check=False)
    assert p.returncode == 0 and "--human" in p.stdout


def test_fsck_json_fresh_and_roles(fresh, master_host):
    rc, j = fsck_json(master_host, fresh)
    assert rc == 0
    sb = omf.superblock(fresh)
    assert j["device"] == fresh
    assert j["role"] == "master"
    assert j["fs_uuid"] == str(uuidlib.UUID(bytes=sb["uuid"]))
    assert j["master_system_uuid"] == j["system_uuid"] == master_host.uuid
    assert (j["entries_used"], j["entries_total"]) == (0, 15420)
    assert (j["files"], j["directories"], j["bad_entries"], j["collisions"]) == (0, 0, 0, 0)
    assert j["capacity_bytes"] == 4 * GiB
    assert j["allocated_bytes"] == 10 * MiB
    assert j["free_bytes"] == 4 * GiB - 10 * MiB
    assert j["damaged"] is False and j["damage_index"] is None
    assert j["skipped_entries"] == 0 and j["out_of_bounds"] == 0
    assert j["superblock_status"] == "valid" and j["log_status"] == "ok"

    other = fh.Host("other")
    rc, j = fsck_json(other, fresh)
    assert rc == 0 and j["role"] == "client"
    # Same keys, same meaning as famfs status: the master's identity, and this host's.
    assert j["master_system_uuid"] == master_host.uuid and j["system_uuid"] == other.uuid
    # --system-uuid-file wins over the environment.
    rc, j = fsck_json(other, fresh, "--system-uuid-file", master_host.uuid_file)
    assert j["role"] == "master"


def test_fsck_counts_files_dirs_and_allocation(populated, master_host):
    rc, j = fsck_json(master_host, populated)
    assert rc == 0, j
    assert (j["entries_used"], j["files"], j["directories"]) == (3, 2, 1)
    assert j["allocated_bytes"] == 10 * MiB + 6 * MiB
    assert j["free_bytes"] == 4 * GiB - 16 * MiB
    p = fsck(master_host, populated)
    assert "3 of 15420 entries used" in p.stdout
    assert "2 files" in p.stdout and "1 directories" in p.stdout
    assert re.search(r"Sum of file sizes:\s+%d\n" % (4 * MiB + 5), p.stdout)


def test_fsck_damaged_entry_is_nonzero(populated, master_host):
    omf.flip_byte(populated, omf.slot_offset(1) + 45)   # inside d/a's relpath
    rc, j = fsck_json(master_host, populated)
    assert rc == 1
    assert j["damaged"] is True and j["damage_index"] == 1
    assert j["bad_entries"] == 1 and j["collisions"] == 0
    p = fsck(master_host, populated)
    assert p.returncode == 1
    assert "1 bad log entries detected" in p.stdout
    assert "log entry 1 is damaged" in p.stdout


def test_fsck_wrong_seqnum_is_damage(populated, master_host):
    # A valid CRC sealed for the wrong slot is as bad as a torn entry.
    omf.write_at(populated, omf.slot_offset(2), omf.file_entry(7, "b", 1, [(0xC00000, 0x200000)]))
    rc, j = fsck_json(master_host, populated)
    assert rc == 1 and j["damage_index"] == 2


def test_fsck_collisions_are_the_exit_code(populated, master_host):
    # 6 MiB at 0xA00000 overlaps d/a (1 AU) and b (2 AUs): 3 collisions.
    omf.append_entries(populated, [omf.file_entry(3, "x", 5 * MiB, [(0xA00000, 0x600000)])])
    rc, j = fsck_json(master_host, populated)
    assert rc == 3
    assert j["collisions"] == 3
    p = fsck(master_host, populated)
    assert p.returncode == 3
    assert "ERROR: 3 ALLOCATION COLLISIONS FOUND" in p.stdout
    assert "Capacity:" not in p.stdout       # upstream omits it when there are collisions
    assert "cross-link" in p.stdout


def test_fsck_spec_collision_example(fresh, master_host):
    # B§8.2: a 4 MiB extent over two allocated AUs plus an offset-0 extent gives 3.
    omf.append_entries(fresh, [
        omf.file_entry(0, "a", 2 * MiB, [(0xA00000, 0x200000)]),
        omf.file_entry(1, "b", 2 * MiB, [(0xC00000, 0x200000)]),
        omf.file_entry(2, "c", 4 * MiB, [(0xA00000, 0x400000)]),
        omf.file_entry(3, "z", 2 * MiB, [(0, 0x200000)]),
    ])
    rc, j = fsck_json(master_host, fresh)
    assert j["collisions"] == 3
    assert rc == 3
    assert j["skipped_entries"] >= 1      # the offset-0 file is not served (Part A §4)


def test_fsck_many_collisions_cap_at_127(fresh, master_host):
    # 300 AUs claimed twice.
    omf.append_entries(fresh, [
        omf.file_entry(0, "a", 600 * MiB, [(0xA00000, 300 * 0x200000)]),
        omf.file_entry(1, "b", 600 * MiB, [(0xA00000, 300 * 0x200000)]),
    ])
    rc, j = fsck_json(master_host, fresh)
    assert j["collisions"] == 300
    assert rc == 127


def test_fsck_skipped_entry_is_nonzero(fresh, master_host):
    omf.append_entries(fresh, [omf.file_entry(0, "../escape", 1, [(0xA00000, 0x200000)]),
                               omf.file_entry(1, "nodir/f", 1, [(0xC00000, 0x200000)])])
    rc, j = fsck_json(master_host, fresh)
    assert rc == 1
    assert j["skipped_entries"] == 2
    assert j["damaged"] is False and j["collisions"] == 0


def test_fsck_bad_superblock_and_log_header(fresh, master_host, tmp_path):
    def copy(name):
        dst = "/dev/shm/famfs-fsck-%s-%s.img" % (name, uuidlib.uuid4())
        omf.sparse_copy(fresh, dst)
        return dst

    cases = []
    try:
        bad_crc = copy("sbcrc")
        cases.append(bad_crc)
        omf.flip_byte(bad_crc, 50)
        rc, j = fsck_json(master_host, bad_crc)
        assert rc == 1 and j["superblock_status"] == "bad_crc" and j["role"] == "nosuper"

        nomagic = copy("nomagic")
        cases.append(nomagic)
        omf.write_at(nomagic, 0, bytes(8))
        rc, j = fsck_json(master_host, nomagic)
        assert rc == 1 and j["superblock_status"] == "no_magic"
        p = fsck(master_host, nomagic)
        assert p.returncode == 1 and "superblock" in p.stdout

        version = copy("version")
        cases.append(version)
        omf.reseal_superblock(version, version=49)
        rc, j = fsck_json(master_host, version)
        assert rc == 1 and j["superblock_status"] == "wrong_version"

        hdr = copy("logcrc")
        cases.append(hdr)
        omf.flip_byte(hdr, omf.LOG_OFFSET + 9)
        rc, j = fsck_json(master_host, hdr)
        assert rc == 1 and j["superblock_status"] == "valid" and j["log_status"] != "ok"
    finally:
        for c in cases:
            os.unlink(c)


def test_fsck_inconsistent_log_counters(populated, master_host):
    # next_seqnum != next_index (not CRC-covered): reported, entries still counted.
    omf.write_at(populated, omf.LOG_OFFSET + 32, omf.struct.pack("<Q", 5))
    rc, j = fsck_json(master_host, populated)
    assert rc == 1
    assert j["log_status"] == "bad_next_index"
    assert j["files"] == 2 and j["directories"] == 1
    p = fsck(master_host, populated)
    assert p.returncode == 1
    assert "ERROR: log header next_index" in p.stdout and "2 files" in p.stdout


def test_fsck_verbose_and_buckets(populated, master_host):
    p = fsck(master_host, populated, "-v", "-B", "4")
    assert p.returncode == 0
    # upstream's "Verbose:" block
    for name, n in (("log header", 48), ("log_entry", 544), ("mkdir", 92), ("file_meta", 520),
                    ("fmap", 416), ("interleaved_ext[1]", 400), ("famfs_simple_ext[16]", 24),
                    ("struct famfs_log_file_meta", 520)):
        assert re.search(r"sizeof\(%s\):?\s+%d\n" % (re.escape(name), n), p.stdout), name
    assert "Stripe bucket info" in p.stdout
    assert len(re.findall(r"bucket +\d+:", p.stdout)) == 4
    p = fsck(master_host, populated, "-B", "0")
    assert p.returncode != 0


def test_fsck_bad_targets(master_host, tmp_path):
    p = fsck(master_host, "/dev/shm/famfs-no-such-%s" % uuidlib.uuid4())
    assert p.returncode == 1 and "no such device or file" in p.stderr
    p = fsck(master_host, str(tmp_path))
    assert p.returncode == 1 and "outside any famfs mount" in p.stderr
    # --json still prints exactly one object, naming the error.
    p = fsck(master_host, str(tmp_path), "--json")
    assert p.returncode == 1
    j = json.loads(p.stdout)
    assert j["exit_code"] == 1 and "outside any famfs mount" in j["error"]
    tiny = tmp_path / "tiny.img"
    tiny.write_bytes(b"x" * 100)
    p = fsck(master_host, str(tiny))
    assert p.returncode == 1 and "too small" in p.stderr
    p = master_host.famfs("fsck", check=False)
    assert p.returncode != 0


def _run_bytes(host, *argv):
    """A command whose arguments and output may hold bytes that are not UTF-8."""
    return subprocess.run([fh.famfs_bin()] + list(argv), env=host.env, capture_output=True,
                          timeout=120)


def test_fsck_json_of_a_path_that_is_not_utf8(fresh, master_host, tmp_path):
    """The JSON is written by nlohmann-json: bytes that are not UTF-8 (a device path is any
    bytes) are replaced by U+FFFD, never an exception instead of the report."""
    odd = os.path.join(os.fsencode(str(tmp_path)), b"img-\xff\xfe.img")
    os.symlink(os.fsencode(fresh), odd)
    p = _run_bytes(master_host, "fsck", "--json", odd)
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout.decode("utf-8"))
    assert j["clean"] is True and j["exit_code"] == 0
    assert j["device"] == str(tmp_path) + "/img-\ufffd\ufffd.img"
    # A check that cannot run: the same keys with the same meaning, plus the error.
    p = _run_bytes(master_host, "fsck", "--json", odd + b".missing")
    assert p.returncode == 1
    j = json.loads(p.stdout.decode("utf-8"))
    assert list(j) == ["device", "clean", "error", "exit_code"]
    assert j["clean"] is False and j["exit_code"] == 1
    assert j["device"].endswith("img-\ufffd\ufffd.img.missing")
    assert "no such device or file" in j["error"]


def test_fsck_upstream_fixture(fixture_upstream):
    image, manifest = fixture_upstream
    assert "8 of 15420 entries used" in manifest
    for host, role, line in ((fh.Host("someone"), "client", "Client"),
                             (fh.Host("upstream-master", uuid=UPSTREAM_MASTER), "master",
                              "Owner")):
        rc, j = fsck_json(host, image)
        assert rc == 0, j
        assert j["role"] == role
        assert j["master_system_uuid"] == UPSTREAM_MASTER and j["system_uuid"] == host.uuid
        assert (j["entries_used"], j["entries_total"]) == (8, 15420)
        assert (j["bad_entries"], j["files"], j["directories"]) == (0, 5, 3)
        assert j["allocated_bytes"] == 23068672
        assert j["collisions"] == 0
        assert j["capacity_bytes"] == 4 * GiB
        p = fsck(host, image)
        assert p.returncode == 0
        for s in ("8 of 15420 entries used", "0 bad log entries detected", "5 files",
                  "3 directories", "No allocation errors found",
                  "role of this node: %s" % line, "primary: /dev/dax0.0"):
            assert s in p.stdout, s
        assert re.search(r"Allocated bytes:\s+23068672\n", p.stdout)


@pytest.mark.skipif(not os.path.exists(fh.fused_bin()), reason="famfs-fused not built")
def test_fsck_mounted_device_is_busy_and_mountpoint_works(master):
    p = fsck(master, master.image)
    assert p.returncode == 16
    assert "mounted at" in p.stderr and master.mpt in p.stderr
    p = fsck(master, master.image, "--json")
    assert p.returncode == 16 and json.loads(p.stdout)["exit_code"] == 16
    rc, j = fsck_json(master, master.mpt)
    assert rc == 0, j
    assert j["device"] == os.path.realpath(master.image)
    assert j["role"] == "master"
    sub = os.path.join(master.mpt, ".meta")
    rc, j = fsck_json(master, sub)
    assert rc == 0 and j["device"] == os.path.realpath(master.image)
