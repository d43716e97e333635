#!/bin/bash
# VM test: two hosts mount the same REAL /dev/dax0.0 (guest A = master, guest B = client) and read
# the same files byte for byte; entries appended on A while both are mounted appear on B with no
# command. Host side: the pool file's log holds exactly those entries, all valid.
#   A: mkfs, mount, mkdir + creat -r + cp (phase 1)  ->  B: mount as client, compare, verify, mmap
#   A: mkdir -p + creat -r + cp while B is mounted (phase 2)  ->  B: they appear by themselves
. "$(dirname "$0")/lib.sh"
vm_init two-hosts
vm_stage mkfs.famfs famfs famfs-fused
vm_pool POOL 4112M
head -c 5000 /dev/urandom >"$VM_SHARE/r5000"

# Both guests: `fail` tells the other guest to stop waiting; `tree` lists name, size, mode, owner
# and type of everything but .meta; `sums` is sha256 of every regular file (read(2) through FUSE).
COMMON='
M=/mnt/famfs
fail() { echo "FAIL($(hostname)): $*"; vmsync abort "$*"; cd /; famfs umount $M 2>/dev/null || umount $M 2>/dev/null; exit 1; }
tree() { (cd $M && find . -path ./.meta -prune -o -print | sort | xargs stat -c "%n %s %a %u %g %F"); }
sums() { (cd $M && find . -path ./.meta -prune -o -type f -print | sort | xargs sha256sum); }
run() { n=$1; shift; "$@" >out/$n.txt 2>&1; rc=$?; echo $rc >out/$n.rc; [ $rc = 0 ] || { echo "-- $n: $* -> exit $rc"; cat out/$n.txt; }; return $rc; }
mkdir -p $M'

vm_log "guest A (master) and guest B (client) on one pool"
vm_start famfs-a "$POOL" "$COMMON"'
  cat /opt/famfs/system_uuid >out/sysuuid-a
  run mkfs mkfs.famfs /dev/dax0.0 || fail mkfs
  run mount-a famfs mount /dev/dax0.0 $M || fail "famfs mount"
  grep " $M " /proc/mounts | tee out/mounts-a
  daxmark xattr $M user.famfs.role >out/role-a
  run p1-mkdir famfs mkdir $M/dir1 || fail "famfs mkdir"
  run p1-creat famfs creat -s 3m -r -S 11 $M/dir1/seed11 || fail "famfs creat"
  run p1-creat2 famfs creat -s 100 -r -S 12 -m 0600 $M/small12 || fail "famfs creat"
  run p1-cp famfs cp /host/bin/mkfs.famfs $M/dir1/mkfs.bin || fail "famfs cp"
  run p1-cp2 famfs cp /host/r5000 $M/r5000 || fail "famfs cp"
  run p1-creat3 famfs creat -s 8k $M/shared || fail "famfs creat"
  run p1-il famfs creat -s 11m -N 3 -B 4 -C 2m -r -S 31 $M/dir1/il31 || fail "famfs creat (interleaved)"
  daxmark xattr $M/dir1/il31 user.famfs.fmap >out/il31-fmap-a
  tree >out/tree1-a; sums >out/sums1-a
  vmsync post phase1
  vmsync wait b-mounted 120 || fail "B did not mount"
  run p2-mkdir famfs mkdir -p $M/dir2/sub || fail "famfs mkdir -p"
  run p2-creat famfs creat -s 5m -r -S 21 $M/dir2/sub/seed21 || fail "famfs creat"
  run p2-cp famfs cp /host/r5000 $M/dir2/copy || fail "famfs cp"
  # Data written on the master after B has read (and maybe cached) the file: write(2) and mmap
  printf ONE | dd of=$M/shared bs=1 seek=0 conv=notrunc 2>out/p2-write.txt || fail "write(2) to a famfs file"
  run p2-mmapwrite daxmark mmapwrite $M/shared 4100 TWO || fail "mmap write to a famfs file"
  tree >out/tree2-a; sums >out/sums2-a
  vmsync post phase2
  vmsync wait b-checked 120 || fail "B did not finish its checks"
  # Phase 3: the master daemon crashes (SIGKILL) while B stays mounted; famfs umount clears the
  # dead mount, famfs mount starts again, replay from the device gives the same files; append.
  kill -9 $(pidof famfs-fused) || fail "no famfs-fused to kill"
  i=0; while pidof famfs-fused >/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  ls $M >/dev/null 2>out/dead-ls-a.txt; echo $? >out/dead-ls-a.rc
  run umount-a1 famfs umount $M || fail "famfs umount of the dead mount"
  run mount-a2 famfs mount /dev/dax0.0 $M || fail "famfs mount (restart)"
  sums >out/sums3-a
  run p3-creat famfs creat -s 2m -r -S 41 $M/dir2/after-restart || fail "famfs creat after the restart"
  sums >out/sums4-a
  stat -c "%a" $M/.meta/.log $M/.meta/.superblock >out/meta-modes-a
  vmsync post phase3
  vmsync wait b-done 120 || fail "B did not finish"
  run umount-a famfs umount $M || fail "famfs umount"
  grep -q " $M " /proc/mounts && fail "still mounted after famfs umount"
  pidof famfs-fused && fail "famfs-fused still running after umount"
  exit 0'
vm_start famfs-b "$POOL" "$COMMON"'
  cat /opt/famfs/system_uuid >out/sysuuid-b
  vmsync wait phase1 120 || exit 1
  run mount-b famfs mount /dev/dax0.0 $M || fail "famfs mount (client)"
  grep " $M " /proc/mounts | tee out/mounts-b
  daxmark xattr $M user.famfs.role >out/role-b
  tree >out/tree1-b; sums >out/sums1-b
  run verify11-b famfs verify -S 11 -f $M/dir1/seed11
  run verify12-b famfs verify -S 12 -f $M/small12
  run verify31-b famfs verify -S 31 -f $M/dir1/il31
  daxmark xattr $M/dir1/il31 user.famfs.fmap >out/il31-fmap-b
  run cmp-famfs-bin cmp $M/dir1/mkfs.bin /host/bin/mkfs.famfs
  daxmark mmapcat $M/dir1/seed11 >/tmp/m11 2>out/mmap11-b.err; echo $? >out/mmap11-b.rc
  sha256sum </tmp/m11 >out/mmap11-b.sum
  famfs creat -s 2m $M/not-on-a-client >out/creat-client.txt 2>&1; echo $? >out/creat-client.rc
  # read the 8 KiB file (zeros) through read(2) and mmap, so that a page cache could go stale
  (cat $M/shared; daxmark mmapcat $M/shared) | sha256sum >out/shared1-b
  vmsync post b-mounted
  # A appends now, while we are mounted: the entries must show up here with no command (this host
  # runs no famfs command until they are there; the times include A running its commands).
  for f in dir2 dir2/sub/seed21 dir2/copy; do vmsync until 60 test -e $M/$f | tee -a out/appear-b.txt; done
  vmsync wait phase2 120 || fail "A did not finish appending"
  tree >out/tree2-b; sums >out/sums2-b
  echo "$(dd if=$M/shared bs=1 count=3 2>/dev/null) $(dd if=$M/shared bs=1 skip=4100 count=3 2>/dev/null)" >out/shared2-read-b
  daxmark mmapcat $M/shared >/tmp/sh 2>out/shared2-mmap-b.err
  echo "$(dd if=/tmp/sh bs=1 count=3 2>/dev/null) $(dd if=/tmp/sh bs=1 skip=4100 count=3 2>/dev/null)" >out/shared2-mmap-b
  run verify21-b famfs verify -S 21 -f $M/dir2/sub/seed21
  daxmark xattr $M user.famfs.status >out/status-b.json
  famfs fsck /dev/dax0.0 >out/fsck-mounted.txt 2>&1; echo $? >out/fsck-mounted.rc
  famfs fsck --json $M >out/fsck-mpt.json 2>out/fsck-mpt.err; echo $? >out/fsck-mpt.rc
  vmsync post b-checked
  vmsync until 120 test -e $M/dir2/after-restart | tee out/appear3-b.txt
  vmsync wait phase3 120 || fail "A did not append after its restart"
  run verify41-b famfs verify -S 41 -f $M/dir2/after-restart
  sums >out/sums3-b
  # The meta files served by FUSE = the device bytes (compared with the pool file on the host)
  stat -c "%a %s" $M/.meta/.log $M/.meta/.superblock >out/meta-modes-b
  sha256sum <$M/.meta/.superblock | cut -c1-64 >out/meta-sb-b
  sha256sum <$M/.meta/.log | cut -c1-64 >out/meta-log-b
  vmsync post b-done
  run umount-b famfs umount $M || fail "famfs umount (client)"
  grep -q " $M " /proc/mounts && fail "still mounted after famfs umount"
  exit 0'
vm_wait
check "${VM_RC[famfs-a]}" 0 "guest A (master) ran every step"
check "${VM_RC[famfs-b]}" 0 "guest B (client) ran every step"
A_UUID=$(out sysuuid-a | tr -d '\0 \n')

echo "-- roles and mounts"
check_grep "^/dev/dax0.0 /mnt/famfs fuse.famfs " mounts-a "A: /proc/mounts shows /dev/dax0.0 on /mnt/famfs as fuse.famfs"
check_grep "^/dev/dax0.0 /mnt/famfs fuse.famfs " mounts-b "B: /proc/mounts shows /dev/dax0.0 on /mnt/famfs as fuse.famfs"
check "$(out role-a)" master "A: user.famfs.role = master"
check "$(out role-b)" client "B: user.famfs.role = client"

echo "-- phase 1: files made on A before B mounted"
check_true "A made a tree" test -s "$VM_SHARE/out/tree1-a"
# The daemon serves a client's regular files read-only (mode & ~0222, the upstream v1 client rule;
# `chmod` makes one writable), so B's modes are A's without the write bits.
client_view() { out "$1" | "$VM_PYTHON" -c 'import sys
for l in sys.stdin.read().splitlines():
    n, size, mode, uid, gid, kind = l.split(" ", 5)
    if kind == "regular file": mode = "%o" % (int(mode, 8) & ~0o222)
    print(n, size, mode, uid, gid, kind)'; }
check "$(out tree1-b)" "$(client_view tree1-a)" "B sees the same names, sizes, owners, types as A; modes without write bits"
check "$(out sums1-a | wc -l)" 6 "A hashed its 6 files"
check "$(out sums1-b)" "$(out sums1-a)" "B reads the same bytes as A (sha256 of every file)"
check "$(out verify11-b.rc)" 0 "B: famfs verify -S 11 of the 3 MiB file A created"
check "$(out verify12-b.rc)" 0 "B: famfs verify -S 12 of the 100-byte file"
check_grep "^interleave 3 0x200000" il31-fmap-a "A: an interleaved file (3 strips, 2 MiB chunks)"
check "$(out il31-fmap-b)" "$(out il31-fmap-a)" "B: the same extent map (user.famfs.fmap)"
check "$(out verify31-b.rc)" 0 "B: famfs verify -S 31 of the interleaved file"
check "$(out cmp-famfs-bin.rc)" 0 "B: the file A copied with famfs cp is byte-identical to its source"
if [[ $(out mmap11-b.rc) == 0 ]]; then
  check "$(out mmap11-b.sum | cut -c1-64)" "$(out sums1-a | awk '$2 == "./dir1/seed11" {print $1}')" \
    "B: MAP_SHARED mmap of a file reads the same bytes as read(2) on A"
else
  echo "FAIL: B: mmap of a famfs file on kernel $(grep -o '6\.[0-9.]*-[0-9]*-amd64' "$VM_WORK/famfs-b.log" | head -1): $(out mmap11-b.err)"
  VM_FAIL=1
fi
check_true "B (client): famfs creat is refused" test "$(out creat-client.rc)" != 0 -a "$(out creat-client.rc)" != ""
check_grep "master|client|MASTER|not.*owner" creat-client.txt "... naming the role problem"

echo "-- phase 2: entries appended by A while both were mounted"
check_grep "after [0-9.]+s: test -e /mnt/famfs/dir2/copy" appear-b.txt "B: the appended files appeared with no command"
sed 's/^/    /' "$VM_SHARE/out/appear-b.txt" 2>/dev/null
check "$(out tree2-b)" "$(client_view tree2-a)" "B sees A's new directories and files (names, sizes, modes, owners, types)"
check "$(out sums2-b)" "$(out sums2-a)" "B reads the same bytes as A after the appends"
check "$(out verify21-b.rc)" 0 "B: famfs verify -S 21 of the 5 MiB file appended while mounted"
check "$(out shared1-b | cut -c1-64)" "$( (head -c 8192 /dev/zero; head -c 8192 /dev/zero) | sha256sum | cut -c1-64)" \
  "B: a new 8 KiB file reads as zeros (read(2) and mmap)"
check "$(out shared2-read-b)" "ONE TWO" "B: read(2) sees what A wrote later with write(2) and through mmap (no stale cache)"
check "$(out shared2-mmap-b)" "ONE TWO" "B: mmap sees what A wrote later with write(2) and through mmap (no stale cache)"
"$VM_PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); print("    B status: replay_lag_ms", j.get("replay_lag_ms"), "refresh_ms", j.get("refresh_ms"))' "$VM_SHARE/out/status-b.json" 2>/dev/null
check_json status-b.json "j['role'] == 'client' and j['files'] == 8 and j['directories'] == 3 and j['damaged'] is False" \
  "B: user.famfs.status: role client, 8 files, 3 directories, not damaged"
check "$(out fsck-mounted.rc)" 16 "famfs fsck of the mounted device is refused with EBUSY (16)"
check "$(out fsck-mpt.rc)" 0 "B: famfs fsck --json of the mount point (through the meta files)"
check_json fsck-mpt.json "j['role'] == 'client' and j['entries_used'] == 11 and j['files'] == 8 and j['directories'] == 3 \
  and j['clean'] is True and j['master_system_uuid'] == '$(out sysuuid-a | tr -d '\0 \n')'" \
  "B: fsck --json of the mount point: client, 11 entries, 8 files, 3 directories, clean"

echo "-- phase 3: the master's daemon is killed while the client stays mounted; restart; append"
check_grep "not connected" dead-ls-a.txt "A: after kill -9 famfs-fused the mount is dead (ENOTCONN)"
check "$(out umount-a1.rc)" 0 "A: famfs umount clears the dead mount"
check "$(out mount-a2.rc)" 0 "A: famfs mount again"
check "$(out sums3-a)" "$(out sums2-a)" "A: after the restart (replay from the device) the same files and bytes"
check_grep "after [0-9.]+s: test -e /mnt/famfs/dir2/after-restart" appear3-b.txt "B: the file A made after its restart appeared with no command"
check "$(out verify41-b.rc)" 0 "B: famfs verify -S 41 of it"
check "$(out sums3-b)" "$(out sums4-a)" "B reads the same bytes as A after A's restart and append"
check "$(out meta-modes-a)" "600
400" "A (master): .meta/.log 0600, .meta/.superblock 0400 (root only)"
check "$(out meta-modes-b)" "400 8388608
400 2097152" "B (client): .meta/.log 0400 (8 MiB), .meta/.superblock 0400 (2 MiB)"
pool_sha() { "$VM_PYTHON" -c 'import hashlib,sys
f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); print(hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest())' "$POOL" "$@"; }
check "$(out meta-sb-b)" "$(pool_sha $((0x200000)) $((0x200000)))" "B: .meta/.superblock = pool bytes [0x200000, 0x400000) (dax [0, 2 MiB))"
check "$(out meta-log-b)" "$(pool_sha $((0x400000)) $((0x800000)))" "B: .meta/.log = pool bytes [0x400000, 0xc00000) (the 8 MiB log)"

echo "-- unmount"
check "$(out umount-a.rc)" 0 "A: famfs umount"
check "$(out umount-b.rc)" 0 "B: famfs umount"

echo "-- host: byte checks of the pool file (12 log entries)"
check_pool "$POOL" --entries 12 --system-uuid "$A_UUID" --json "$VM_WORK/pool.json" --list
paths=$("$VM_PYTHON" -c 'import json,sys; print(" ".join(e["kind"] + ":" + e["path"] for e in json.load(open(sys.argv[1]))["entries"]))' "$VM_WORK/pool.json" 2>/dev/null)
check "$paths" "dir:dir1 file:dir1/seed11 file:small12 file:dir1/mkfs.bin file:r5000 file:shared file:dir1/il31 dir:dir2 dir:dir2/sub file:dir2/sub/seed21 file:dir2/copy file:dir2/after-restart" \
  "the log holds exactly the 12 entries, in order"
vm_done
