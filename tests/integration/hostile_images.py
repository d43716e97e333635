"""A corpus of hostile famfs images, generated (never stored): each is a fresh image made by
our mkfs.famfs with a few good entries, then one hostile change laid over it with the OMF
layout of spec Part A/B (test_cli_device_omf's struct-level helpers, independent of the C++).

    python3 hostile_images.py OUTDIR     write every image to OUTDIR (sparse, 4 GiB each)

Used by test_trust_hostile_images.py, which mounts each one as a client. test_daemon_hostile.py
appends hostile entries to *live* mounts; this corpus is about what a fresh mount (full replay)
makes of an image, including superblock and header damage.

Every case: (name, builder, expect). The builder gets a CaseImage (path, size, slot helpers)
after the good prefix is in place. expect is one of
    "skip"     mount works, the hostile entry is skipped and reported, the good entries served
    "ignore"   mount works, the entry is ignored (reserved types), good entries served
    "damage"   mount works, the log is reported damaged at the hostile slot, the prefix served
    "refuse"   mount refused with a message naming the problem (no usable superblock/log)
    "serve"    mount works and serves what it can; only the generic checks apply
Known defects of issue 8 are not in CASES (see DEFECT_CASES): their tests are strict xfails.
"""

import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import famfs_harness as fh  # noqa: E402
import test_cli_device_omf as omf  # noqa: E402

MiB = 1 << 20
AU = 2 * MiB
LOG_LEN = 8 * MiB
DATA_START = omf.LOG_OFFSET + LOG_LEN
PAYLOAD_SEED = 4242
PAYLOAD_SIZE = 5000
# Good entries every image starts with (slots 0..2) and one more after the hostile part.
GOOD_DIR, GOOD_FILE, GOOD_AFTER = "good", "good/ok.bin", "after"
GOOD_EXTENT = (DATA_START, AU)
FREE = DATA_START + 4 * AU       # hostile extents use [FREE, ...) unless they aim elsewhere


def payload():
    return fh.pattern(PAYLOAD_SEED, PAYLOAD_SIZE)


class CaseImage:
    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        self.last = []   # builders to run after the good entry that follows the hostile part

    def at_end(self, builder):
        self.last.append(builder)

    def next(self):
        return omf.log_header(self.path)["next_index"]

    def append(self, *builders):
        """Append entries built by builders(slot) -> bytes, as a master would."""
        n = self.next()
        omf.append_entries(self.path, [b(n + i) for i, b in enumerate(builders)])

    def put_raw(self, slot, entry):
        omf.write_at(self.path, omf.slot_offset(slot), entry)

    def header_field(self, off, fmt, value):
        omf.write_at(self.path, omf.LOG_OFFSET + off, struct.pack(fmt, value))

    def reseal_header(self):
        b = bytearray(omf.read_at(self.path, omf.LOG_OFFSET, omf.HEADER_SIZE))
        struct.pack_into("<Q", b, 24, zlib.crc32(bytes(b[0:24])))
        omf.write_at(self.path, omf.LOG_OFFSET, bytes(b))


# ---- entry builders (raw, for what the omf helpers do not forge) -----------------------

def raw_file(seq, relpath, size, extents, nextents=None, ext_type=0, devindex=0, mode=0o644,
             uid=0, gid=0, flags=2):
    e = bytearray(omf.ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 0, 0)
    struct.pack_into("<QIIII", e, 16, size, flags, uid, gid, mode)
    e[40:40 + len(relpath)] = relpath
    struct.pack_into("<IIII", e, 120, ext_type, 0,
                     len(extents) if nextents is None else nextents, 0)
    for k, (off, ln) in enumerate(extents[:16]):
        struct.pack_into("<QQQ", e, 136 + 24 * k, devindex, off, ln)
    return omf._seal(e, seq)


def raw_interleave(seq, relpath, size, chunk, strips, nstrips=None, niext=1):
    e = bytearray(omf.ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 0, 0)
    struct.pack_into("<QIIII", e, 16, size, 2, 0, 0, 0o644)
    e[40:40 + len(relpath)] = relpath
    struct.pack_into("<IIII", e, 120, 1, 0, niext, 0)
    struct.pack_into("<QQ", e, 136, len(strips) if nstrips is None else nstrips, chunk)
    for k, (off, ln) in enumerate(strips[:16]):
        struct.pack_into("<QQQ", e, 152 + 24 * k, 0, off, ln)
    return omf._seal(e, seq)


def raw_typed(seq, etype, body=b""):
    e = bytearray(omf.ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, etype, 0)
    e[16:16 + len(body)] = body
    return omf._seal(e, seq)


def raw_mkdir(seq, relpath, mode=0o755):
    e = bytearray(omf.ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 1, 0)
    struct.pack_into("<III", e, 16, 0, 0, mode)
    e[28:28 + len(relpath)] = relpath
    return omf._seal(e, seq)


def f(relpath, extents, size=4096, **kw):
    return lambda s: raw_file(s, relpath.encode() if isinstance(relpath, str) else relpath,
                              size, extents, **kw)


def il(relpath, size, chunk, strips, **kw):
    return lambda s: raw_interleave(s, relpath.encode(), size, chunk, strips, **kw)


def d(relpath):
    return lambda s: raw_mkdir(s, relpath.encode() if isinstance(relpath, str) else relpath)


def entries(*builders):
    return lambda img: img.append(*builders)


def superblock(**fields):
    return lambda img: omf.reseal_superblock(img.path, **fields)


def sb_bytes(off, data, reseal=True):
    def build(img):
        omf.write_at(img.path, off, data)
        if reseal:
            b = bytearray(omf.read_at(img.path, 0, 200))
            struct.pack_into("<Q", b, 96, zlib.crc32(bytes(b[0:96])))
            omf.write_at(img.path, 0, bytes(b))
    return build


def header(off, fmt, value, reseal=False):
    def build(img):
        img.header_field(off, fmt, value)
        if reseal:
            img.reseal_header()
    return build


def corrupt_slot(mutate):
    """Append one good-looking FILE entry, then damage it with mutate(bytearray) -> bytes."""
    def build(img):
        n = img.next()
        e = bytearray(raw_file(n, b"victim", 4096, [(FREE, AU)]))
        img.put_raw(n, mutate(e))
        omf.set_next(img.path, n + 1)
    return build


def flip(off):
    def m(e):
        e[off] ^= 0xFF
        return bytes(e)
    return m


def wrong_seq(e):
    """A CRC-valid entry whose seqnum is not its slot."""
    struct.pack_into("<Q", e, 0, 12345)
    struct.pack_into("<Q", e, 536, zlib.crc32(bytes(e[:536])))
    return bytes(e)


def next_past_written(img):
    omf.set_next(img.path, img.next() + 4)   # four zero (invalid) slots, then the good one


def truncate_to(size):
    def build(img):
        os.truncate(img.path, size)
    return build


def dd_size(value):
    return sb_bytes(112, struct.pack("<Q", value), reseal=False)   # dd_size is not CRC-covered


G = 4 << 30   # the images are 4 GiB (mkfs.famfs's minimum)

CASES = [
    # --- paths (Part A §3)
    ("path-dotdot", entries(f("../escape", [(FREE, AU)])), "skip"),
    ("path-absolute", entries(f("/abs", [(FREE, AU)])), "skip"),
    ("path-deep-escape", entries(f("good/../../up", [(FREE, AU)])), "skip"),
    ("path-dot", entries(f(".", [(FREE, AU)])), "skip"),
    ("path-dotdot-only", entries(f("..", [(FREE, AU)])), "skip"),
    ("path-empty", entries(f("", [(FREE, AU)])), "skip"),
    ("path-slash-only", entries(f("/", [(FREE, AU)])), "skip"),
    ("path-no-nul", entries(f(b"x" * 80, [(FREE, AU)])), "skip"),
    ("path-escape-dir", entries(d("../evil-dir")), "skip"),
    ("path-absolute-dir", entries(d("/etc/evil")), "skip"),
    ("path-missing-parent", entries(f("nodir/f", [(FREE, AU)])), "skip"),
    ("path-dir-over-file", entries(d(GOOD_FILE)), "skip"),
    ("path-file-under-file", entries(f(GOOD_FILE + "/x", [(FREE, AU)])), "skip"),
    ("path-file-over-dir", entries(f(GOOD_DIR, [(FREE, AU)])), "skip"),
    ("path-dup-file", entries(f(GOOD_FILE, [(FREE, AU)])), "serve"),
    ("path-dotdot-inside", entries(f("good/x/../y", [(FREE, AU)])), "serve"),
    ("path-double-slash", entries(f("good//z", [(FREE, AU)])), "serve"),
    ("path-newline", entries(f("good/new\nline", [(FREE, AU)])), "serve"),
    # --- extents (Part A §4)
    ("ext-past-end", entries(f("oob", [(G, AU)])), "skip"),
    ("ext-straddles-end", entries(f("straddle", [(G - AU, 2 * AU)])), "skip"),
    ("ext-offset-zero", entries(f("zero", [(0, AU)])), "skip"),
    ("ext-in-superblock", entries(f("insb", [(0x1000, 0x1000)])), "skip"),
    ("ext-in-log", entries(f("inlog", [(0x400000, AU)])), "skip"),
    ("ext-ends-in-log", entries(f("endlog", [(DATA_START - AU, 2 * AU)])), "skip"),
    ("ext-size-beyond", entries(f("big", [(FREE, AU)], size=4 * MiB)), "skip"),
    ("ext-wraps", entries(f("wrap", [(0xFFFFFFFFFFE00000, 4 * MiB)])), "skip"),
    ("ext-unaligned-offset", entries(f("unoff", [(FREE + 4096, AU)])), "skip"),
    ("ext-unaligned-len", entries(f("unlen", [(FREE, AU + 4096)])), "skip"),
    ("ext-zero-len", entries(f("zlen", [(FREE, 0)])), "skip"),
    ("ext-count-zero", entries(f("none", [(FREE, AU)], nextents=0)), "skip"),
    ("ext-count-17", entries(f("many", [(FREE + AU * k, AU) for k in range(16)], nextents=17)),
     "skip"),
    ("ext-count-lies", entries(f("liar", [(FREE, AU)], nextents=1000)), "skip"),
    ("ext-count-max", entries(f("u32max", [(FREE, AU)], nextents=0xFFFFFFFF)), "skip"),
    ("ext-devindex", entries(f("dev1", [(FREE, AU)], devindex=1)), "skip"),
    ("ext-unknown-type", entries(f("type7", [(FREE, AU)], ext_type=7)), "skip"),
    ("ext-size-max", entries(f("huge", [(FREE, AU)], size=(1 << 64) - 1)), "skip"),
    ("ext-crosslinked", entries(f("twin", [GOOD_EXTENT])), "serve"),
    ("ext-sixteen", entries(f("sixteen", [(FREE + AU * k, AU) for k in range(16)], size=32 * MiB)),
     "serve"),
    # --- interleave (B§4.2)
    ("il-niext-2", entries(il("il2", 4 * MiB, AU, [(FREE, AU), (FREE + AU, AU)], niext=2)),
     "skip"),
    ("il-nstrips-0", entries(il("il0", 4 * MiB, AU, [(FREE, AU)], nstrips=0)), "skip"),
    ("il-nstrips-17", entries(il("il17", 4 * MiB, AU, [(FREE + AU * k, AU) for k in range(16)],
                                 nstrips=17)), "skip"),
    ("il-nstrips-huge", entries(il("ilhuge", 4 * MiB, AU, [(FREE, AU)], nstrips=1 << 40)),
     "skip"),
    ("il-chunk-not-pow2", entries(il("ilc3", 6 * MiB, 3 * MiB, [(FREE, 6 * MiB),
                                                                (FREE + 6 * MiB, 6 * MiB)])),
     "skip"),
    ("il-chunk-zero", entries(il("ilc0", 4 * MiB, 0, [(FREE, AU), (FREE + AU, AU)])), "skip"),
    ("il-chunk-small", entries(il("ilc4k", 4 * MiB, 4096, [(FREE, AU), (FREE + AU, AU)])),
     "skip"),
    ("il-unequal", entries(il("ilneq", 4 * MiB, AU, [(FREE, AU), (FREE + AU, 2 * AU)])), "skip"),
    ("il-strip-past-end", entries(il("iloob", 4 * MiB, AU, [(FREE, AU), (G, AU)])), "skip"),
    ("il-strip-in-log", entries(il("illog", 4 * MiB, AU, [(FREE, AU), (0x400000, AU)])), "skip"),
    ("il-size-beyond", entries(il("ilbig", 8 * MiB, AU, [(FREE, AU), (FREE + AU, AU)])), "skip"),
    ("il-good", entries(il("ilok", 8 * MiB, AU, [(FREE, 2 * AU), (FREE + 2 * AU, 2 * AU)])),
     "serve"),
    # --- entry types
    ("type-delete", entries(lambda s: raw_typed(s, 2, b"victim")), "ignore"),
    ("type-add-daxdev", entries(lambda s: raw_typed(s, 3, struct.pack("<Q", 1 << 40))), "ignore"),
    ("type-invalid", entries(lambda s: raw_typed(s, 4)), "ignore"),
    ("type-unknown", entries(lambda s: raw_typed(s, 0xDEADBEEF)), "ignore"),
    ("mode-odd-bits", entries(f("suid", [(FREE, AU)], mode=0o177777, uid=0xFFFFFFFF,
                                gid=0xFFFFFFFF)), "serve"),
    ("flags-odd", entries(f("oddflags", [(FREE, AU)], flags=0xFFFFFFFF)), "serve"),
    # --- log damage (Part A §5)
    ("log-bad-crc", corrupt_slot(flip(100)), "damage"),
    ("log-crc-field", corrupt_slot(flip(536)), "damage"),
    ("log-wrong-seqnum", corrupt_slot(wrong_seq), "damage"),
    ("log-next-past-written", next_past_written, "damage"),
    ("log-header-magic", header(0, "<Q", 0x1234), "refuse-or-damage"),
    ("log-header-crc", header(24, "<Q", 0x1234), "refuse-or-damage"),
    ("log-header-len", header(8, "<Q", 16 * MiB, reseal=True), "refuse-or-damage"),
    ("log-header-last-index", header(16, "<Q", 7, reseal=True), "refuse-or-damage"),
    # --- superblock (B§2.1)
    ("sb-no-magic", superblock(magic=0), "refuse"),
    ("sb-bad-crc", sb_bytes(96, struct.pack("<Q", 0xBAD), reseal=False), "refuse"),
    ("sb-version", superblock(version=99), "refuse"),
    ("sb-alloc-unit", superblock(alloc_unit=12345), "refuse"),
    ("sb-log-offset", superblock(log_offset=0x400000), "refuse"),
    ("sb-log-len-odd", superblock(log_len=12 * MiB), "refuse"),
    ("sb-log-len-huge", superblock(log_len=1 << 40), "refuse"),
    ("sb-version-47", superblock(version=47), "serve"),
    ("sb-dd-size-small", dd_size(DATA_START + 2 * AU), "serve"),
    ("sb-dd-size-zero", dd_size(0), "refuse-or-damage"),
    ("sb-daxdev-no-nul", sb_bytes(136, b"\xff" * 64, reseal=False), "serve"),
    ("image-truncated", truncate_to(64 * MiB), "serve"),
    ("image-shorter-than-log", truncate_to(4 * MiB), "refuse"),
]

# Known defects (issue 8): kept out of CASES; test_trust_hostile_images.py holds each as a
# strict xfail, so fixing one without updating the test fails the suite.
DEFECT_CASES = {
    "defect8-file-under-meta": (8, entries(f(".meta/evil", [(FREE, AU)]))),
    "defect8-dir-under-meta": (8, entries(d(".meta/d"))),
    "defect11-next-seqnum-differs": (11, lambda img: img.at_end(header(32, "<Q", 999))),
    "defect11-next-index-past-log": (11, lambda img: img.at_end(header(40, "<Q", 1 << 20))),
}


def make_base(path):
    """mkfs.famfs, then the good prefix: good/, good/ok.bin (payload at DATA_START)."""
    h = fh.Host("hostile-mkfs")
    h.mkfs(path)
    omf.write_at(path, DATA_START, payload())
    omf.append_entries(path, [omf.mkdir_entry(0, GOOD_DIR),
                              omf.file_entry(1, GOOD_FILE, PAYLOAD_SIZE, [GOOD_EXTENT])])


def build_case(base, path, builder):
    omf.sparse_copy(base, path)
    omf.write_at(path, DATA_START, payload())
    img = CaseImage(path)
    builder(img)
    if os.path.getsize(path) > omf.LOG_OFFSET + LOG_LEN:
        try:   # one good entry after the hostile part: replay must go on past a skip
            if omf.log_header(path)["magic"] == omf.LOG_MAGIC:
                img.append(lambda s: omf.mkdir_entry(s, GOOD_AFTER))
        except (OSError, struct.error):
            pass
    for b in img.last:
        b(img)
    return img


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hostile_images.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "base.img")
    with open(base, "wb") as fd:
        fd.truncate(G)
    make_base(base)
    for name, builder, _ in CASES:
        build_case(base, os.path.join(out, name + ".img"), builder)
    print("%d images in %s" % (len(CASES), out))
    fh.cleanup_all()


if __name__ == "__main__":
    main()
