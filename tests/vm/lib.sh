# Common code of the VM tests (sourced by tests/vm/test_*.sh). See docs/vm.md.
#
# A test: vm_init NAME; vm_stage BINARY...; vm_pool VAR SIZE; vm_start GUEST POOL 'cmds' (background)
# or vm_run GUEST POOL 'cmds' (foreground); vm_wait; checks with check/check_rc/check_grep; vm_done.
# Guests share $VM_SHARE as /host (binaries in /host/bin, libraries in /host/lib, results in
# /host/out, rendezvous files in /host/sync: see the `vmsync` helper). Everything the test created
# (qemu processes, pools in /dev/shm, the work directory) is removed on exit, pass or fail.
# shellcheck shell=bash
set -uo pipefail
export LC_ALL=C

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMLAB=$VM_HERE/vmlab
FAMFS_SOURCE_DIR=${FAMFS_SOURCE_DIR:-$(cd "$VM_HERE/../.." && pwd)}
FAMFS_BUILD_DIR=${FAMFS_BUILD_DIR:-$FAMFS_SOURCE_DIR/build}
export VMLAB_DIR=${VMLAB_DIR:-/var/tmp/famfs-vm}
export VMLAB_TS=${VMLAB_TS:-1}
VM_PYTHON=/usr/bin/python3
VM_FAIL=0 VM_POOLS=() VM_BG=() VM_BG_NAMES=() VM_WORK="" VM_TEST="" VM_T0=$SECONDS VM_LOCKFD=""
VM_TIMEOUT=${VM_TIMEOUT:-120}   # per guest; a guest normally needs a few seconds

vm_log() { printf '%s [%s +%ds] %s\n' "==" "$VM_TEST" $((SECONDS - VM_T0)) "$*"; }

vm_cleanup() {
  local i pid
  for i in "${!VM_BG[@]}"; do # our background `vmlab run`s: TERM makes vmlab kill its own qemu by PID
    pid=${VM_BG[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      vm_log "cleanup: stopping guest ${VM_BG_NAMES[$i]} (vmlab pid $pid)"
      kill -TERM "$pid" 2>/dev/null
    fi
  done
  for pid in "${VM_BG[@]}"; do wait "$pid" 2>/dev/null; done
  VM_BG=()
  if [[ ${VM_KEEP:-0} == 1 ]]; then # debugging: keep the pools and the work dir (guest outputs in share/out)
    vm_log "VM_KEEP=1: kept ${VM_POOLS[*]:-no pools} and $VM_WORK"
  else
    for i in "${VM_POOLS[@]}"; do rm -f "$i" "$i".vmlab-tmp.*; done
    [[ -n $VM_WORK && -d $VM_WORK ]] && rm -rf "$VM_WORK"
  fi
  [[ -n $VM_LOCKFD ]] && exec {VM_LOCKFD}>&-
}

# vm_init NAME: install what is needed, prepare vmlab, take the VM-test lock, make the work dir
vm_init() {
  VM_TEST=$1
  trap vm_cleanup EXIT
  trap 'vm_log "interrupted"; exit 130' INT
  trap 'vm_log "terminated"; exit 143' TERM
  ((EUID == 0)) || { echo "VM tests must run as root (qemu, /dev/shm pools, guests as root)"; exit 1; }
  local need=()
  [[ -x $VM_PYTHON ]] || need+=(python3)
  command -v ldd >/dev/null || need+=(libc-bin)
  command -v md5sum >/dev/null || need+=(coreutils)
  if ((${#need[@]})); then
    vm_log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } ||
      { echo "apt-get install ${need[*]} failed"; exit 1; }
  fi
  # qemu-system-x86, cpio, gcc, libc6-dev, xz-utils; guest kernel + packages (apt-get download): once
  "$VMLAB" prepare || { echo "vmlab prepare failed"; exit 1; }
  # One VM test at a time (meson runs tests in parallel; two guests per test is what 2 cores take)
  exec {VM_LOCKFD}>"$VMLAB_DIR/.lock-vmtests"
  if ! flock -n "$VM_LOCKFD"; then
    vm_log "waiting for another VM test to finish"
    flock -w 1200 "$VM_LOCKFD" || { echo "could not get the VM test lock"; exit 1; }
    vm_log "got the lock after $((SECONDS - VM_T0)) s; timing from here"
    VM_T0=$SECONDS
  fi
  # Leftovers of VM tests that were SIGKILLed (their pools end in -PID.img; work dirs hold vm.pid)
  local f pid
  for f in /dev/shm/famfs-vm-*-[0-9]*.img; do
    [[ -f $f ]] || continue
    pid=${f%.img}; pid=${pid##*-}
    kill -0 "$pid" 2>/dev/null || { vm_log "removing stale pool $f"; rm -f "$f"; }
  done
  for f in /tmp/famfs-vm-*/vm.pid /dev/shm/famfs-vm-*/vm.pid; do
    [[ -f $f ]] || continue
    kill -0 "$(cat "$f")" 2>/dev/null || rm -rf "${f%/vm.pid}"
  done
  VM_WORK=$(mktemp -d "/tmp/famfs-vm-$VM_TEST.XXXXXX") || exit 1
  echo $$ >"$VM_WORK/vm.pid"
  VM_SHARE=$VM_WORK/share
  mkdir -p "$VM_SHARE"/{bin,lib,out,sync}
  install -m 755 "$VM_HERE/vmsync" "$VM_SHARE/bin/vmsync"
  vm_log "work dir $VM_WORK, build dir $FAMFS_BUILD_DIR, vmlab cache $VMLAB_DIR"
}

# The shared libraries every guest has (the same apt archive as the host): glibc, libstdc++,
# libgcc_s, libfuse3, and ndctl's closure (libdaxctl, libuuid, libkmod, ...).
vm_guest_libs() {
  local d
  for d in "$VMLAB_DIR"/root/{lib,usr/lib}/x86_64-linux-gnu; do
    [[ -d $d ]] && find "$d" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -printf '%f\n'
  done | sort -u
}

# vm_stage BINARY...: copy our binaries (name or path) into share/bin, and every shared library
# they need that a guest lacks into share/lib (never libc.so.6 or the dynamic loader).
vm_stage() {
  local b src guest lib line name path copied=()
  guest=$(vm_guest_libs)
  for b in "$@"; do
    case $b in
      */*) src=$b ;;
      mkfs.famfs | famfs) src=$FAMFS_BUILD_DIR/src/cli/$b ;;
      famfs-fused) src=$FAMFS_BUILD_DIR/src/daemon/$b ;;
      *) src=$FAMFS_BUILD_DIR/$b ;;
    esac
    if [[ ! -x $src ]]; then
      echo "FAIL: $src is not built (FAMFS_BUILD_DIR=$FAMFS_BUILD_DIR; build it with ninja -C \$FAMFS_BUILD_DIR)"
      exit 1
    fi
    install -m 755 "$src" "$VM_SHARE/bin/" || exit 1
    while IFS= read -r line; do
      if [[ $line == *"not found"* ]]; then echo "FAIL: $src: $line (on the host)"; exit 1; fi
      [[ $line =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ (/[^[:space:]]+) ]] || continue
      name=${BASH_REMATCH[1]} path=${BASH_REMATCH[2]}
      case $name in libc.so.* | ld-linux* | linux-vdso*) continue ;; esac
      grep -qxF "$name" <<<"$guest" && continue
      [[ -e $VM_SHARE/lib/$name ]] && continue
      cp -L "$path" "$VM_SHARE/lib/$name" || exit 1
      copied+=("$name")
    done < <(ldd "$src")
  done
  vm_log "staged $* (+ libraries the guest lacks: ${copied[*]:-none})"
}

# vm_pool VAR SIZE: a fresh devdax pool in /dev/shm (removed at exit); its path goes into VAR
vm_pool() {
  local -n _p=$1
  _p=/dev/shm/famfs-vm-$VM_TEST-$1-$$.img
  VM_POOLS+=("$_p")
  "$VMLAB" pool "$_p" "$2" --force >/dev/null || { echo "FAIL: vmlab pool $2"; exit 1; }
}

# vm_start GUEST POOL CMDS [vmlab run options...]: boot a guest in the background (log in $VM_WORK/GUEST.log)
vm_start() {
  local g=$1 pool=$2 cmds=$3
  shift 3
  "$VMLAB" run --pool "$pool" --name "$g" --share "$VM_SHARE" --timeout "$VM_TIMEOUT" "$@" -- "$cmds" \
    >"$VM_WORK/$g.log" 2>&1 &
  VM_BG+=($!) VM_BG_NAMES+=("$g")
}

# vm_wait: wait for every background guest; VM_RC[GUEST] = its exit status; prints the consoles
declare -A VM_RC
vm_wait() {
  local i
  for i in "${!VM_BG[@]}"; do
    wait "${VM_BG[$i]}"
    VM_RC[${VM_BG_NAMES[$i]}]=$?
  done
  for i in "${!VM_BG[@]}"; do
    echo "---- console of guest ${VM_BG_NAMES[$i]} (exit ${VM_RC[${VM_BG_NAMES[$i]}]})"
    cat "$VM_WORK/${VM_BG_NAMES[$i]}.log"
  done
  VM_BG=() VM_BG_NAMES=()
}

# vm_run GUEST POOL CMDS [options]: one guest in the foreground; returns its exit status
vm_run() {
  vm_start "$@"
  vm_wait
  return "${VM_RC[$1]}"
}

out() { cat "$VM_SHARE/out/$1" 2>/dev/null; }

check() { # check GOT WANT WHAT
  if [[ $1 == "$2" ]]; then echo "ok: $3"; else echo "FAIL: $3 (got '$1', want '$2')"; VM_FAIL=1; fi
}
check_true() { # check_true WHAT CMD...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; VM_FAIL=1; fi
}
check_grep() { # check_grep REGEX FILE WHAT  (FILE relative to share/out)
  if grep -Eq -- "$1" "$VM_SHARE/out/$2" 2>/dev/null; then echo "ok: $3"
  else echo "FAIL: $3 (no /$1/ in out/$2:)"; sed 's/^/    | /' "$VM_SHARE/out/$2" 2>/dev/null | head -40; VM_FAIL=1; fi
}
skip_step() { echo "SKIP: $*"; }

# check_pool POOL ARGS...: host-side byte checks of the pool file (check_pool.py); sets POOL_FS_UUID
check_pool() {
  local pool=$1 txt; shift
  txt=$("$VM_PYTHON" "$VM_HERE/check_pool.py" "$pool" "$@")
  local rc=$?
  if [[ -n ${QUIET:-} ]]; then grep -v '^ok:' <<<"$txt" | sed 's/^/    /'; else sed 's/^/    /' <<<"$txt"; fi
  POOL_FS_UUID=$(sed -n 's/^fs_uuid=//p' <<<"$txt")
  if ((rc == 0)); then echo "ok: host byte checks of the pool file ($*)"
  else echo "FAIL: host byte checks of the pool file ($*)"; VM_FAIL=1; fi
}

vm_done() {
  echo
  if ((VM_FAIL)); then
    echo "$VM_TEST: FAILED ($((SECONDS - VM_T0)) s)"
    ls -la "$VM_SHARE/out" 2>/dev/null
    exit 1
  fi
  echo "$VM_TEST: PASS ($((SECONDS - VM_T0)) s)"
  exit 0
}

# check_json FILE PYEXPR WHAT: PYEXPR is evaluated with j = the JSON object in share/out/FILE
check_json() {
  local r
  r=$("$VM_PYTHON" -c 'import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"unparsable JSON: {e}"); sys.exit(2)
v = eval(sys.argv[2], {"j": j})
print("" if v is True else repr(j)[:600]); sys.exit(0 if v is True else 1)' "$VM_SHARE/out/$1" "$2" 2>&1)
  if [[ $? == 0 ]]; then echo "ok: $3"; else echo "FAIL: $3 ($2; $r)"; VM_FAIL=1; fi
}
