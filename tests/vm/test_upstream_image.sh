#!/bin/bash
# VM test: a file system made by UPSTREAM famfs (../shared/fixtures/upstream-basic, OMF 2.2) on a
# REAL /dev/dax0.0. Guest M takes the upstream master's identity, guest C is a client:
#   C: fsck (role Client, 8 entries, 5 files, 3 directories), mount, every file's sha256 = MANIFEST,
#      famfs verify of the seeded files;  M: mount as master, same checks, then appends 3 entries;
#   C sees them with no command and reads the same bytes. Host: the pool's log has 11 valid
#   entries and the 8 upstream entries and the superblock are byte-for-byte unchanged.
. "$(dirname "$0")/lib.sh"
FIX=${FAMFS_FIXTURES_DIR:-$FAMFS_SOURCE_DIR/../shared/fixtures}/upstream-basic
if [[ ! -f $FIX/upstream-basic.img.tar.xz || ! -f $FIX/MANIFEST ]]; then
  echo "SKIP: upstream fixture not found ($FIX; set FAMFS_FIXTURES_DIR)"
  exit 77
fi
UP_MASTER=f2eee19b-6c47-4dfd-af58-fc1b0113599a # the fixture's ts_system_uuid (MANIFEST)
vm_init upstream-image
vm_stage mkfs.famfs famfs famfs-fused
vm_pool POOL 4112M
mkdir -p "$VM_WORK/fx"
tar -xSJf "$FIX/upstream-basic.img.tar.xz" -C "$VM_WORK/fx" || { echo "FAIL: cannot extract the fixture"; exit 1; }
IMG=$VM_WORK/fx/upstream-basic.img
# The image is device byte 0..4 GiB: copy its data extents to pool offset 0x200000 (dax offset 0)
"$VM_PYTHON" - "$IMG" "$POOL" <<'PY' || { echo "FAIL: cannot copy the image into the pool"; exit 1; }
import os, sys
s, d = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_WRONLY)
end, pos = os.fstat(s).st_size, 0
while pos < end:
    try:
        pos = os.lseek(s, pos, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(s, pos, os.SEEK_HOLE)
    while pos < hole:
        b = os.pread(s, min(hole - pos, 1 << 20), pos)
        os.pwrite(d, b, 0x200000 + pos)
        pos += len(b)
PY
# MANIFEST: "  path  size  seed  sha256"
awk 'NF == 4 && length($4) == 64 && $4 ~ /^[0-9a-f]+$/ {print $4 "  ./" $1}' "$FIX/MANIFEST" | sort -k2 >"$VM_WORK/manifest.sums"
awk 'NF == 4 && length($4) == 64 && $3 ~ /^[0-9]+$/ {print $1, $3}' "$FIX/MANIFEST" >"$VM_SHARE/seeds"
check "$(wc -l <"$VM_WORK/manifest.sums") $(wc -l <"$VM_SHARE/seeds")" "5 4" "MANIFEST lists 5 files with their sha256, 4 of them with a seed"

COMMON='
M=/mnt/famfs
fail() { echo "FAIL($(hostname)): $*"; vmsync abort "$*"; cd /; famfs umount $M 2>/dev/null || umount $M 2>/dev/null; exit 1; }
sums() { (cd $M && find . -path ./.meta -prune -o -type f -print | sort | xargs sha256sum); }
run() { n=$1; shift; "$@" >out/$n.txt 2>&1; rc=$?; echo $rc >out/$n.rc; [ $rc = 0 ] || { echo "-- $n: $* -> exit $rc"; cat out/$n.txt; }; return $rc; }
verify_seeds() { bad=0; while read -r f s; do famfs verify -S $s -f $M/$f || bad=1; done </host/seeds; return $bad; }
mkdir -p $M'
vm_start famfs-up-m "$POOL" "$COMMON"'
  printf "%s" '"$UP_MASTER"' >/opt/famfs/system_uuid   # this host is the upstream master
  famfs fsck --json /dev/dax0.0 >out/fsck-m.json
  run mount-m famfs mount /dev/dax0.0 $M || fail "famfs mount (master)"
  daxmark xattr $M user.famfs.role >out/role-m
  sums >out/sums-m
  run verify-m verify_seeds
  vmsync wait c-mounted 120 || fail "C did not mount"
  run creat-m famfs creat -s 1m -r -S 77 $M/data/ours.bin || fail "famfs creat on the upstream fs"
  run mkdir-m famfs mkdir $M/ours || fail "famfs mkdir"
  run cp-m famfs cp /host/bin/mkfs.famfs $M/ours/mkfs.famfs || fail "famfs cp"
  sums >out/sums2-m
  vmsync post appended
  vmsync wait c-done 120 || fail "C did not finish"
  run umount-m famfs umount $M || fail "famfs umount"
  exit 0'
vm_start famfs-up-c "$POOL" "$COMMON"'
  famfs fsck /dev/dax0.0 >out/fsck-c.txt 2>&1; echo $? >out/fsck-c.rc; cat out/fsck-c.txt
  run mount-c famfs mount /dev/dax0.0 $M || fail "famfs mount (client)"
  daxmark xattr $M user.famfs.role >out/role-c
  sums >out/sums-c
  run verify-c verify_seeds
  vmsync post c-mounted
  vmsync until 60 test -e $M/ours/mkfs.famfs | tee out/appear-c.txt
  vmsync wait appended 120 || fail "M did not append"
  sums >out/sums2-c
  run verify77-c famfs verify -S 77 -f $M/data/ours.bin
  run cmp-c cmp $M/ours/mkfs.famfs /host/bin/mkfs.famfs
  vmsync post c-done
  run umount-c famfs umount $M || fail "famfs umount (client)"
  exit 0'
vm_wait
check "${VM_RC[famfs-up-m]}" 0 "guest M (upstream master identity) ran every step"
check "${VM_RC[famfs-up-c]}" 0 "guest C (client) ran every step"

echo "-- the upstream file system as found"
check "$(out fsck-c.rc)" 0 "C: famfs fsck of the upstream-made device"
check_grep "role of this node: Client" fsck-c.txt "C: role Client"
check_grep "# of log entries in use: 8 of 15420" fsck-c.txt "C: 8 log entries"
check_grep "^  5 files" fsck-c.txt "C: 5 files"
check_grep "^  3 directories" fsck-c.txt "C: 3 directories"
check_json fsck-m.json "j['role'] == 'master' and j['system_uuid'] == '$UP_MASTER' and j['files'] == 5 and j['clean'] is True" \
  "M: fsck --json: role master (upstream's identity), 5 files, clean"
check "$(out role-m)" master "M: user.famfs.role = master"
check "$(out role-c)" client "C: user.famfs.role = client"
check "$(out sums-c)" "$(cat "$VM_WORK/manifest.sums")" "C: every file's sha256 matches the MANIFEST"
check "$(out sums-m)" "$(cat "$VM_WORK/manifest.sums")" "M: every file's sha256 matches the MANIFEST"
check "$(out verify-c.rc)" 0 "C: famfs verify of the 4 files upstream filled with seeds"
check "$(out verify-m.rc)" 0 "M: famfs verify of the seeded files"

echo "-- appended by our master to upstream's log"
check "$(out creat-m.rc)$(out mkdir-m.rc)$(out cp-m.rc)" 000 "M: famfs creat, mkdir, cp on the upstream file system"
check_grep "after [0-9.]+s" appear-c.txt "C: the appended entries appeared with no command"
sed 's/^/    /' "$VM_SHARE/out/appear-c.txt" 2>/dev/null
check "$(out sums2-c)" "$(out sums2-m)" "C reads the same bytes as M after the appends"
check "$(out verify77-c.rc)" 0 "C: famfs verify -S 77 of the appended file"
check "$(out cmp-c.rc)" 0 "C: the copied file is byte-identical to its source"
check "$(out umount-m.rc)$(out umount-c.rc)" 00 "famfs umount on both"

echo "-- host: the pool file"
check_pool "$POOL" --upstream --entries 11 --system-uuid "$UP_MASTER" --list
same=$("$VM_PYTHON" - "$IMG" "$POOL" <<'PY'
import sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
def rd(f, off, n): f.seek(off); return f.read(n)
sb = rd(a, 0, 4096) == rd(b, 0x200000, 4096)
hdr = rd(a, 0x200000, 32) == rd(b, 0x400000, 32)
ents = rd(a, 0x200000 + 48, 544 * 8) == rd(b, 0x400000 + 48, 544 * 8)
print("same" if sb and hdr and ents else f"changed: superblock page {sb}, header {hdr}, entries {ents}")
PY
)
check "$same" same "the superblock page, the log header (magic, len, last_index, CRC) and upstream's 8 entries are unchanged"
vm_done
