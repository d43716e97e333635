#!/bin/bash
# VM test: mkfs.famfs refuses unusable devices cleanly on a REAL device-dax, and writes nothing:
#   guest T, 64 MiB pool (/dev/dax0.0 = 62 MiB): too small, with and without --force; fsck and mount
#     of an unformatted device; a non-dax character device; a missing path;
#   guest S, 4112 MiB pool: /dev/dax0.0 reconfigured to system-ram (kmem) is refused; then
#     `mkfs.famfs -M` puts it back into devdax mode and formats it.
. "$(dirname "$0")/lib.sh"
vm_init mkfs-refuse
vm_stage mkfs.famfs famfs famfs-fused
vm_pool SMALL 64M
vm_pool BIG 4112M

vm_start famfs-tiny "$SMALL" '
  r() { n=$1; shift; echo "-- $n: $*"; "$@" >out/$n.txt 2>&1; rc=$?; echo $rc >out/$n.rc; cat out/$n.txt; echo "   (exit $rc)"; }
  r small mkfs.famfs /dev/dax0.0
  r small-force mkfs.famfs --force /dev/dax0.0
  r small-loglen mkfs.famfs --force -l 16m /dev/dax0.0
  r fsck-unformatted famfs fsck /dev/dax0.0
  famfs fsck --json /dev/dax0.0 >out/fsck-unformatted.json 2>/dev/null; cat out/fsck-unformatted.json
  r notdax mkfs.famfs /dev/null
  mkdir -p /mnt/x; r mount-unformatted famfs mount /dev/dax0.0 /mnt/x
  { grep -c " /mnt/x " /proc/mounts; pidof famfs-fused || echo none; } >out/mount-leftover
  r missing mkfs.famfs /dev/dax9.9
  exit 0'
vm_start famfs-sysram "$BIG" '
  r() { n=$1; shift; echo "-- $n: $*"; "$@" >out/$n.txt 2>&1; rc=$?; echo $rc >out/$n.rc; cat out/$n.txt; echo "   (exit $rc)"; }
  modprobe kmem    # libkmod in the guest cannot look modules up (busybox depmod writes no .bin indexes)
  daxctl reconfigure-device --mode=system-ram dax0.0 >out/reconf.txt 2>&1 || { cat out/reconf.txt; exit 3; }
  daxctl list -d dax0.0 | grep -q "\"mode\":\"system-ram\"" || { daxctl list; exit 4; }
  free -m | grep Mem:
  r sysram mkfs.famfs /dev/dax0.0
  r sysram-force mkfs.famfs --force /dev/dax0.0
  r sysram-fsck famfs fsck /dev/dax0.0
  r setmode mkfs.famfs -M /dev/dax0.0
  daxctl list -d dax0.0
  cat /opt/famfs/system_uuid >out/sysuuid-s
  famfs fsck --json /dev/dax0.0 >out/fsck-after.json; cat out/fsck-after.json
  exit 0'
vm_wait
check "${VM_RC[famfs-tiny]}" 0 "guest with the 62 MiB device ran"
check "${VM_RC[famfs-sysram]}" 0 "guest with the system-ram device ran (daxctl reconfigure-device --mode=system-ram)"

refused() { # refused NAME WHAT [REGEX]: exit 2 (upstream's mkfs failure code), a message, no crash
  check "$(out "$1.rc")" "${RC_WANT:-2}" "$2: refused (exit ${RC_WANT:-2})"
  check_grep "${3:-.}" "$1.txt" "$2: says why${3:+ (/$3/)}"
  if grep -Eqi "terminate called|Segmentation|Aborted|assert|sanitizer" "$VM_SHARE/out/$1.txt" 2>/dev/null; then
    echo "FAIL: $2: crashed"; VM_FAIL=1
  fi
}
echo "-- 62 MiB device"
refused small "mkfs.famfs on a 62 MiB /dev/dax0.0" "small|size|4 ?GiB|minimum"
refused small-force "mkfs.famfs --force on a 62 MiB /dev/dax0.0" "small|size|4 ?GiB|minimum"
refused small-loglen "mkfs.famfs --force -l 16m on a 62 MiB /dev/dax0.0" "small|size|4 ?GiB|minimum"
RC_WANT=1 refused fsck-unformatted "famfs fsck of an unformatted device" "superblock|magic"
check_json fsck-unformatted.json "j['superblock_status'] == 'no_magic' and j['fs_uuid'] is None and j['clean'] is False" \
  "fsck --json of an unformatted device: superblock_status no_magic, fs_uuid null, not clean"
refused notdax "mkfs.famfs /dev/null (not a dax device)" "dax|character|device"
check_true "famfs mount of an unformatted device fails" test "$(out mount-unformatted.rc)" != 0 -a -n "$(out mount-unformatted.rc)"
check_grep "superblock" mount-unformatted.txt "... saying why (no superblock)"
check "$(out mount-leftover)" "0
none" "... leaving no mount and no famfs-fused process"
RC_WANT=1 refused missing "mkfs.famfs /dev/dax9.9 (no such device; exit 1 like a missing argument)" "dax9.9|No such|not found|exist"
zero=$("$VM_PYTHON" -c 'import mmap,sys
f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,access=mmap.ACCESS_READ)
print("zero" if m[0x200000:] == bytes(len(m)-0x200000) else "written")' "$SMALL")
check "$zero" zero "the refused device was not written (pool file from 0x200000 is still all zero)"

echo "-- system-ram device"
refused sysram "mkfs.famfs on a system-ram dax device" "system.ram|devdax|mode"
refused sysram-force "mkfs.famfs --force on a system-ram dax device" "system.ram|devdax|mode"
check_true "famfs fsck on a system-ram dax device fails" test "$(out sysram-fsck.rc)" != 0
check "$(out setmode.rc)" 0 "mkfs.famfs -M /dev/dax0.0 reconfigures the device to devdax and formats it"
check_json fsck-after.json "j['role'] == 'master' and j['clean'] is True and j['entries_used'] == 0" \
  "fsck --json after mkfs -M: a clean, empty file system owned by this host"
check_pool "$BIG" --entries 0 --system-uuid "$(out sysuuid-s | tr -d '\0 \n')" --devpath /dev/dax0.0
vm_done
