#!/usr/bin/python3
"""Host-side byte checks of a famfs file system inside a vmlab pool file (spec B§1, B§2, B§3).

The pool file is the NVDIMM backing store of the guests: ndctl's devdax info block sits at file
offset 0x1000 and dax offset 0 is pool file offset `dataoff` (read from the info block; 0x200000
with vmlab pools). Everything here reads the pool file only: no guest is involved.

  check_pool.py POOL [--system-uuid U] [--devpath /dev/dax0.0] [--entries N] [--fresh]
                     [--json OUT] [--list] [--upstream] [--image]

POOL may also be a famfs image file (superblock at file offset 0; detected, or --image): the same
checks then run on the image.

Prints one line per check ("ok: ..." or "FAIL: ..."), then `fs_uuid=<uuid>` and exits 1 if any
check failed. --fresh: the file system was just made (empty log: next_index 0, all slots zero).
--entries N: next_index must be N and every entry 0..N-1 must be valid (seqnum, CRC, type,
path, extents). --list prints the entries (type, mode, size, path). --json writes a summary.
"""
import argparse
import json
import mmap
import struct
import sys
import uuid
import zlib

MIB = 1 << 20
SB_MAGIC = 0x87B282FF
LOG_MAGIC = 0x00000BADCAFEF00D
ENTRY_SIZE = 544
LOG_HDR = 48

failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok: {what}")
    else:
        failures += 1
        print(f"FAIL: {what}" + (f" ({detail})" if detail else ""))
    return cond


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def u64(b, off):
    return struct.unpack_from("<Q", b, off)[0]


def u32(b, off):
    return struct.unpack_from("<I", b, off)[0]


def uuid_at(b, off):
    # On-media byte i is the i-th hex pair of the canonical text (no byte swapping): uuid.UUID(bytes=)
    return str(uuid.UUID(bytes=bytes(b[off:off + 16])))


def self_test():
    # B§0 / B§11 vectors: guards against a broken checker, not against famfs.
    assert crc(b"123456789") == 0xCBF43926
    sb = struct.pack("<QQQQQII", SB_MAGIC, 48, 0x200000, 0x800000, 0x200000, 2, 2)
    sb += bytes(range(0x00, 0x30))
    assert crc(sb) == 0x5EFF8A3A, hex(crc(sb))
    hdr = struct.pack("<QQQ", LOG_MAGIC, 0x800000, 15419)
    assert crc(hdr) == 0xA5875078
    assert crc(bytes(536)) == 0x11E5C2A9


def cstr(b):
    return bytes(b).split(b"\0", 1)[0].decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    ap.add_argument("--system-uuid", help="expected ts_system_uuid (the master's identity)")
    ap.add_argument("--fs-uuid", help="expected ts_uuid")
    ap.add_argument("--devpath", default="/dev/dax0.0", help="expected dd_daxdev")
    ap.add_argument("--entries", type=int, help="expected next_index (and validate those entries)")
    ap.add_argument("--fresh", action="store_true", help="just made by mkfs: empty, zeroed log")
    ap.add_argument("--json", help="write a summary here")
    ap.add_argument("--list", action="store_true", help="print the log entries")
    ap.add_argument("--image", action="store_true", help="POOL is a famfs image file (device offset 0 = file offset 0)")
    ap.add_argument("--upstream", action="store_true",
                    help="made by upstream famfs: skip this project's A§1 extras (sb_flags, dd_uuid); dd_size <= device")
    a = ap.parse_args()
    self_test()

    # The pool is a sparse multi-GiB tmpfs file: map it rather than read it.
    with open(a.pool, "rb") as f:
        pool = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return run(a, pool)


def run(a, pool):
    info = pool[0x1000:0x1000 + 4096]
    if a.image or (pool[0:8] == struct.pack("<Q", SB_MAGIC) and info[:15] != b"NVDIMM_DAX_INFO"):
        dataoff = 0  # a famfs image file (device byte 0 = file byte 0): the same checks
        print("image file: device offset 0 = file offset 0")
    else:
        if not check(info[:15] == b"NVDIMM_DAX_INFO", "pool has the devdax info block at 0x1000"):
            return 1
        dataoff = u64(info, 56)
        check(dataoff == 0x200000, "dax offset 0 = pool file offset 0x200000", hex(dataoff))
    devsize = len(pool) - dataoff
    dev = memoryview(pool)[dataoff:]
    print(f"pool {a.pool}: {len(pool)} bytes, device {devsize} bytes ({devsize // MIB} MiB)")

    # ---------------------------------------------------------------- superblock (B§2)
    sb = dev[:200]
    magic, version, log_off, log_len, au = struct.unpack_from("<QQQQQ", sb, 0)
    omf_major, omf_minor = struct.unpack_from("<II", sb, 40)
    fs_uuid, dev_uuid, sys_uuid = uuid_at(sb, 48), uuid_at(sb, 64), uuid_at(sb, 80)
    ts_crc = u64(sb, 96)
    sb_flags = u32(sb, 104)
    dd_size = u64(sb, 112)
    dd_uuid = uuid_at(sb, 120)
    dd_daxdev = bytes(sb[136:200])
    check(bytes(sb[0:8]) == bytes.fromhex("ff82b28700000000"), "superblock magic bytes ff 82 b2 87 00 00 00 00",
          bytes(sb[0:8]).hex(" "))
    check(version == 48, "ts_version 48", str(version))
    check(log_off == 0x200000, "ts_log_offset 0x200000", hex(log_off))
    check(log_len >= 8 * MIB and log_len & (log_len - 1) == 0, "ts_log_len is a power of 2 >= 8 MiB", hex(log_len))
    check(au == 0x200000, "ts_alloc_unit 0x200000", hex(au))
    check((omf_major, omf_minor) == (2, 2), "OMF 2.2", f"{omf_major}.{omf_minor}")
    check(ts_crc >> 32 == 0, "ts_crc upper 32 bits are zero", hex(ts_crc))
    check(ts_crc == crc(sb[0:96]), "ts_crc = crc32(superblock bytes [0,96))",
          f"stored {ts_crc:#x}, computed {crc(sb[0:96]):#x}")
    if not a.upstream:
        check(sb_flags == 1, "ts_sb_flags = 1 (PRIMARY)", str(sb_flags))
    check(bytes(sb[108:112]) == bytes(4), "superblock pad [108,112) is zero", bytes(sb[108:112]).hex())
    if a.upstream:
        check(0 < dd_size <= devsize, "dd_size <= the device size", f"{dd_size} vs {devsize}")
    else:
        check(dd_size == devsize, "dd_size = the device size", f"{dd_size} vs {devsize}")
        check(dd_uuid == dev_uuid, "dd_uuid = ts_dev_uuid", f"{dd_uuid} vs {dev_uuid}")
    want = a.devpath.encode()[:64].ljust(64, b"\0")
    check(dd_daxdev == want, f"dd_daxdev = {a.devpath!r}, zero-padded", repr(dd_daxdev.rstrip(b'\0')))
    check(fs_uuid != dev_uuid and fs_uuid != str(uuid.UUID(int=0)), "ts_uuid is set and differs from ts_dev_uuid")
    if a.system_uuid:
        check(sys_uuid == a.system_uuid.lower(), "ts_system_uuid = the mkfs host's /opt/famfs/system_uuid",
              f"{sys_uuid} vs {a.system_uuid}")
    if a.fs_uuid:
        check(fs_uuid == a.fs_uuid.lower(), "ts_uuid as expected", f"{fs_uuid} vs {a.fs_uuid}")
    if a.fresh:
        rest = bytes(dev[200:0x200000])
        nz = len(rest) - len(rest.lstrip(b"\0")) + 200
        check(rest == bytes(len(rest)), "superblock region beyond byte 200 is zero after mkfs",
              f"first non-zero byte at device offset {nz:#x}")

    if magic != SB_MAGIC or not (log_len >= 8 * MIB and log_len & (log_len - 1) == 0) or 0x200000 + log_len >= devsize:
        print("no usable superblock: the log is not checked")
        print(f"{failures} CHECK(S) FAILED")
        return 1

    # ---------------------------------------------------------------- log header (B§3.1)
    log = dev[0x200000:0x200000 + log_len]
    check(len(log) == log_len and 0x200000 + log_len < devsize, "the log fits on the device")
    lmagic, llen, last_index, lcrc, next_seq, next_index = struct.unpack_from("<QQQQQQ", log, 0)
    slots = (log_len - LOG_HDR) // ENTRY_SIZE
    check(bytes(log[0:8]) == bytes.fromhex("0df0fecaad0b0000"), "log magic bytes 0d f0 fe ca ad 0b 00 00",
          bytes(log[0:8]).hex(" "))
    check(llen == log_len, "famfs_log_len = ts_log_len", f"{llen:#x} vs {log_len:#x}")
    check(last_index == slots - 1, f"famfs_log_last_index = floor((len-48)/544)-1 = {slots - 1}", str(last_index))
    check(lcrc >> 32 == 0, "log crc upper 32 bits are zero", hex(lcrc))
    check(lcrc == crc(log[0:24]), "famfs_log_crc = crc32(log header bytes [0,24))",
          f"stored {lcrc:#x}, computed {crc(log[0:24]):#x}")
    if log_len == 8 * MIB:
        check(lcrc == 0xA5875078, "8 MiB log header CRC = 0xA5875078 (B§11 vector)", hex(lcrc))
    check(next_seq == next_index, "next_seqnum = next_index", f"{next_seq} vs {next_index}")
    check(next_index <= last_index + 1, "next_index <= last_index + 1", str(next_index))
    if a.fresh:
        check(next_index == 0, "fresh log: next_index 0", str(next_index))
        body = log[LOG_HDR:]
        check(bytes(body) == bytes(len(body)), "fresh log: every slot (and the tail) is zero")
    if a.entries is not None:
        check(next_index == a.entries, f"next_index = {a.entries}", str(next_index))

    # ---------------------------------------------------------------- entries (B§3.2)
    entries = []
    data_start = 0x200000 + log_len
    for i in range(min(next_index, last_index + 1)):
        e = log[LOG_HDR + ENTRY_SIZE * i:LOG_HDR + ENTRY_SIZE * (i + 1)]
        seq, etype = u64(e, 0), u32(e, 8)
        ecrc = u64(e, 536)
        ok = check(seq == i and ecrc == crc(e[0:536]) and bytes(e[12:16]) == bytes(4),
                   f"entry {i}: seqnum, pad and CRC", f"seq {seq}, crc {ecrc:#x} vs {crc(e[0:536]):#x}")
        item = {"index": i, "type": etype, "valid": ok}
        if etype == 1:  # MKDIR
            uid, gid, mode = struct.unpack_from("<III", e, 16)
            item.update(kind="dir", path=cstr(e[28:108]), mode=mode, uid=uid, gid=gid)
            check(not any(e[108:536]), f"entry {i}: MKDIR unused union bytes are zero")
        elif etype == 0:  # FILE
            size, flags, uid, gid, mode = struct.unpack_from("<QIIII", e, 16)
            ext_type, n = u32(e, 120), u32(e, 128)
            item.update(kind="file", path=cstr(e[40:120]), size=size, mode=mode, uid=uid, gid=gid,
                        flags=flags, ext_type=ext_type)
            exts = []
            if ext_type == 0:
                exts = [struct.unpack_from("<QQQ", e, 136 + 24 * k) for k in range(min(n, 16))]
                check(not any(e[136 + 24 * min(n, 16):536]), f"entry {i}: unused extent slots are zero")
            elif ext_type == 1:
                nstrips, chunk = u64(e, 136), u64(e, 144)
                exts = [struct.unpack_from("<QQQ", e, 152 + 24 * k) for k in range(min(nstrips, 16))]
                item["chunk_size"] = chunk
            item["extents"] = [[d, hex(o), hex(ln)] for d, o, ln in exts]
            good = 1 <= len(exts) <= 16 and all(
                d == 0 and o % au == 0 and ln % au == 0 and ln > 0 and o >= data_start and o + ln <= min(dd_size, devsize)
                for d, o, ln in exts) and sum(ln for _, _, ln in exts) >= size
            check(good, f"entry {i}: FILE extents are AU-aligned, inside the data area, cover the size",
                  str(item["extents"]))
            check(not any(e[12:16]) and (ext_type == 1 or not any(e[124:128]) and not any(e[132:136])),
                  f"entry {i}: FILE padding is zero")
        else:
            item.update(kind=f"type{etype}")
        entries.append(item)
        if a.list:
            print(f"  entry {i}: {item.get('kind')} {oct(item.get('mode', 0))} "
                  f"{item.get('size', '-')} {item.get('path')}")

    print(f"fs_uuid={fs_uuid}")
    print(f"system_uuid={sys_uuid}")
    print(f"next_index={next_index}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"fs_uuid": fs_uuid, "dev_uuid": dev_uuid, "system_uuid": sys_uuid, "dd_size": dd_size,
                       "log_len": log_len, "next_index": next_index, "entries": entries}, f, indent=1)
    print(f"{'ALL OK' if failures == 0 else f'{failures} CHECK(S) FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
