#!/bin/bash
# libfamfs and the LD_PRELOAD shim on a real device-DAX device (/dev/dax0.0, 2 MiB alignment) in
# a QEMU guest, with the tests/vm machinery (tests/vm/lib.sh, docs/vm.md). Checks what image
# files cannot show: whole-granule mappings, partial munmap by granules, mremap, an interleaved
# file mapped chunk by chunk equal to read(2), read-only refusal, the FUSE fallback, and the
# preload's read(2)/write(2) served from the device (the probe's copy), equal to the FUSE path.
# Needs root; FAMFS_BUILD_DIR (default: build) with famfs, mkfs.famfs, famfs-fused, the probe
# and libfamfs-preload.so built.
FAMFS_BUILD_DIR=${FAMFS_BUILD_DIR:-build}
export FAMFS_BUILD_DIR
. "$(dirname "$0")/../../vm/lib.sh"
VM_TIMEOUT=300
vm_init mmap-devdax
vm_stage mkfs.famfs famfs famfs-fused "$FAMFS_BUILD_DIR/tests/integration/helpers/famfs-mmap-probe"
cp -L "$FAMFS_BUILD_DIR/src/lib/libfamfs-preload.so" "$VM_SHARE/lib/" || exit 1
vm_pool POOL 4112M
M=$((1 << 20))
vm_run hostA "$POOL" '
mkfs.famfs /dev/dax0.0 > out/mkfs.txt 2>&1
mkdir -p /mnt/f
famfs mount /dev/dax0.0 /mnt/f > out/mount.txt 2>&1
famfs creat -s 8M /mnt/f/a > out/creat.txt 2>&1
famfs creat -s 22M -N 3 -B 4 -C 2M -r -S 9 /mnt/f/il >> out/creat.txt 2>&1
famfs creat -s 4M -m 0444 /mnt/f/ro >> out/creat.txt 2>&1
daxmark xattr /mnt/f/il user.famfs.fmap > out/il.fmap 2>&1
printf "%s\n" \
  "map /mnt/f/a 0 8388608 rw" "maps 0 0" "write 0 4113 68656c6c6f" "read 0 4113 5" \
  "unmap 0 3145728 4096" "probe 0 3145728" "unmap 0 2097152 1048576" "probe 0 2097152" \
  "unmap 0 3149824 1044480" "probe 0 2097152" "probe 0 4194304" "unmap 0 0 8388608" \
  "maps 0 4194304" \
  "map /mnt/f/a 12288 8192 r" "maps 1 0" "read 1 -8175 5" "unmap 1 4096 4096" "probe 1 4096" \
  "unmap 1 0 4096" "maps 1 -12288" \
  "map /mnt/f/il 0 23068672 r" "dump 2 0 23068672 /tmp/il.map" "maps 2 0" \
  "map /mnt/f/ro 0 4096 rw" "quit" | famfs-mmap-probe lib > out/lib.txt 2>&1
cat /mnt/f/il > /tmp/il.read
cmp /tmp/il.map /tmp/il.read > out/cmp.txt 2>&1; echo "cmp rc $?" >> out/cmp.txt
printf "%s\n" "map /mnt/f/a 0 8388608 r" "maps 0 0" "read 0 4113 5" "mremap 0 16777216" \
  "mremap 0 4194304" "probe 0 4194304" "probe 0 4190208" "quit" |
  FAMFS_PRELOAD_DEBUG=1 LD_PRELOAD=/host/lib/libfamfs-preload.so famfs-mmap-probe sys > out/preload.txt 2>&1
printf "%s\n" "map /mnt/f/a 0 8388608 r" "maps 0 0" "read 0 4113 5" "quit" |
  famfs-mmap-probe sys > out/fuse.txt 2>&1
dd if=/dev/urandom of=/tmp/w.src bs=1M count=3 2> /dev/null
printf "%s\n" "copy /mnt/f/il 0 /tmp/il.pre 0 23068672" "copy /tmp/w.src 0 /mnt/f/il 1114112 3145728" \
  "quit" | FAMFS_PRELOAD_DEBUG=1 LD_PRELOAD=/host/lib/libfamfs-preload.so famfs-mmap-probe sys \
  > out/rw.txt 2>&1
cmp /tmp/il.pre /tmp/il.read > out/rwcmp.txt 2>&1; echo "cmp rc $?" >> out/rwcmp.txt
dd if=/mnt/f/il of=/tmp/w.back bs=65536 skip=17 count=48 2> /dev/null
cmp /tmp/w.src /tmp/w.back > out/wcmp.txt 2>&1; echo "cmp rc $?" >> out/wcmp.txt
famfs umount /mnt/f > out/umount.txt 2>&1; echo $? > out/umount.rc
'
# lib.txt answers, in order (one line per command)
mapfile -t L < "$VM_SHARE/out/lib.txt"
check_grep '^interleave 3 0x200000' il.fmap "interleaved file made"
check "${L[1]}" "$(grep -m1 -o 'ok [0-9a-f]*-[0-9a-f]* rw-s .*/dev/dax0.0' <<<"${L[1]}")" "libfamfs maps /dev/dax0.0 (/proc/self/maps)"
check "${L[3]}" "ok 68656c6c6f" "store and load through the mapping"
check "${L[5]}" "ok mapped" "devdax: one unmapped page stays until its granule is free"
check "${L[7]}" "ok mapped" "devdax: granule still partly live"
check "${L[9]}" "ok unmapped" "devdax: granule released once all its pages are unmapped"
check "${L[10]}" "ok mapped" "devdax: the next granule is untouched"
check "${L[12]}" "ok none" "whole mapping gone"
check "${L[13]%% *}" "ok" "page-offset window mapped"
[[ ${L[14]} == *"r--s 00a00000"*"/dev/dax0.0" ]] && echo "ok: window = whole 2 MiB granule of the device" ||
  { echo "FAIL: window maps line: ${L[14]}"; VM_FAIL=1; }
check "${L[15]}" "ok 68656c6c6f" "window pointer is file offset 0x3000 (reads the store at 0x1011)"
check "${L[17]}" "ok mapped" "devdax: window page retired, granule kept"
check "${L[19]}" "ok none" "window granule released with its last page"
check "${L[22]##*/}" "dax0.0" "interleaved file on the device"
check_grep '^cmp rc 0' cmp.txt "interleaved mapping = read(2), byte for byte"
check "${L[23]%% *}" "err" "read-only file cannot be mapped writable"
[[ ${L[23]} == "err -13 "* ]] && echo "ok: ... with EACCES" || { echo "FAIL: ${L[23]}"; VM_FAIL=1; }
check_grep '^ok [0-9a-f-]+ r--s .*/dev/dax0.0' preload.txt "preload maps /dev/dax0.0"
check_grep '^ok 68656c6c6f' preload.txt "preload reads the bytes"
check_grep '^err -22' preload.txt "preload: mremap cannot grow a famfs mapping"
check_grep '^ok unmapped' preload.txt "preload: mremap shrinks by whole granules"
check_grep '/mnt/f/a$' fuse.txt "without the preload: a FUSE mapping"
check_grep '^ok 68656c6c6f' fuse.txt "FUSE mapping reads the bytes"
check_grep '^famfs-preload.*reads served from the device.*/dev/dax0.0' rw.txt "preload read(2) served from /dev/dax0.0"
check_grep '^famfs-preload.*read/write served from the device.*/dev/dax0.0' rw.txt "preload write(2) served to /dev/dax0.0"
check_grep '^cmp rc 0' rwcmp.txt "preload read(2) of the interleaved file = FUSE read(2)"
check_grep '^cmp rc 0' wcmp.txt "preload write(2) across chunks = FUSE read(2) back"
check "$(out umount.rc)" 0 "umount"
vm_done
