"""Helpers shared by the test_cli_master_*.py suites (master-side commands; no tests here)."""

import os
import struct

import famfs_harness as fh

LOG_OFFSET = 0x200000
SLOTS_8M = 15420


def log_header(image):
    """(next_seqnum, next_index) of the image's log header, read straight from the image."""
    with open(image, "rb") as f:
        f.seek(LOG_OFFSET + 32)
        return struct.unpack("<QQ", f.read(16))


def next_index(image):
    return log_header(image)[1]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode=None):
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def getmap_extents(host, path):
    """[(offset, len)] from `famfs getmap` output (simple or interleaved)."""
    out = host.famfs("getmap", path).stdout
    ext = []
    for line in out.splitlines():
        if line.startswith("\t\t"):
            off, ln = line.split()
            ext.append((int(off, 16), int(ln)))
    return ext


def fill_log(image, free_slots):
    """Append entries until exactly `free_slots` log slots are free (cross-linked bulk files)."""
    used = next_index(image)
    count = SLOTS_8M - used - free_slots - 1   # bulk also logs its directory
    assert count > 0
    fh.append(image, "bulk", "filler", count)
    assert SLOTS_8M - next_index(image) == free_slots


def wait_visible(path, timeout=5.0):
    return fh.wait_for(lambda: os.path.exists(path), timeout=timeout)
