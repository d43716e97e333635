#!/bin/bash
# Host-only control for check_pool.py (no guest): a pool made from an image that our mkfs.famfs
# formatted passes; each single-byte corruption the checker claims to catch makes it fail.
. "$(dirname "$0")/lib.sh"
VM_TEST=checker
trap vm_cleanup EXIT
[[ -x $VM_PYTHON ]] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 >/dev/null || exit 1; }
MKFS=$FAMFS_BUILD_DIR/src/cli/mkfs.famfs
[[ -x $MKFS ]] || { echo "FAIL: $MKFS is not built"; exit 1; }
VM_WORK=$(mktemp -d /dev/shm/famfs-vm-checker.XXXXXX) || exit 1
echo $$ >"$VM_WORK/vm.pid"
IMG=$VM_WORK/dev.img POOL=$VM_WORK/pool.img
truncate -s $((4110 << 20)) "$IMG"
FAMFS_SYSTEM_UUID_FILE=$VM_WORK/uuid "$MKFS" "$IMG" >/dev/null || { echo "FAIL: mkfs.famfs $IMG"; exit 1; }
SYS=$(tr -d '\0\n ' <"$VM_WORK/uuid")
mkpool() { # a vmlab-like pool: devdax info block at 0x1000 (dataoff at +56 = 0x200000), image at 0x200000
  truncate -s 0 "$POOL"; truncate -s $((4112 << 20)) "$POOL"
  "$VM_PYTHON" - "$IMG" "$POOL" <<'PY'
import os, struct, sys
s, d = open(sys.argv[1], "rb"), os.open(sys.argv[2], os.O_WRONLY)
os.pwrite(d, b"NVDIMM_DAX_INFO", 0x1000); os.pwrite(d, struct.pack("<Q", 0x200000), 0x1000 + 56)
os.pwrite(d, s.read(0x200000 + 0x800000 + 4096), 0x200000)
PY
}
poke() { # poke DAXOFF BYTE: overwrite one byte of the device in the pool
  printf "$(printf '\\x%02x' "$2")" | dd of="$POOL" bs=1 seek=$((0x200000 + $1)) conv=notrunc status=none
}
expect() { # expect RC WHAT ARGS...
  local want=$1 what=$2 rc; shift 2
  "$VM_PYTHON" "$VM_HERE/check_pool.py" "$POOL" "$@" >"$VM_WORK/out.txt" 2>&1; rc=$?
  if [[ $rc == "$want" ]]; then echo "ok: $what (exit $rc$( ((rc)) && echo ": $(grep -m1 FAIL "$VM_WORK/out.txt")"))"
  else echo "FAIL: $what (exit $rc, want $want)"; cat "$VM_WORK/out.txt"; VM_FAIL=1; fi
}
A=(--fresh --system-uuid "$SYS" --devpath "$IMG")
mkpool; expect 0 "a freshly made file system passes" "${A[@]}"
POOL_SAVE=$POOL POOL=$IMG; expect 0 "the image itself passes the same checks (device offset 0 = file offset 0)" "${A[@]}"; POOL=$POOL_SAVE
expect 1 "a wrong expected system UUID is caught" --fresh --system-uuid 00000000-0000-0000-0000-000000000001 --devpath "$IMG"
expect 1 "a wrong expected device path is caught" --fresh --system-uuid "$SYS" --devpath /dev/dax0.0
mkpool; poke 0 0xfe; expect 1 "superblock magic" "${A[@]}"
mkpool; poke 8 47; expect 1 "version 47" "${A[@]}"
mkpool; poke 50 0x55; expect 1 "a UUID byte (CRC mismatch)" "${A[@]}"
mkpool; poke 100 1; expect 1 "ts_crc upper half" "${A[@]}"
mkpool; poke 104 0; expect 1 "ts_sb_flags" "${A[@]}"
mkpool; poke 109 1; expect 1 "superblock pad" "${A[@]}"
mkpool; poke 121 0x77; expect 1 "dd_uuid" "${A[@]}"
mkpool; poke 300 1; expect 1 "a byte beyond the superblock struct" "${A[@]}"
mkpool; poke $((0x200000)) 0; expect 1 "log magic" "${A[@]}"
mkpool; poke $((0x200000 + 16)) 0; expect 1 "log last_index (CRC)" "${A[@]}"
mkpool; poke $((0x200000 + 40)) 1; expect 1 "next_index without next_seqnum" "${A[@]}"
mkpool; poke $((0x200000 + 48 + 544 * 3 + 7)) 1; expect 1 "a byte in an unused log slot" "${A[@]}"
# Entries forged here (the byte layout of spec B§3.2): slot 0 MKDIR "d", slot 1 FILE "d/f" (one 2 MiB
# extent in the data area); next_seqnum = next_index = 2. Then break one thing at a time.
forge() { # forge [FILE-EXTENT-OFFSET]
  mkpool
  "$VM_PYTHON" - "$POOL" "${1:-$((0x200000 + 0x800000))}" <<'PY'
import os, struct, sys, zlib
d, ext = os.open(sys.argv[1], os.O_RDWR), int(sys.argv[2])
log = 0x200000 + 0x200000  # pool offset of the log (dax 0x200000)
def put(slot, body):
    e = bytearray(544); e[:len(body)] = body
    struct.pack_into("<Q", e, 536, zlib.crc32(bytes(e[:536])))
    os.pwrite(d, bytes(e), log + 48 + 544 * slot)
put(0, struct.pack("<QI4xIII", 0, 1, 0, 0, 0o755) + b"d\0")
f = bytearray(struct.pack("<QI4xQIIII", 1, 0, 4096, 2, 0, 0, 0o644))
f += b"d/f".ljust(80, b"\0") + struct.pack("<I4xI4x", 0, 1) + struct.pack("<QQQ", 0, ext, 0x200000)
put(1, f)
os.pwrite(d, struct.pack("<QQ", 2, 2), log + 32)
PY
}
E=(--entries 2 --system-uuid "$SYS" --devpath "$IMG")
forge; expect 0 "a log with a valid MKDIR and FILE entry passes (--entries 2)" "${E[@]}"
forge; expect 1 "the wrong expected entry count is caught" --entries 3 --system-uuid "$SYS" --devpath "$IMG"
forge; poke $((0x200000 + 48 + 30)) 0x41; expect 1 "an entry byte changed after its CRC" "${E[@]}"
forge; poke $((0x200000 + 48 + 544)) 7; expect 1 "an entry seqnum" "${E[@]}"
forge $((0x200000 + 0x800000 + 4096)); expect 1 "a FILE extent not aligned to the 2 MiB unit" "${E[@]}"
forge $((0x200000)); expect 1 "a FILE extent inside the log" "${E[@]}"
forge $((4110 << 20)); expect 1 "a FILE extent (aligned) past the device end" "${E[@]}"
vm_done
