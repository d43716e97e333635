"""Hostile but well-formed log entries (valid seqnum and CRC) reaching live mounts: the daemon
keeps serving, skips and reports each bad entry, never shows anything outside the mount root or
outside the device, and the good entries around them work (spec Part A §3-§4)."""

import os
import struct

import famfs_harness as fh
import test_cli_device_omf as omf

MiB = 1 << 20
DATA_START = 0x200000 + 8 * MiB  # superblock region + default 8 MiB log


def _entry_with(seq, relpath_bytes, nextents, extents, size=4096):
    """A FILE entry with raw relpath bytes and a stored extent count that may lie."""
    e = bytearray(omf.ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 0, 0)
    struct.pack_into("<QIIII", e, 16, size, 2, 0, 0, 0o644)
    e[40:40 + len(relpath_bytes)] = relpath_bytes
    struct.pack_into("<IIII", e, 120, 0, 0, nextents, 0)
    for k, (off, ln) in enumerate(extents):
        struct.pack_into("<QQQ", e, 136 + 24 * k, 0, off, ln)
    return omf._seal(e, seq)


def test_hostile_entries_are_skipped_and_reported(master, client):
    image, dev_size = master.image, os.path.getsize(master.image)
    payload = os.urandom(4096)
    omf.write_at(image, DATA_START, payload)
    n = omf.log_header(image)["next_index"]
    good_ext = [(DATA_START, 2 * MiB)]
    hostile = [
        # (what, entry builder taking the slot) — None for the two good entries
        ("good dir", lambda s: omf.mkdir_entry(s, "good")),
        ("good file", lambda s: omf.file_entry(s, "good/ok.bin", 4096, good_ext)),
        ("escape", lambda s: omf.file_entry(s, "../escape", 4096, [(DATA_START + 2 * MiB, 2 * MiB)])),
        ("absolute", lambda s: omf.file_entry(s, "/abs", 4096, [(DATA_START + 4 * MiB, 2 * MiB)])),
        ("escape deep", lambda s: omf.file_entry(s, "good/../../up", 4096, [(DATA_START + 6 * MiB, 2 * MiB)])),
        ("past device end", lambda s: omf.file_entry(s, "oob", 4096, [(dev_size, 2 * MiB)])),
        ("straddles end", lambda s: omf.file_entry(s, "straddle", 4096, [(dev_size - 2 * MiB, 4 * MiB)])),
        ("offset 0", lambda s: omf.file_entry(s, "zero", 4096, [(0, 2 * MiB)])),
        ("inside the log", lambda s: omf.file_entry(s, "inlog", 4096, [(0x400000, 2 * MiB)])),
        ("size beyond extents", lambda s: omf.file_entry(s, "big", 4 * MiB, [(DATA_START + 8 * MiB, 2 * MiB)])),
        ("wrapping extent", lambda s: omf.file_entry(s, "wrap", 4096, [(0xFFFFFFFFFFE00000, 4 * MiB)])),
        ("missing parent", lambda s: omf.file_entry(s, "nodir/f", 4096, [(DATA_START + 10 * MiB, 2 * MiB)])),
        ("dir over file", lambda s: omf.mkdir_entry(s, "good/ok.bin")),
        ("lying extent count", lambda s: _entry_with(s, b"liar", 1000, [(DATA_START + 12 * MiB, 2 * MiB)])),
        ("no NUL in relpath", lambda s: _entry_with(s, b"x" * 80, 1, [(DATA_START + 14 * MiB, 2 * MiB)])),
        ("unaligned extent", lambda s: omf.file_entry(s, "unaligned", 4096, [(DATA_START + 16 * MiB + 4096, 2 * MiB)])),
        ("duplicate path, other extent", lambda s: omf.file_entry(s, "good/ok.bin", 4096, [(DATA_START + 18 * MiB, 2 * MiB)])),
        ("good subdir", lambda s: omf.mkdir_entry(s, "good/sub")),
    ]
    omf.append_entries(image, [build(n + i) for i, (_, build) in enumerate(hostile)])
    expect_skipped = len(hostile) - 4  # two good dirs, one good file, one duplicate ("existed")

    for host in (master, client):
        mpt = host.mpt
        assert fh.wait_for(lambda: os.path.isdir(os.path.join(mpt, "good", "sub")), timeout=5)
        # Only the good names exist, inside the mount and nowhere around it.
        assert sorted(os.listdir(mpt)) == [".meta", "good"]
        assert sorted(os.listdir(os.path.join(mpt, "good"))) == ["ok.bin", "sub"]
        parent = os.path.dirname(mpt)
        for name in ("escape", "up", "abs"):
            assert not os.path.exists(os.path.join(parent, name))
        # The first entry for good/ok.bin wins, and it reads the bytes at its own extent.
        with open(os.path.join(mpt, "good", "ok.bin"), "rb") as f:
            assert f.read() == payload
        st = fh.status(mpt)
        assert st["skipped_entries"] == expect_skipped, st
        assert not st["damaged"], st
        assert fh.daemon_pids(mpt), "daemon died"

    # A fresh mount of the same image replays the whole log the same way.
    third = fh.Host("third")
    mpt3 = third.mount(image)
    try:
        assert sorted(os.listdir(mpt3)) == [".meta", "good"]
        assert fh.status(mpt3)["skipped_entries"] == expect_skipped
        report = fh.logplay(mpt3)
        assert not report["damaged"]
    finally:
        fh.cleanup_mount(mpt3)
