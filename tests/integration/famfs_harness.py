"""famfs_harness: real FUSE mounts of famfs image files for integration tests.

Small on purpose; other areas write tests against it. Everything a test starts (mounts,
daemons, images, temp dirs) is tracked and removed by cleanup_all(), which conftest.py runs
at the end of the session even when tests fail (fixtures also clean up after each test).

Environment
  FAMFS_BUILD_DIR   build directory (default /work/main/build)
  FAMFS_SOURCE_DIR  source tree (default: two levels above this file)
  FAMFS_CLI_BUILD_DIR  build directory of the famfs and mkfs.famfs binaries (default
                    FAMFS_BUILD_DIR); scripts/test.sh points it at the ASan+UBSan build, and
                    then any sanitizer report on a command's stderr fails the command
  FAMFS_TEST_EXPECT_TRANSPORT  uring|dev: every successful Host.mount checks that its daemon
                    serves through that transport (user.famfs.status "transport"); set by
                    run_uring.py together with FAMFS_TRANSPORT (the daemons' default)

Paths
  BUILD_DIR, SOURCE_DIR
  famfs_bin(), mkfs_bin(), fused_bin(), append_tool()   paths of the built programs
  FIXTURES_DIR                                          ../shared/fixtures next to the tree

Images
  make_image(size=4 GiB) -> str      fresh sparse file in /dev/shm with a unique name
  remove_image(path)
  extract_fixture(name="upstream-basic") -> (image_path, manifest_text)
                                     tar -xSJf of ../shared/fixtures/<name> into /dev/shm

Hosts (simulated hosts sharing one machine: each has its own identity file)
  h = Host("master")                 writes a fresh UUID (upstream format: 36 chars + NUL,
                                     mode 0444) into a temp file; h.uuid, h.uuid_file, h.env
  h.famfs(*args, check=True, timeout=120, input=None) -> CompletedProcess (text, captured)
                                     runs the famfs CLI with FAMFS_SYSTEM_UUID_FILE set
  h.run(argv, check=True, ...)       any command with this host's environment
  h.mkfs(image, *args)               mkfs.famfs [args] image
  h.mount(image, mpt=None, *opts, check=True) -> mountpoint
                                     famfs mount [opts] image mpt (fresh empty temp dir when
                                     mpt is None); the daemon log goes to h.logs[mpt].
                                     With check=False a failed mount returns the
                                     CompletedProcess instead (stderr has the reason).
                                     e.g. h.mount(img, None, "--read-only", "--refresh-ms", "60000")
  h.umount(mpt, check=True)          famfs umount mpt (then waits for the daemon to exit)
  h.daemon_log(mpt) -> str           the daemon's log text for that mount

Test append tool (tests/tools/famfs-test-append: writes log entries straight into an image,
as a master would, without any mount)
  append(image, *args, check=True) -> CompletedProcess
      famfs-test-append IMAGE mkdir PATH [--mode M] [--uid U] [--gid G]
      famfs-test-append IMAGE file PATH --size N [--mode M] [--uid U] [--gid G] [--seed S]
                                     [--interleave NSTRIPS --chunk BYTES] [--stamp]
      famfs-test-append IMAGE bulk DIR COUNT [--size N]     (DIR/f0 .. DIR/f<COUNT-1>)
      famfs-test-append IMAGE corrupt INDEX                   (flip a byte of entry INDEX)
      famfs-test-append IMAGE fill PATH --seed S              (pattern into an existing file)
  (no identity check: it appends whoever runs it; mkfs with -l 64m for > 15,000 entries)

Helpers
  is_mounted(mpt) -> bool            mpt appears in /proc/mounts
  mount_entry(mpt) -> dict|None      {device, mountpoint, fstype, options}
  famfs_mounts() -> list of dict     every fuse.famfs entry
  daemon_pids(mpt) -> [pid]          famfs-fused processes serving mpt
  wait_for(pred, timeout=5.0, interval=0.005) -> bool
  getxattr(path, name) -> str        os.getxattr decoded
  status(mpt) -> dict                JSON of user.famfs.status on the mount root
  debug_counters(mpt) -> dict        the daemon's internal counters of that status
                                     (invalidations_unsent, lookup_refs,
                                     inodes_known_to_kernel): read them only through this
  logplay(mpt) -> dict               JSON of user.famfs.logplay (forces a replay)
  pattern(seed, size) -> bytes       the randomised contents of spec B§8.5
  sha256_file(path) -> hex
  cleanup_all()                      unmount every tracked mount, stop every tracked daemon,
                                     remove images and temp dirs
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FAMFS_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD_DIR = os.environ.get("FAMFS_BUILD_DIR", "/work/main/build")
CLI_BUILD_DIR = os.environ.get("FAMFS_CLI_BUILD_DIR") or BUILD_DIR
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
FIXTURES_DIR = os.environ.get(
    "FAMFS_FIXTURES_DIR", os.path.abspath(os.path.join(SOURCE_DIR, "..", "shared", "fixtures")))

GiB = 1 << 30
MiB = 1 << 20

# Everything to clean up, in the order it was created.
_mounts = []      # mount points
_images = []      # image files
_dirs = []        # temp dirs (mount points, identity dirs, extracted fixtures)


def _bin(*names, build=None):
    build = build or BUILD_DIR
    for n in names:
        p = os.path.join(build, n)
        if os.path.exists(p):
            return p
    return os.path.join(build, names[0])


def famfs_bin():
    return _bin("src/cli/famfs", build=CLI_BUILD_DIR)


def mkfs_bin():
    return _bin("src/cli/mkfs.famfs", "src/mkfs/mkfs.famfs", build=CLI_BUILD_DIR)


def fused_bin():
    return _bin("src/daemon/famfs-fused")


def append_tool():
    return _bin("tests/tools/famfs-test-append")


class CommandFailed(subprocess.CalledProcessError):
    def __str__(self):
        return "command %r exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.cmd, self.returncode, self.stdout, self.stderr)


def _run(argv, env=None, check=True, timeout=120, input=None, cwd=None):
    argv = [str(a) for a in argv]
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       input=input, cwd=cwd)
    if any(s in p.stderr for s in SANITIZER_REPORTS):
        raise CommandFailed(p.returncode, argv, p.stdout, "sanitizer report:\n" + p.stderr)
    if check and p.returncode != 0:
        raise CommandFailed(p.returncode, argv, p.stdout, p.stderr)
    return p


def make_image(size=4 * GiB, prefix="famfs-img-"):
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".img", dir="/dev/shm")
    os.ftruncate(fd, size)
    os.close(fd)
    _images.append(path)
    return path


def remove_image(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if path in _images:
        _images.remove(path)


def extract_fixture(name="upstream-basic"):
    src = os.path.join(FIXTURES_DIR, name)
    d = tempfile.mkdtemp(prefix="famfs-fixture-", dir="/dev/shm")
    _dirs.append(d)
    tarball = [f for f in os.listdir(src) if f.endswith(".tar.xz")][0]
    _run(["tar", "-xSJf", os.path.join(src, tarball), "-C", d], timeout=300)
    imgs = [f for f in os.listdir(d) if f.endswith(".img")]
    image = os.path.join(d, imgs[0])
    _images.append(image)
    with open(os.path.join(src, "MANIFEST")) as f:
        manifest = f.read()
    return image, manifest


def _mktemp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _dirs.append(d)
    return d


class Host:
    """A simulated host: its own identity file and the environment that points at it."""

    def __init__(self, name, uuid=None):
        self.name = name
        self.uuid = str(uuid or uuidlib.uuid4())
        self.dir = _mktemp_dir("famfs-host-%s-" % name)
        self.uuid_file = os.path.join(self.dir, "system_uuid")
        with open(self.uuid_file, "wb") as f:
            f.write(self.uuid.encode() + b"\0")   # upstream: 36 chars + NUL, no newline
        os.chmod(self.uuid_file, 0o444)
        self.env = dict(os.environ)
        self.env["FAMFS_SYSTEM_UUID_FILE"] = self.uuid_file
        self.logs = {}   # mount point -> daemon log file
        self.mounts = []

    def __repr__(self):
        return "Host(%s, %s)" % (self.name, self.uuid)

    def run(self, argv, check=True, timeout=120, input=None, cwd=None):
        return _run(argv, env=self.env, check=check, timeout=timeout, input=input, cwd=cwd)

    def famfs(self, *args, check=True, timeout=120, input=None, cwd=None):
        return self.run([famfs_bin()] + list(args), check=check, timeout=timeout, input=input,
                        cwd=cwd)

    def mkfs(self, image, *args, check=True):
        return self.run([mkfs_bin()] + list(args) + [image], check=check)

    def mount(self, image, mpt=None, *opts, check=True):
        if mpt is None:
            mpt = _mktemp_dir("famfs-mpt-%s-" % self.name)
        log = os.path.join(self.dir, "fused-%d.log" % len(self.logs))
        self.logs[mpt] = log
        _mounts.append(mpt)
        self.mounts.append(mpt)
        p = self.famfs("mount", "--log-file", log, *opts, image, mpt, check=False)
        if check and p.returncode != 0:
            raise CommandFailed(p.returncode, ["famfs", "mount", image, mpt], p.stdout,
                                p.stderr + "\n--- daemon log ---\n" + self.daemon_log(mpt))
        if p.returncode == 0:
            self._check_transport(mpt)
        return mpt if p.returncode == 0 else p

    def _check_transport(self, mpt):
        want = os.environ.get("FAMFS_TEST_EXPECT_TRANSPORT")
        if not want or self.env.get("FAMFS_TRANSPORT") != os.environ.get("FAMFS_TRANSPORT"):
            return   # not asked, or this host's daemons were given another transport
        got = status(mpt).get("transport")
        if got != want:
            raise AssertionError("mount %s serves through %r, expected %r\n--- daemon log ---\n%s"
                                 % (mpt, got, want, self.daemon_log(mpt)))

    def umount(self, mpt, check=True):
        pids = daemon_pids(mpt)
        p = self.famfs("umount", mpt, check=check)
        if p.returncode == 0:
            for pid in pids:
                _wait_pid_gone(pid, 10.0)
        return p

    def daemon_log(self, mpt):
        try:
            with open(self.logs.get(mpt, "/nonexistent")) as f:
                return f.read()
        except OSError:
            return ""


def append(image, *args, check=True):
    return _run([append_tool(), image] + [str(a) for a in args], check=check)


# ---- /proc helpers ----------------------------------------------------------------------

def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace(
        "\\134", "\\")


def _proc_mounts():
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4:
                out.append({"device": _unescape(parts[0]), "mountpoint": _unescape(parts[1]),
                            "fstype": parts[2], "options": parts[3]})
    return out


def famfs_mounts():
    return [m for m in _proc_mounts() if m["fstype"] == "fuse.famfs"]


def mount_entry(mpt):
    mpt = os.path.realpath(mpt)
    for m in _proc_mounts():
        if m["mountpoint"] == mpt:
            return m
    return None


def is_mounted(mpt):
    return mount_entry(mpt) is not None


def daemon_pids(mpt):
    """famfs-fused processes whose command line names this mount point."""
    mpt = os.path.realpath(mpt)
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0].decode(errors="replace")).startswith("famfs-fused") and \
                mpt.encode() in argv:
            pids.append(int(d))
    return pids


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_pid_gone(pid, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if not _pid_alive(pid):
            return True
        time.sleep(0.01)
    return False


def wait_for(pred, timeout=5.0, interval=0.005):
    end = time.time() + timeout
    while True:
        if pred():
            return True
        if time.time() >= end:
            return False
        time.sleep(interval)


def getxattr(path, name):
    return os.getxattr(path, name).decode()


def status(mpt):
    return json.loads(getxattr(mpt, "user.famfs.status"))


def debug_counters(mpt):
    """The daemon's internal counters (not a stable interface: the one place that knows
    where the status report keeps them)."""
    return status(mpt)["debug"]


def logplay(mpt):
    return json.loads(getxattr(mpt, "user.famfs.logplay"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def pattern(seed, size):
    """Randomised file contents of spec B§8.5 (xoroshiro128+, low 32 bits per LE word)."""
    M = (1 << 64) - 1
    s = seed & 0xFFFFFFFF
    st = []
    for _ in range(2):
        s = (s + 0x9E3779B97F4A7C15) & M
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        st.append(z ^ (z >> 31))
    s0, s1 = st

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M

    out = bytearray()
    nwords = (size + 3) // 4
    for _ in range(nwords):
        r = (s0 + s1) & M
        s1 ^= s0
        s0 = rotl(s0, 55) ^ s1 ^ ((s1 << 14) & M)
        s1 = rotl(s1, 36)
        out += (r & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out[:size])


# ---- cleanup ----------------------------------------------------------------------------

def force_unmount(mpt, timeout=10.0):
    """Unmount mpt whatever state its daemon is in, then stop its daemons."""
    pids = daemon_pids(mpt)
    if is_mounted(mpt):
        _run([famfs_bin(), "umount", mpt], check=False, timeout=30)
    if is_mounted(mpt):
        _run(["fusermount3", "-u", "-z", mpt], check=False, timeout=30)
    if is_mounted(mpt):
        _run(["umount", "-l", mpt], check=False, timeout=30)
    for pid in pids + daemon_pids(mpt):
        if not _wait_pid_gone(pid, 2.0):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            if not _wait_pid_gone(pid, timeout / 2):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _wait_pid_gone(pid, timeout / 2)


def cleanup_mount(mpt):
    force_unmount(mpt)
    if mpt in _mounts:
        _mounts.remove(mpt)
    try:
        os.rmdir(mpt)
    except OSError:
        pass


def cleanup_all():
    for mpt in list(reversed(_mounts)):
        try:
            cleanup_mount(mpt)
        except Exception:   # keep going: leave nothing mounted
            pass
    for img in list(_images):
        remove_image(img)
    for d in list(reversed(_dirs)):
        if not is_mounted(d):
            shutil.rmtree(d, ignore_errors=True)
        _dirs.remove(d)
