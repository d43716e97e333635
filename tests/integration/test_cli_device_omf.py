"""On-media helpers for the device CLI tests (mkfs.famfs, famfs fsck): read the superblock and
log header of an image and forge log entries, straight from spec Part B (struct.unpack and
zlib.crc32), independently of the C++ code under test. Holds no tests itself."""

import os
import struct
import zlib

MiB = 1 << 20
GiB = 1 << 30
SB_MAGIC = 0x87B282FF
LOG_MAGIC = 0x00000BADCAFEF00D
LOG_OFFSET = 0x200000
AU = 0x200000
ENTRY_SIZE = 544
HEADER_SIZE = 48


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def write_at(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def superblock(path):
    """B§2: the 200-byte superblock as a dict (plus the raw bytes)."""
    b = read_at(path, 0, 200)
    (magic, version, log_offset, log_len, alloc_unit, omf_major, omf_minor) = struct.unpack_from(
        "<QQQQQII", b, 0)
    crc, sb_flags, pad, dd_size = struct.unpack_from("<QIIQ", b, 96)
    return {
        "raw": b, "magic": magic, "version": version, "log_offset": log_offset,
        "log_len": log_len, "alloc_unit": alloc_unit, "omf_major": omf_major,
        "omf_minor": omf_minor, "uuid": b[48:64], "dev_uuid": b[64:80],
        "system_uuid": b[80:96], "crc": crc, "sb_flags": sb_flags, "pad": pad,
        "dd_size": dd_size, "dd_uuid": b[120:136], "dd_daxdev": b[136:200],
    }


def reseal_superblock(path, **fields):
    """Rewrite superblock fields (by name: version, log_len, alloc_unit, system_uuid bytes) and
    recompute the CRC over [0, 96)."""
    b = bytearray(read_at(path, 0, 200))
    offs = {"magic": 0, "version": 8, "log_offset": 16, "log_len": 24, "alloc_unit": 32}
    for k, v in fields.items():
        if k == "system_uuid":
            b[80:96] = v
        else:
            struct.pack_into("<Q", b, offs[k], v)
    struct.pack_into("<Q", b, 96, zlib.crc32(bytes(b[0:96])))
    write_at(path, 0, bytes(b))


def log_header(path):
    b = read_at(path, LOG_OFFSET, HEADER_SIZE)
    magic, length, last_index, crc, next_seq, next_index = struct.unpack("<6Q", b)
    return {"raw": b, "magic": magic, "len": length, "last_index": last_index, "crc": crc,
            "next_seqnum": next_seq, "next_index": next_index}


def set_next(path, n):
    """Set next_seqnum = next_index = n (not CRC-covered, B§3.1)."""
    write_at(path, LOG_OFFSET + 32, struct.pack("<QQ", n, n))


def slot_offset(i):
    return LOG_OFFSET + HEADER_SIZE + ENTRY_SIZE * i


def _seal(body, seq):
    body = bytearray(body)
    struct.pack_into("<Q", body, 0, seq)
    crc = zlib.crc32(bytes(body[0:536]))
    struct.pack_into("<Q", body, 536, crc)
    return bytes(body)


def mkdir_entry(seq, relpath, mode=0o755, uid=0, gid=0):
    """B§3.2 MKDIR entry, sealed for slot `seq`."""
    e = bytearray(ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 1, 0)
    struct.pack_into("<III", e, 16, uid, gid, mode)
    p = relpath.encode()
    e[28:28 + len(p)] = p
    return _seal(e, seq)


def file_entry(seq, relpath, size, extents, mode=0o644, uid=0, gid=0, flags=2):
    """B§3.2 FILE entry with SIMPLE extents [(offset, len), ...], sealed for slot `seq`."""
    e = bytearray(ENTRY_SIZE)
    struct.pack_into("<QII", e, 0, seq, 0, 0)
    struct.pack_into("<QIIII", e, 16, size, flags, uid, gid, mode)
    p = relpath.encode()
    e[40:40 + len(p)] = p
    struct.pack_into("<IIII", e, 120, 0, 0, len(extents), 0)
    for k, (off, ln) in enumerate(extents):
        struct.pack_into("<QQQ", e, 136 + 24 * k, 0, off, ln)
    return _seal(e, seq)


def append_entries(path, entries):
    """Write sealed entries at slots next_index.. and bump the header (a master's append)."""
    n = log_header(path)["next_index"]
    for i, e in enumerate(entries):
        assert struct.unpack_from("<Q", e, 0)[0] == n + i, "entry sealed for the wrong slot"
        write_at(path, slot_offset(n + i), e)
    set_next(path, n + len(entries))


def flip_byte(path, off):
    b = read_at(path, off, 1)
    write_at(path, off, bytes([b[0] ^ 0xFF]))


def sparse_copy(src, dst, meta_bytes=None):
    """Copy an image's superblock + log (all a fresh or forged image holds) into a sparse file
    of the same size; everything beyond is zero in both."""
    size = os.path.getsize(src)
    if meta_bytes is None:
        meta_bytes = LOG_OFFSET + superblock(src)["log_len"]
    with open(dst, "wb") as f:
        f.truncate(size)
        f.write(read_at(src, 0, meta_bytes))
    return dst
