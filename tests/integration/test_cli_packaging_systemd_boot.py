"""Packaging: famfs@.service under a real systemd (PID 1) and journald.

The test machine has no systemd as PID 1, so a Debian 12 root (made once with debootstrap,
cached under /var/tmp) is booted with `systemd-nspawn -b`, its / a throw-away overlay
(--volatile=overlay), with /dev/fuse and a famfs image of the test bound in. In it, as an
operator would: install the packages built from the source package (dpkg -i of the .debs
that test_cli_packaging_deb.py checks: one dpkg-buildpackage per session, conftest.py), write
/etc/famfs/<instance>.conf, `systemctl start famfs@<instance>.service`, then read the state
back with systemctl and journalctl:
- the unit is `activating` until the daemon says READY=1, and active only once the log is
  replayed (every file visible when `systemctl start` returns; the daemon's replay line
  comes before systemd's "Started" in the journal);
- `systemctl status` shows the daemon's STATUS= text, which follows the log as it grows;
- the sandbox settings are applied (seccomp, no_new_privs, the capability bounding set) and
  the mount works under them;
- the journal has the daemon's lines with priorities: a damaged log is an error
  (`journalctl -p err`);
- stop: the unit goes inactive with result success, the mount is gone.
Cache: $FAMFS_SYSTEMD_ROOT (default /var/tmp/famfs-systemd/root), made on first use
(9-14 minutes on the busy 2-core test machine: debootstrap downloads about 60 MB and
unpacks them); later runs boot it in 2-3 s, and the test takes about 20 s.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import famfs_harness as fh

ROOT = os.environ.get("FAMFS_SYSTEMD_ROOT", "/var/tmp/famfs-systemd/root")
SUITE = "bookworm"
# What the root needs besides minbase: systemd as init, and what the famfs packages depend
# on (dpkg -i installs no dependencies).
ROOT_PACKAGES = ("systemd", "systemd-sysv", "dbus", "fuse3", "libfuse3-3", "libdaxctl1",
                 "libspdlog1.10", "libfmt9", "libyaml-0-2", "liburing2", "libuuid1", "zlib1g", "libdeflate0",
                 "procps", "mount")
STAMP = ".famfs-systemd-root"     # written last: a root without it is incomplete
MPT = "/srv/famfs"
INSTANCE = "srv-famfs"            # systemd-escape --path /srv/famfs
UNIT = "famfs@%s.service" % INSTANCE
DEVICE = "/run/famfs-test/famfs.img"   # made to appear after the start (a symlink)
IMAGE_IN = "/var/lib/famfs-test/famfs.img"   # where the test's image is bound
PATH_ENV = "/usr/sbin:/usr/bin:/sbin:/bin"
# systemd's "Started <unit>" (sd-messages.h SD_MESSAGE_UNIT_STARTED)
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"


def _stamp_text():
    return "suite=%s\npackages=%s\n" % (SUITE, " ".join(ROOT_PACKAGES))


def _debootstrap_source():
    """The Debian mirror apt is configured with (deb822 or one-line sources)."""
    for path in ["/etc/apt/sources.list"] + sorted(
            os.path.join("/etc/apt/sources.list.d", f)
            for f in os.listdir("/etc/apt/sources.list.d")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
    return "http://deb.debian.org/debian"


def _ensure_root():
    """The cached Debian root, made with debootstrap when missing (under a lock)."""
    stamp = os.path.join(ROOT, STAMP)
    if os.path.exists(stamp) and open(stamp).read() == _stamp_text():
        return ROOT
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        assert shutil.which(tool), "%s is needed (scripts/deps.sh --test)" % tool
    parent = os.path.dirname(ROOT)
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp) and open(stamp).read() == _stamp_text():
            return ROOT
        tmp = ROOT + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ROOT, ignore_errors=True)
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--include=" + ",".join(ROOT_PACKAGES), SUITE, tmp,
                            _debootstrap_source()],
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        # A console-less container: no getty; the machine id is made at each boot.
        for unit in ("console-getty.service", "getty@.service"):
            p = os.path.join(tmp, "etc/systemd/system", unit)
            if not os.path.lexists(p):
                os.symlink("/dev/null", p)
        open(os.path.join(tmp, "etc/machine-id"), "w").close()
        with open(os.path.join(tmp, STAMP), "w") as f:
            f.write(_stamp_text())
        os.rename(tmp, ROOT)
    return ROOT


def _children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            out += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, t)).read().split()]
        except OSError:
            pass
    return out


def _comm(pid):
    try:
        return open("/proc/%d/comm" % pid).read().strip()
    except OSError:
        return ""


class Container:
    """One boot of the cached root; every command runs in it through nsenter."""

    def __init__(self, image, uuid_file, debs_dir, log_path):
        self.name = "famfs-test-%d" % os.getpid()
        self.log = open(log_path, "w+")
        argv = ["systemd-nspawn", "--quiet", "--boot", "--directory", ROOT,
                "--volatile=overlay", "--private-network",
                # no systemd on the host: no machined to register with, no scope to make
                "--register=no", "--keep-unit",
                "--console=passive", "--machine", self.name,
                "--bind=/dev/fuse", "--bind=%s:%s" % (image, IMAGE_IN),
                "--bind-ro=%s:/opt/famfs/system_uuid" % uuid_file,
                "--bind-ro=%s:/tmp/famfs-debs" % debs_dir]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.leader = None
        end = time.time() + 60
        while self.leader is None and time.time() < end and self.proc.poll() is None:
            # the container's PID 1: nspawn's child, once it has exec'd systemd
            for pid in _children(self.proc.pid):
                if _comm(pid) == "systemd":
                    self.leader = pid
            time.sleep(0.1)
        assert self.leader, "the container did not start:\n" + self.output()

    def output(self):
        self.log.seek(0)
        return self.log.read()[-6000:]

    def run(self, *argv, check=True, timeout=60, input=None):
        env = {"PATH": PATH_ENV, "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0",
               "TERM": "dumb"}
        p = subprocess.run(["nsenter", "--target", str(self.leader), "--all", "--"] +
                           list(argv), env=env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise fh.CommandFailed(p.returncode, list(argv), p.stdout, p.stderr)
        return p

    def sh(self, script, **kw):
        return self.run("/bin/sh", "-euc", script, **kw)

    def wait_booted(self):
        # (systemctl fails until PID 1 listens on its socket: ask again until it answers)
        end = time.time() + 180
        while True:
            p = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=180)
            state = p.stdout.strip()
            if state in ("running", "degraded") or time.time() > end:
                break
            time.sleep(0.2)
        assert state in ("running", "degraded"), (state, p.stderr, self.output())
        if state == "degraded":   # say which (nothing famfs needs: the test goes on)
            print(self.run("systemctl", "--failed", "--no-legend", check=False).stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.run("systemctl", "poweroff", "--no-block", check=False, timeout=30)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def booted(debs_built, tmp_path_factory):
    _ensure_root()
    work = tmp_path_factory.mktemp("systemd-boot")
    image = fh.make_image()
    host = fh.Host("svc-master")
    c = None
    try:
        host.mkfs(image)
        c = Container(image, host.uuid_file, str(debs_built["dir"]), str(work / "console.log"))
        c.wait_booted()
        yield c, host, image
    finally:
        if c is not None:
            c.stop()
        fh.remove_image(image)


def _show(c, prop):
    return c.run("systemctl", "show", "-P", prop, UNIT).stdout.strip()


def _journal(c, *args):
    p = c.run("journalctl", "--no-pager", "-o", "json", "-b", *args)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def _wait(pred, timeout, what):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.time() < end, what
        time.sleep(0.1)


def test_unit_under_a_booted_systemd(booted):
    c, host, image = booted
    # Something to replay: a directory and 40 files, as a master appends them.
    fh.append(image, "bulk", "d", "40", "--size", "4096")
    # Install, as an operator would, from the packages of the source package.
    c.sh("dpkg -i /tmp/famfs-debs/famfs_*.deb /tmp/famfs-debs/libfamfs1_*.deb")
    assert c.run("systemctl", "is-enabled", UNIT, check=False).stdout.strip() != "enabled"
    c.sh("mkdir -p /etc/famfs && printf 'DEVICE=%s\\nOPTIONS=refresh_ms=5\\nDEVICE_TIMEOUT=60\\n'"
         " > /etc/famfs/%s.conf" % (DEVICE, INSTANCE))
    assert c.run("systemd-escape", "--path", MPT).stdout.strip() == INSTANCE

    # The device is not there yet: the unit stays "activating" (Type=notify: no READY=1).
    c.run("systemctl", "start", "--no-block", UNIT)
    _wait(lambda: _show(c, "ActiveState") == "activating", 20, "never activating")
    time.sleep(1)
    assert _show(c, "ActiveState") == "activating"
    assert c.run("findmnt", "-n", MPT, check=False).returncode != 0
    # The device appears: the daemon replays, mounts, says READY=1; only then "active", and
    # then the replayed files are all there.
    c.sh("mkdir -p /run/famfs-test && ln -s %s %s" % (IMAGE_IN, DEVICE))
    c.run("systemctl", "start", UNIT, timeout=120)     # returns when the unit is active
    assert _show(c, "ActiveState") == "active"
    assert len(c.run("ls", MPT + "/d").stdout.split()) == 40
    fstype = c.run("findmnt", "-n", "-o", "FSTYPE", MPT).stdout.strip()
    assert fstype == "fuse.famfs"
    lines = _journal(c, "-u", UNIT)
    # (both the daemon's lines and systemd's own about the unit are in `journalctl -u`)
    replayed = [i for i, e in enumerate(lines) if "role master" in e.get("MESSAGE", "")]
    started = [i for i, e in enumerate(lines) if e.get("MESSAGE_ID") == UNIT_STARTED]
    assert replayed and started and replayed[0] < started[0], [e.get("MESSAGE") for e in lines]

    # systemctl status shows the daemon's STATUS=; it follows the log.
    st = c.run("systemctl", "status", "--no-pager", UNIT, check=False).stdout
    assert re.search(r'Status: "master: 41/\d+ log entries used, replay lag ', st), st
    assert "Active: active (running)" in st, st
    fh.append(image, "bulk", "e", "8", "--size", "4096")   # 9 entries
    _wait(lambda: _show(c, "StatusText").startswith("master: 50/"), 20,
          "STATUS= did not follow the log: " + _show(c, "StatusText"))

    # The sandbox is applied to the daemon, and the mount works under it.
    pid = int(_show(c, "MainPID"))              # (a pid of the container)
    assert c.run("cat", "/proc/%d/comm" % pid).stdout.strip() == "famfs-fused"
    proc = dict(l.split(":\t", 1) for l in c.run("cat", "/proc/%d/status" % pid).stdout
                .splitlines() if ":\t" in l)
    assert proc["NoNewPrivs"].strip() == "1"
    assert proc["Seccomp"].strip() == "2"             # a filter: SystemCallFilter=
    caps = int(proc["CapBnd"], 16)
    # CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_NICE
    assert caps == (1 << 21) | (1 << 1) | (1 << 2) | (1 << 23), hex(caps)
    c.sh("head -c 4096 %s/d/f0 > /dev/null && cat %s/.meta/.superblock > /dev/null" % (MPT, MPT))
    famfs_status = json.loads(c.run("famfs", "status", "--json", MPT).stdout)
    assert famfs_status["role"] == "master" and famfs_status["files"] == 48

    # The journal: the daemon's lines with priorities (info for the replay reports).
    daemon = [e for e in _journal(c, "-u", UNIT) if e.get("_COMM") == "famfs-fused"]
    assert daemon, _journal(c, "-u", UNIT)
    assert all(e["SYSLOG_IDENTIFIER"] == "famfs-fused" for e in daemon)   # SyslogIdentifier=
    assert all(e["PRIORITY"] == "6" for e in daemon if "role master" in e["MESSAGE"])
    assert not [e for e in daemon if e["MESSAGE"].startswith("<")]   # prefixes were read

    # Stop: STOPPING, unmounted, inactive with result success.
    c.run("systemctl", "stop", UNIT, timeout=60)
    assert _show(c, "ActiveState") == "inactive"
    assert _show(c, "Result") == "success"
    assert c.run("findmnt", "-n", MPT, check=False).returncode != 0

    # A damaged log: the daemon still serves what comes before it, says so in STATUS=, and
    # "LOG DAMAGED" is an error in the journal.
    fh.append(image, "file", "late", "--size", "4096")
    fh.append(image, "corrupt", "50")
    c.run("systemctl", "start", UNIT, timeout=120)
    assert "LOG DAMAGED at entry 50" in _show(c, "StatusText"), _show(c, "StatusText")
    errs = [e for e in _journal(c, "-u", UNIT, "-p", "err") if e.get("_COMM") == "famfs-fused"]
    assert [e for e in errs if "LOG DAMAGED at entry 50" in e["MESSAGE"]], errs
    assert all(e["PRIORITY"] == "3" for e in errs if "LOG DAMAGED" in e["MESSAGE"])
    c.run("systemctl", "stop", UNIT, timeout=60)
    assert c.run("findmnt", "-n", MPT, check=False).returncode != 0
    c.sh("dpkg --purge famfs libfamfs1")


if __name__ == "__main__":
    # scripts/test.sh makes the root ahead, in the background, while the tree builds (it is
    # mostly download and unpack): `python3 test_cli_packaging_systemd_boot.py --make-root`.
    import sys
    if sys.argv[1:] != ["--make-root"]:
        sys.exit("usage: test_cli_packaging_systemd_boot.py --make-root")
    print(_ensure_root())
