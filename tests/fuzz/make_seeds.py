#!/usr/bin/python3
"""Seed corpora for the fuzz targets, made by our own mkfs.famfs and master commands.

    make_seeds.py OUTDIR        (as root; FAMFS_BUILD_DIR names the normal build, default ./build)

Makes a 4 GiB image in /dev/shm, formats it, mounts it as the master, runs mkdir -p, creat
(plain, random-filled, interleaved), cp -r and clone, reads every file's user.famfs.fmap as the
daemon serves it, unmounts, and writes:
    OUTDIR/meta/*       superblock + log header + entries in fuzz_meta's layout (fuzz_meta.cpp)
    OUTDIR/fmap_text/*  the daemon's fmap texts (for fuzz_fmap_cli and fuzz_fmap_lib)
    OUTDIR/fmap_bin/*   the log entries' on-media fmaps in fuzz_fmap_lib's binary layout
Nothing is committed: the corpora are rebuilt from the tree each time (tests/fuzz/run.sh).
"""

import os
import shutil
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
os.environ.setdefault("FAMFS_BUILD_DIR", os.path.join(SRC, "build"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import famfs_harness as fh  # noqa: E402
import test_cli_device_omf as omf  # noqa: E402

SB_BYTES, HEADER_BYTES = 200, 48
FMAP_OFF, FMAP_BYTES = 120, 416   # fm_fmap inside a FILE entry (spec B§3.2)
MODE_TEXT, MODE_BINARY = 0, 1     # fuzz_fmap_lib's first byte

# fuzz_meta.cpp's control block: flags, op, size_units, nstrips, nbuckets, chunk_shift, split, seed
RESEAL_SB, RESEAL_HEADER, SET_NEXT, AS_MASTER = 1, 2, 4, 8
OP_INTERLEAVE, OP_APPEND, OP_SMALL = 1, 2, 4


def control(flags, op, size_units=3, nstrips=2, nbuckets=4, chunk_shift=21, split=3, seed=7):
    return struct.pack("<BBHBBBBQ", flags, op, size_units, nstrips, nbuckets, chunk_shift, split,
                       seed)


def populate(h, mpt):
    """What a user does on a fresh master: every kind of entry our commands write."""
    src = tempfile.mkdtemp(prefix="famfs-fuzz-seed-src-")
    try:
        os.makedirs(os.path.join(src, "tree", "sub"))
        for name, size in (("tree/a.txt", 100), ("tree/sub/b.bin", 5000), ("tree/c", 3 << 20)):
            with open(os.path.join(src, name), "wb") as f:
                f.write(os.urandom(size))
        h.famfs("mkdir", "-p", os.path.join(mpt, "d1", "d2", "d3"))
        h.famfs("creat", "-s", "4k", os.path.join(mpt, "small"))
        h.famfs("creat", "-s", "3m", "-r", "-S", "11", os.path.join(mpt, "d1", "random"))
        h.famfs("creat", "-s", "64m", "-N", "4", "-B", "4", "-C", "4m",
                os.path.join(mpt, "d1", "interleaved"))
        h.famfs("creat", "-s", "10m", "-N", "2", "-B", "2", os.path.join(mpt, "d1", "d2", "il2"))
        h.famfs("cp", "-r", os.path.join(src, "tree"), os.path.join(mpt, "d1", "d2"))
        h.famfs("clone", os.path.join(mpt, "small"), os.path.join(mpt, "small.clone"))
    finally:
        shutil.rmtree(src, ignore_errors=True)


def fmap_texts(mpt):
    out = []
    for root, _dirs, files in os.walk(mpt):
        for name in files:
            out.append(fh.getxattr(os.path.join(root, name), "user.famfs.fmap"))
    return out


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def meta_seeds(image, outdir):
    sb = omf.read_at(image, 0, SB_BYTES)
    header = omf.read_at(image, omf.LOG_OFFSET, HEADER_BYTES)
    n = omf.log_header(image)["next_index"]
    entries = [omf.read_at(image, omf.slot_offset(i), omf.ENTRY_SIZE) for i in range(n)]
    variants = [
        # (name, flags, op, entries, entry control)
        ("verbatim", 0, 0, entries, 0),
        ("master-append", AS_MASTER, OP_APPEND, entries, 0),
        ("master-interleave-append", AS_MASTER, OP_APPEND | OP_INTERLEAVE, entries, 0),
        ("resealed", RESEAL_SB | RESEAL_HEADER | SET_NEXT, OP_APPEND, entries, 1),
        ("resealed-small", RESEAL_SB | RESEAL_HEADER | SET_NEXT | AS_MASTER,
         OP_APPEND | OP_SMALL, entries, 1),
        ("empty", RESEAL_SB | RESEAL_HEADER | SET_NEXT, OP_APPEND, [], 1),
    ]
    for k in range(1, n):
        variants.append(("prefix%d" % k, RESEAL_HEADER | SET_NEXT, OP_APPEND, entries[:k], 1))
    os.makedirs(outdir, exist_ok=True)
    for name, flags, op, ents, ctl in variants:
        body = b"".join(bytes([ctl]) + e for e in ents)
        write(os.path.join(outdir, name), control(flags, op) + sb + header + body)
    return entries


def fmap_seeds(texts, entries, outdir_text, outdir_bin):
    os.makedirs(outdir_text, exist_ok=True)
    os.makedirs(outdir_bin, exist_ok=True)
    for i, t in enumerate(texts):
        write(os.path.join(outdir_text, "daemon%d" % i), bytes([MODE_TEXT]) + t.encode())
    for i, e in enumerate(entries):
        etype = struct.unpack_from("<I", e, 8)[0]
        if etype != 0:   # FILE entries only
            continue
        size = struct.unpack_from("<Q", e, 16)[0]
        fmap = e[FMAP_OFF:FMAP_OFF + FMAP_BYTES]
        write(os.path.join(outdir_bin, "entry%d" % i),
              bytes([MODE_BINARY]) + struct.pack("<Q", size) + fmap)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py OUTDIR")
    out = sys.argv[1]
    image = fh.make_image(prefix="famfs-fuzz-seed-")
    try:
        h = fh.Host("fuzz-seed")
        h.mkfs(image)
        mpt = h.mount(image)
        try:
            populate(h, mpt)
            texts = fmap_texts(mpt)
        finally:
            fh.cleanup_mount(mpt)
        entries = meta_seeds(image, os.path.join(out, "meta"))
        fmap_seeds(texts, entries, os.path.join(out, "fmap_text"), os.path.join(out, "fmap_bin"))
        print("seeds: %d log entries, %d fmap texts -> %s" % (len(entries), len(texts), out))
    finally:
        fh.cleanup_all()


if __name__ == "__main__":
    main()
