"""Packaging: the famfs@.service template and the steps it runs (famfs-service).

systemd is not PID 1 in the test machine, so the unit is checked with systemd-analyze verify
(SKIP when absent), and its steps are run by hand exactly as the unit runs them: start (which
execs famfs-fused -f in the foreground), wait, stop, cleanup.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import famfs_harness as fh

PKG_BUILD = os.path.join(fh.BUILD_DIR, "packaging")
UNIT_IN = os.path.join(fh.SOURCE_DIR, "packaging", "systemd", "famfs@.service.in")
SERVICE = os.path.join(PKG_BUILD, "famfs-service")
UNIT = os.path.join(PKG_BUILD, "famfs@.service")


def unit_settings(path):
    """[Section] key=value lines of a unit (repeated keys kept in order)."""
    out, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            out.append((section, k, v))
    return out


def test_unit_is_configured_with_absolute_paths():
    assert os.path.exists(UNIT), "packaging/meson.build did not configure the unit"
    s = unit_settings(UNIT)
    d = {}
    for sec, k, v in s:
        d.setdefault((sec, k), []).append(v)
    assert d[("Service", "Type")] == ["notify"]
    assert d[("Service", "NotifyAccess")] == ["main"]
    assert d[("Service", "WatchdogSec")] == ["30"]
    assert d[("Service", "SyslogIdentifier")] == ["famfs-fused"]   # not "famfs-service"
    assert d[("Service", "EnvironmentFile")] == ["/etc/famfs/%i.conf"]
    assert d[("Service", "Restart")] == ["on-failure"]
    assert d[("Install", "WantedBy")] == ["multi-user.target"]
    # READY=1 from the daemon replaces the ExecStartPost poll (famfs-service wait stays, for
    # starts without systemd).
    assert ("Service", "ExecStartPost") not in d
    for key, step in (("ExecStart", "start"), ("ExecStop", "stop"), ("ExecStopPost", "cleanup")):
        (v,) = d[("Service", key)]
        exe, arg, mpt = v.split()
        assert os.path.isabs(exe) and exe.endswith("/famfs/famfs-service"), v
        assert (arg, mpt) == (step, "%f"), v
    assert not re.search(r"@[A-Z_]+@", open(UNIT).read()), "unsubstituted @VAR@ in the unit"


def _systemd_analyze():
    sa = shutil.which("systemd-analyze")
    assert sa, "systemd-analyze is needed (Debian package systemd; scripts/deps.sh --test)"
    return sa


def test_systemd_analyze_verify(tmp_path):
    sa = _systemd_analyze()
    # The configured unit names the installed famfs-service; point it at the built one (verify
    # checks that every Exec*= program exists and is executable), and at the man pages of the
    # source tree (verify runs man for each Documentation=man: entry).
    text = open(UNIT).read()
    exe = [v for sec, k, v in unit_settings(UNIT) if k == "ExecStart"][0].split()[0]
    text = text.replace(exe, SERVICE)
    mandir = tmp_path / "man"
    (mandir / "man8").mkdir(parents=True)
    (mandir / "man3").mkdir(parents=True)
    srcman = os.path.join(fh.SOURCE_DIR, "packaging", "man")
    for f in os.listdir(srcman):
        shutil.copy(os.path.join(srcman, f), mandir / ("man" + f[-1]) / f)
    env = dict(os.environ, MANPATH=str(mandir))
    for name in ("famfs@.service", "famfs@mnt-famfs.service", "famfs@srv-famfs\\x2ddata.service"):
        p = tmp_path / name
        p.write_text(text)
        r = subprocess.run([sa, "verify", str(p)], capture_output=True, text=True, env=env,
                           timeout=60)
        assert r.returncode == 0 and r.stderr.strip() == "", (name, r.stdout, r.stderr)


def test_instance_name_maps_to_mount_point():
    """The documented instance naming: systemd-escape --path, %f unescapes it."""
    esc = shutil.which("systemd-escape")
    if esc is None:
        pytest.skip("systemd-escape not installed")
    out = subprocess.run([esc, "--path", "/mnt/famfs"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "mnt-famfs"
    back = subprocess.run([esc, "--unescape", "--path", out], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert back == "/mnt/famfs"


def _service(step, mpt, env, check=True, timeout=60):
    return subprocess.run([SERVICE, step, mpt], env=env, capture_output=True, text=True,
                          timeout=timeout, check=check)


@pytest.fixture
def formatted_image():
    image = fh.make_image()
    host = fh.Host("svc")
    host.mkfs(image)
    yield host, image
    fh.remove_image(image)


def _service_env(host, image, **extra):
    env = dict(host.env)
    env.pop("FAMFS_SYSTEM_UUID_FILE", None)   # the identity comes through OPTIONS here
    env.update({"DEVICE": image, "FAMFS_FUSED": fh.fused_bin(),
                "OPTIONS": "defaults,refresh_ms=5,system_uuid_file=%s" % host.uuid_file,
                "MOUNT_TIMEOUT": "20", "DEVICE_TIMEOUT": "2"})
    env.update(extra)
    return env


def _start(mpt, env, log):
    """What systemd does for ExecStart: run it; the daemon is the main process."""
    return subprocess.Popen([SERVICE, "start", mpt], env=env, stdout=log, stderr=log,
                            start_new_session=True)


def _stop_proc(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def test_service_steps_mount_and_unmount(formatted_image, tmp_path):
    host, image = formatted_image
    mpt = str(tmp_path / "mnt with space")   # created by the start step
    env = _service_env(host, image)
    log = open(tmp_path / "service.log", "w+")
    p = _start(mpt, env, log)
    try:
        _service("wait", mpt, env)
        m = fh.mount_entry(mpt)
        assert m is not None and m["fstype"] == "fuse.famfs", m
        assert m["device"] == os.path.realpath(image)
        # The daemon is the unit's main process (exec), in the foreground.
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            argv = f.read().split(b"\0")
        assert os.path.basename(argv[0].decode()).startswith("famfs-fused"), argv
        assert b"-f" in argv and image.encode() in argv and mpt.encode() in argv
        # OPTIONS as given: famfs-fused ignores the fstab words itself.
        o = argv[argv.index(b"-o") + 1].decode()
        assert o == "defaults,refresh_ms=5,system_uuid_file=%s" % host.uuid_file
        assert fh.status(mpt)["role"] == "master"
        # A second start on a live mount refuses instead of detaching it.
        r = _service("start", mpt, env, check=False)
        assert r.returncode != 0 and "already mounted" in r.stderr
        assert fh.is_mounted(mpt)
        # cleanup leaves a live mount alone.
        _service("cleanup", mpt, env)
        assert fh.is_mounted(mpt)
        # ExecStop: unmount; the daemon then exits cleanly.
        _service("stop", mpt, env)
        assert not fh.is_mounted(mpt)
        assert p.wait(20) == 0, open(tmp_path / "service.log").read()
    finally:
        _stop_proc(p)
        fh.force_unmount(mpt)
        log.close()


def test_service_recovers_from_a_dead_daemon(formatted_image, tmp_path):
    host, image = formatted_image
    mpt = str(tmp_path / "mnt")
    env = _service_env(host, image)
    log = open(tmp_path / "service.log", "w+")
    p = _start(mpt, env, log)
    p2 = None
    try:
        _service("wait", mpt, env)
        os.kill(p.pid, signal.SIGKILL)     # the daemon dies: the mount is left dead
        p.wait(10)
        if fh.is_mounted(mpt):
            # ExecStopPost detaches it...
            _service("cleanup", mpt, env)
            assert not fh.is_mounted(mpt)
        # ... and Restart=on-failure starts again (start also detaches a dead mount).
        p2 = _start(mpt, env, log)
        _service("wait", mpt, env)
        assert fh.status(mpt)["role"] == "master"
        _service("stop", mpt, env)
        assert p2.wait(20) == 0
        assert not fh.is_mounted(mpt)
    finally:
        _stop_proc(p)
        if p2 is not None:
            _stop_proc(p2)
        fh.force_unmount(mpt)
        log.close()


def test_service_through_a_symlinked_path(formatted_image, tmp_path):
    """%f may go through a symlink (/mnt -> /srv/mnt): /proc/mounts shows the real path."""
    host, image = formatted_image
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    mpt = str(tmp_path / "link" / "m")
    env = _service_env(host, image)
    log = open(tmp_path / "service.log", "w+")
    p = _start(mpt, env, log)
    try:
        _service("wait", mpt, env)
        assert fh.is_mounted(str(tmp_path / "real" / "m"))
        _service("stop", mpt, env)
        assert p.wait(20) == 0
        assert not fh.is_mounted(str(tmp_path / "real" / "m"))
    finally:
        _stop_proc(p)
        fh.force_unmount(str(tmp_path / "real" / "m"))
        log.close()


def test_service_start_fails_clearly(tmp_path):
    mpt = str(tmp_path / "m")
    env = dict(os.environ, FAMFS_FUSED=fh.fused_bin(), DEVICE_TIMEOUT="1")
    env.pop("DEVICE", None)
    r = _service("start", mpt, env, check=False)
    assert r.returncode == 1 and "DEVICE is not set" in r.stderr
    env["DEVICE"] = str(tmp_path / "no-such-device")
    t = time.time()
    r = _service("start", mpt, env, check=False)
    assert r.returncode == 1 and "did not appear" in r.stderr
    assert time.time() - t < 10
    r = _service("start", "relative/mpt", env, check=False)
    assert r.returncode == 1 and "absolute" in r.stderr
    env["MOUNT_TIMEOUT"] = "1"
    r = _service("wait", mpt, env, check=False)
    assert r.returncode == 1 and "not mounted" in r.stderr
    # stop and cleanup of something not mounted: nothing to do, success.
    assert _service("stop", mpt, env).returncode == 0
    assert _service("cleanup", mpt, env).returncode == 0


def test_fstab_line_makes_a_valid_mount_unit(tmp_path):
    """The documented fstab line, through systemd's fstab generator, gives a mount unit that
    runs mount -t famfs with the options (which mount.famfs then translates)."""
    gen = "/lib/systemd/system-generators/systemd-fstab-generator"
    sa = shutil.which("systemd-analyze")
    if not os.path.exists(gen) or sa is None:
        print("SKIP: systemd (fstab generator) not installed")
        pytest.skip("systemd not installed")
    fstab = tmp_path / "fstab"
    fstab.write_text("/dev/dax0.0  /mnt/famfs  famfs  defaults,nofail,refresh_ms=5  0 0\n")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, SYSTEMD_FSTAB=str(fstab), SYSTEMD_PROC_CMDLINE="")
    subprocess.run([gen, str(out), str(out), str(out)], env=env, check=True, timeout=60)
    unit = out / "mnt-famfs.mount"
    text = unit.read_text()
    assert "What=/dev/dax0.0" in text and "Where=/mnt/famfs" in text
    assert "Type=famfs" in text and "Options=defaults,nofail,refresh_ms=5" in text
    r = subprocess.run([sa, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_example_config_options_exist():
    """The -o options the example /etc/famfs/<instance>.conf lists are famfs-fused's."""
    if not os.access(fh.fused_bin(), os.X_OK):
        pytest.skip("famfs-fused is not built")
    h = subprocess.run([fh.fused_bin(), "--help"], capture_output=True, text=True,
                       timeout=30)
    known = set(re.findall(r"-o\s+([a-z_]+)", h.stdout + h.stderr))
    example = open(os.path.join(fh.SOURCE_DIR, "packaging", "systemd",
                                "famfs.conf.example")).read()
    listed = re.findall(r"^#\s+([a-z_]+)(?:=\S+)?\s{2,}", example, re.M)
    assert listed and set(listed) <= known, (listed, known)
    m = re.search(r"^OPTIONS=(\S+)", example, re.M)
    for o in m.group(1).split(","):
        assert o.split("=")[0] in known, o


# ---- Type=notify and the sandbox --------------------------------------------------------------

class NotifyListener:
    """What systemd is to a Type=notify service: an AF_UNIX datagram socket in NOTIFY_SOCKET,
    collecting the messages (one dict of KEY=VALUE per datagram)."""

    def __init__(self):
        import socket
        self.dir = tempfile.mkdtemp(prefix="famfs-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def next(self, timeout):
        """The next message, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except OSError:
            return None
        msg = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append(msg)
        return msg

    def wait_for(self, pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.next(max(0.01, end - time.monotonic()))
            if m is not None and pred(m):
                return m
        return None

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _unit_caps():
    """The unit's CapabilityBoundingSet= as setpriv --bounding-set wants it."""
    (v,) = [v for sec, k, v in unit_settings(UNIT) if k == "CapabilityBoundingSet"]
    return "-all," + ",".join("+" + c.lower().replace("cap_", "") for c in v.split())


def test_daemon_speaks_sd_notify_under_the_units_limits(formatted_image, tmp_path):
    """famfs-fused started as the unit starts it (famfs-service start, the unit's capability
    bounding set, no new privileges) with a notify socket of ours: READY=1 only once the
    replayed log is served, STATUS= with role, entries and lag, updated when the log grows,
    WATCHDOG=1 (WatchdogSec=), STOPPING=1 on SIGTERM."""
    host, image = formatted_image
    # something to replay: a file made through a plain mount first
    mpt0 = host.mount(image)
    host.famfs("creat", "-s", "1m", mpt0 + "/before")
    host.umount(mpt0)
    mpt = str(tmp_path / "mnt")
    listener = NotifyListener()
    env = _service_env(host, image, NOTIFY_SOCKET=listener.path, WATCHDOG_USEC="400000")
    log = open(tmp_path / "service.log", "w+")
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed"
    p = subprocess.Popen([setpriv, "--no-new-privs", "--bounding-set", _unit_caps(), SERVICE,
                          "start", mpt], env=env, stdout=log, stderr=log,
                         start_new_session=True)
    try:
        ready = listener.wait_for(lambda m: m.get("READY") == "1", 30)
        log.seek(0)
        assert ready is not None, (listener.messages, log.read())
        # at READY the mount is there and the log replayed
        assert fh.is_mounted(mpt) and os.path.exists(mpt + "/before")
        assert re.match(r"^master: 1/\d+ log entries used, replay lag ", ready["STATUS"]), ready
        total = int(re.match(r"^master: 1/(\d+)", ready["STATUS"]).group(1))
        assert total == fh.status(mpt)["entries_total"]
        # the log grows: STATUS follows (rate-limited, so within a second or so)
        host.famfs("creat", "-s", "1m", mpt + "/after1")
        host.famfs("creat", "-s", "1m", mpt + "/after2")
        st = listener.wait_for(lambda m: m.get("STATUS", "").startswith("master: 3/"), 10)
        assert st is not None, listener.messages
        assert listener.wait_for(lambda m: m.get("WATCHDOG") == "1", 5) is not None
        statuses = [m for m in listener.messages if "STATUS" in m]
        assert len(statuses) <= 8, statuses   # only on change, not on every poll
        os.killpg(p.pid, signal.SIGTERM)
        stop = listener.wait_for(lambda m: m.get("STOPPING") == "1", 10)
        assert stop is not None, listener.messages
        assert p.wait(20) == 0
        assert not fh.is_mounted(mpt)
    finally:
        _stop_proc(p)
        fh.force_unmount(mpt)
        listener.close()
        log.close()


def test_daemon_without_notify_socket_is_unchanged(formatted_image, tmp_path):
    """No NOTIFY_SOCKET (a start by hand): famfs-service wait still tells when it is up."""
    host, image = formatted_image
    mpt = str(tmp_path / "mnt")
    env = _service_env(host, image)
    env.pop("NOTIFY_SOCKET", None)
    log = open(tmp_path / "service.log", "w+")
    p = _start(mpt, env, log)
    try:
        _service("wait", mpt, env)
        assert fh.status(mpt)["role"] == "master"
        _service("stop", mpt, env)
        assert p.wait(20) == 0
    finally:
        _stop_proc(p)
        fh.force_unmount(mpt)
        log.close()


def test_unit_sandbox_score(tmp_path):
    """systemd-analyze security of the unit (offline): 9.4 UNSAFE before the sandboxing,
    3.9 OK now (packaging.md); this fails if a setting goes missing."""
    sa = _systemd_analyze()
    unit = tmp_path / "famfs@mnt-famfs.service"
    unit.write_text(open(UNIT).read())
    r = subprocess.run([sa, "security", "--offline=yes", str(unit)], capture_output=True,
                       text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 4.0, r.stdout
