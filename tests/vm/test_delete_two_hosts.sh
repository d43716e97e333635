#!/bin/bash
# VM test: delete with safe space reuse (docs/delete.md) on a REAL /dev/dax0.0 shared by two
# guests. A (master) deletes a file B holds open: B keeps reading its bytes, A does not reuse the
# space until B closes it; after that a new file on A reuses it and B reads the new file right.
. "$(dirname "$0")/lib.sh"
vm_init delete-two-hosts
vm_stage mkfs.famfs famfs famfs-fused
vm_pool POOL 4112M

COMMON='
M=/mnt/famfs
fail() { echo "FAIL($(hostname)): $*"; vmsync abort "$*"; cd /; famfs umount $M 2>/dev/null || umount $M 2>/dev/null; exit 1; }
run() { n=$1; shift; "$@" >out/$n.txt 2>&1; rc=$?; echo $rc >out/$n.rc; [ $rc = 0 ] || { echo "-- $n: $* -> exit $rc"; cat out/$n.txt; }; return $rc; }
first_off() { famfs getmap "$1" | awk "/^\t\t/ {print \$1; exit}"; }
pending() { daxmark xattr $M user.famfs.status | grep -o "\"pending_reuse_bytes\":[0-9]*" | head -1 | cut -d: -f2; }
mkdir -p $M'

vm_start famfs-a "$POOL" "$COMMON"'
  run mkfs mkfs.famfs --enable-delete /dev/dax0.0 || fail mkfs
  run mount-a famfs mount /dev/dax0.0 $M || fail "famfs mount"
  run creat-f famfs creat -s 8m -r -S 5 $M/f || fail "famfs creat f"
  first_off $M/f >out/off-f
  vmsync post phase1
  vmsync wait b-open 180 || fail "B did not open f"
  run rm-f famfs rm $M/f || fail "famfs rm"
  vmsync until 60 sh -c "[ \"\$(pending)\" = 8388608 ]" | tee out/pending-a.txt
  daxmark xattr $M user.famfs.status >out/status-held-a.json
  run creat-g famfs creat -s 8m -r -S 6 $M/g || fail "famfs creat g"
  first_off $M/g >out/off-g
  vmsync post rm-done
  vmsync wait b-closed 180 || fail "B did not close f"
  vmsync until 60 sh -c "[ \"\$(pending)\" = 0 ]" | tee out/released-a.txt
  run creat-h famfs creat -s 8m -r -S 9 $M/h || fail "famfs creat h"
  first_off $M/h >out/off-h
  famfs fsck --json $M >out/fsck-a.json 2>&1; echo $? >out/fsck-a.rc
  vmsync post phase3
  vmsync wait b-done 180 || fail "B did not finish"
  run umount-a famfs umount $M || fail "famfs umount"
  exit 0'
vm_start famfs-b "$POOL" "$COMMON"'
  vmsync wait phase1 180 || exit 1
  run mount-b famfs mount /dev/dax0.0 $M || fail "famfs mount (client)"
  vmsync until 60 test -e $M/f >/dev/null
  exec 3<$M/f 4<$M/f
  sha256sum <&3 | cut -c1-64 >out/sum-before-b
  vmsync post b-open
  vmsync wait rm-done 180 || fail "A did not delete"
  vmsync until 60 sh -c "! test -e $M/f" | tee out/gone-b.txt
  sha256sum <&4 | cut -c1-64 >out/sum-after-b
  exec 3<&- 4<&-
  vmsync post b-closed
  vmsync wait phase3 180 || fail "A did not reuse"
  vmsync until 60 test -e $M/h >/dev/null
  run verify-h famfs verify -S 9 -f $M/h
  run verify-g famfs verify -S 6 -f $M/g
  vmsync post b-done
  run umount-b famfs umount $M || fail "famfs umount (client)"
  exit 0'
vm_wait
check "${VM_RC[famfs-a]}" 0 "guest A (master) ran every step"
check "${VM_RC[famfs-b]}" 0 "guest B (client) ran every step"
check "$(out sum-after-b)" "$(out sum-before-b)" "B: a file open across its delete on A reads the same bytes"
check_grep "after [0-9.]+s" gone-b.txt "B: the deleted file disappeared with no command"
check_grep "after [0-9.]+s" pending-a.txt "A: the deleted space is pending reuse while B holds it"
check_true "A: a file made while B holds the space does not reuse it" test "$(out off-g)" != "$(out off-f)"
check_grep "after [0-9.]+s" released-a.txt "A: after B closed the file nothing is pending"
check "$(out off-h)" "$(out off-f)" "A: a new file reuses the deleted file's space"
check "$(out verify-h.rc)" 0 "B: famfs verify of the file that reused the space"
check "$(out verify-g.rc)" 0 "B: famfs verify of the file made while the space was held"
check "$(out fsck-a.rc)" 0 "A: famfs fsck clean after reuse"
vm_done
