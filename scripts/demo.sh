#!/bin/bash
# The main job on an embedded default: install, build, then on an image file in /dev/shm
# standing in for /dev/dax: mkfs on a "master" host, mount it there and on a "client" host
# (two daemons with two identity files on one machine), create files on the master and read
# them on the client. Cleans up after itself. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
B=$PWD/build
FAMFS=$B/src/cli/famfs
MKFS=$B/src/cli/mkfs.famfs
export PATH=$B/src/daemon:$PATH

work=$(mktemp -d /dev/shm/famfs-demo.XXXXXX)
IMG=$work/famfs.img
MASTER_ID=$work/master.uuid
CLIENT_ID=$work/client.uuid
M=$work/master-mnt
C=$work/client-mnt
mkdir -p "$M" "$C"
cleanup() {
  for m in "$C" "$M"; do mountpoint -q "$m" && { "$FAMFS" umount "$m" || fusermount3 -u -z "$m"; }; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "An 8 GiB image file in /dev/shm stands in for /dev/dax0.0"
truncate -s 8G "$IMG"
step "mkfs.famfs on the master (its identity: $MASTER_ID)"
FAMFS_SYSTEM_UUID_FILE=$MASTER_ID "$MKFS" "$IMG"
step "Mount on the master and on a client (each host runs its own famfs-fused)"
FAMFS_SYSTEM_UUID_FILE=$MASTER_ID "$FAMFS" mount "$IMG" "$M"
FAMFS_SYSTEM_UUID_FILE=$CLIENT_ID "$FAMFS" mount "$IMG" "$C"
grep " $M \| $C " /proc/mounts
step "The master creates files and directories"
export FAMFS_SYSTEM_UUID_FILE=$MASTER_ID
"$FAMFS" mkdir -p "$M/data/set1"
"$FAMFS" creat -s 64m -r -S 42 "$M/data/random.bin"
"$FAMFS" cp /etc/os-release "$M/data/set1/os-release"
"$FAMFS" creat -s 32m -N 4 -B 4 -C 2m -r -S 7 "$M/data/interleaved.bin"
ls -l "$M/data" "$M/data/set1"
step "The client sees them with no command, and reads them"
export FAMFS_SYSTEM_UUID_FILE=$CLIENT_ID
for i in $(seq 50); do [ -e "$C/data/interleaved.bin" ] && break; sleep 0.01; done
ls -l "$C/data" "$C/data/set1"
"$FAMFS" verify -f "$C/data/random.bin" -S 42
"$FAMFS" verify -f "$C/data/interleaved.bin" -S 7
cmp "$C/data/set1/os-release" /etc/os-release && echo "client reads os-release byte for byte"
step "The client may not create files: only the master writes the log"
if "$FAMFS" creat -s 1m "$C/nope.bin"; then echo "unexpected: a client created a file"; exit 1; fi
step "Status on the client, then fsck through the master's mount"
"$FAMFS" status "$C"
FAMFS_SYSTEM_UUID_FILE=$MASTER_ID "$FAMFS" fsck -h "$M"
step "Unmount"
"$FAMFS" umount "$C"; "$FAMFS" umount "$M"
echo "demo finished: OK"
