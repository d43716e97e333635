#!/bin/bash
# VM test: mkfs.famfs on a REAL /dev/dax0.0 in guest A; `famfs fsck` in guest B (another host on the
# same memory) reports the same file-system UUID with role client; the pool file, read on the
# host, passes the byte checks of an image (superblock fields + CRC, log header bytes + CRC;
# dax offset 0 = pool file offset 0x200000). Refusals: a second mkfs without --force on the
# master, and mkfs by a client.
. "$(dirname "$0")/lib.sh"
vm_init mkfs-fsck
vm_stage mkfs.famfs famfs
vm_pool POOL 4112M   # /dev/dax0.0 = 4110 MiB (famfs needs >= 4 GiB; pools are multiples of 16M)

vm_log "guest A: mkfs.famfs + fsck; guest B: fsck (as a client) once A is done"
vm_start famfs-a "$POOL" '
  rm -rf /opt/famfs   # no identity yet: mkfs creates it like upstream (B§2.2)
  mkfs.famfs /dev/dax0.0 >out/mkfs-a.txt 2>&1; echo $? >out/mkfs-a.rc; cat out/mkfs-a.txt
  { stat -c "%a %F" /opt/famfs; stat -c "%a %s %F" /opt/famfs/system_uuid; } >out/ident-a
  tail -c 1 /opt/famfs/system_uuid | od -An -tx1 | tr -d " " >out/ident-a-last
  tr -d "\0" </opt/famfs/system_uuid >out/sysuuid-a
  famfs fsck /dev/dax0.0 >out/fsck-a.txt 2>&1; echo $? >out/fsck-a.rc
  famfs fsck --json /dev/dax0.0 >out/fsck-a.json 2>out/fsck-a.json.err; echo $? >out/fsck-a.json.rc
  vmsync post mkfs-done
  vmsync wait b-done 60
  echo "-- second mkfs without --force on the master (must be refused):"
  mkfs.famfs /dev/dax0.0 >out/mkfs-a2.txt 2>&1; echo $? >out/mkfs-a2.rc; cat out/mkfs-a2.txt
  exit 0'
vm_start famfs-b "$POOL" '
  cat /opt/famfs/system_uuid >out/sysuuid-b
  vmsync wait mkfs-done 60 || exit 1
  famfs fsck /dev/dax0.0 >out/fsck-b.txt 2>&1; echo $? >out/fsck-b.rc; cat out/fsck-b.txt
  famfs fsck --json /dev/dax0.0 >out/fsck-b.json 2>out/fsck-b.json.err; echo $? >out/fsck-b.json.rc
  cat out/fsck-b.json
  famfs status --json >out/status-b.json 2>out/status-b.err; echo $? >out/status-b.rc
  famfs status >out/status-b.txt 2>&1
  echo "-- mkfs without --force on a client (must be refused):"
  mkfs.famfs /dev/dax0.0 >out/mkfs-b.txt 2>&1; echo $? >out/mkfs-b.rc; cat out/mkfs-b.txt
  vmsync post b-done
  exit 0'
vm_wait
check "${VM_RC[famfs-a]}" 0 "guest A ran"
check "${VM_RC[famfs-b]}" 0 "guest B ran"

A_UUID=$(out sysuuid-a | tr -d '\0 \n') B_UUID=$(out sysuuid-b | tr -d '\0 \n')
check "$(out ident-a)" "755 directory
444 37 regular file" "mkfs created /opt/famfs (0755) and system_uuid (0444, 37 bytes)" 
check "$(out ident-a-last)" 00 "... ending in a NUL byte, as upstream writes it"
check_true "... holding a lowercase UUID" grep -Eqx '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$VM_SHARE/out/sysuuid-a"
check_true "the two guests have different host identities ($A_UUID, $B_UUID)" test -n "$A_UUID" -a "$A_UUID" != "$B_UUID"

echo "-- host: byte checks of the pool file"
check_pool "$POOL" --fresh --system-uuid "$A_UUID" --devpath /dev/dax0.0
FS=$POOL_FS_UUID
check_true "file-system UUID read from the pool ($FS)" test -n "$FS"

echo "-- guest A (master)"
check "$(out mkfs-a.rc)" 0 "mkfs.famfs /dev/dax0.0 exit status"
check "$(out fsck-a.rc)" 0 "fsck on the master: exit status"
check_grep "Filesystem UUID: +$FS\$" fsck-a.txt "fsck on the master: the pool's file-system UUID"
check_grep "role of this node: Owner" fsck-a.txt "fsck on the master: role Owner"
check_json fsck-a.json "j['role'] == 'master' and j['fs_uuid'] == '$FS' and j['system_uuid'] == '$A_UUID' \
  and j['master_system_uuid'] == '$A_UUID'" "fsck --json on the master: role master, fs_uuid, system_uuid (this host)"

echo "-- guest B (client)"
check "$(out fsck-b.rc)" 0 "fsck on the client: exit status"
check_grep "Filesystem UUID: +$FS\$" fsck-b.txt "fsck on the client: the same file-system UUID"
check_grep "System UUID: +$A_UUID\$" fsck-b.txt "fsck on the client: System UUID = the master's identity"
check_grep "role of this node: Client" fsck-b.txt "fsck on the client: role Client"
check_grep "# of log entries in use: 0 of 15420" fsck-b.txt "fsck on the client: empty 8 MiB log (0 of 15420)"
check_grep "primary: /dev/dax0.0 +4309647360" fsck-b.txt "fsck on the client: primary /dev/dax0.0, 4309647360 bytes"
check "$(out fsck-b.json.rc)" 0 "fsck --json on the client: exit status"
check_json fsck-b.json "j['role'] == 'client' and j['fs_uuid'] == '$FS' and j['master_system_uuid'] == '$A_UUID' \
  and j['system_uuid'] == '$B_UUID'" "fsck --json: role client, fs_uuid, master_system_uuid (A), system_uuid (this host)"
check "$(out status-b.rc)" 0 "famfs status (no argument) on the client: exit status"
check_json status-b.json "len(j) == 1 and j[0]['kind'] == 'device' and j[0]['device'] == '/dev/dax0.0' \
  and j[0]['mounted'] is False and j[0]['fs_uuid'] == '$FS' and j[0]['master_system_uuid'] == '$A_UUID' \
  and j[0]['role'] == 'client'" "famfs status --json lists the unmounted famfs device (libdaxctl), role client"
check_grep "famfs device /dev/dax0.0 \(not mounted\)" status-b.txt "famfs status names the unmounted device"
check_json fsck-b.json "j['clean'] is True and j['exit_code'] == 0 and j['superblock_status'] == 'valid' \
  and j['log_status'] == 'ok' and j['damaged'] is False and j['problems'] == [] and j['skipped'] == []" \
  "fsck --json: clean, valid superblock and log, not damaged"
check_json fsck-b.json "j['version'] == 48 and j['alloc_unit'] == 0x200000 and j['log_len'] == 0x800000 \
  and j['primary_device'] == '/dev/dax0.0' and j['device'] == '/dev/dax0.0'" \
  "fsck --json: version 48, alloc unit 2 MiB, log 8 MiB, devices"
check_json fsck-b.json "j['entries_used'] == 0 and j['entries_total'] == 15420 and j['files'] == 0 \
  and j['directories'] == 0 and j['bad_entries'] == 0 and j['collisions'] == 0 and j['skipped_entries'] == 0" \
  "fsck --json: empty log counts"
check_json fsck-b.json "j['capacity_bytes'] == 4309647360 and j['free_bytes'] + j['allocated_bytes'] == j['capacity_bytes'] \
  and j['free_bytes'] == 4309647360 - 0x200000 - 0x800000 and j['sum_file_sizes'] == 0" \
  "fsck --json: capacity 4309647360 = free + allocated (superblock + log)"

echo "-- refusals"
check "$(out mkfs-b.rc)" 2 "mkfs without --force on a client is refused (exit 2)"
check_grep "." mkfs-b.txt "... with a message"
check "$(out mkfs-a2.rc)" 2 "a second mkfs without --force on the master is refused (exit 2)"
check_grep "." mkfs-a2.txt "... with a message"
QUIET=1 check_pool "$POOL" --fresh --system-uuid "$A_UUID" --fs-uuid "$FS"
check "$POOL_FS_UUID" "$FS" "the refused mkfs runs left the file system as it was"
vm_done
