"""famfs-fused's log: priorities for the journal, levels, SIGUSR1/SIGUSR2, no syslog socket.

Under systemd, stderr is a journal stream (JOURNAL_STREAM=DEV:INO names it): each line then
starts with its priority as <N> (journald strips it), with no program name or timestamp of
ours (the journal adds both). The test makes stderr a file and sets JOURNAL_STREAM to it.
"""

import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

import famfs_harness as fh


def _journal_env(host, errfile):
    st = os.fstat(errfile.fileno())
    env = dict(host.env)
    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    return env


class Foreground:
    """famfs-fused -f IMAGE MPT with stderr into a file; stopped with SIGTERM."""

    def __init__(self, host, image, opts, env=None, journal=True):
        self.mpt = tempfile.mkdtemp(prefix="famfs-log-mpt-")
        self.err = tempfile.NamedTemporaryFile(prefix="famfs-log-", suffix=".err", mode="w+")
        env = env or (_journal_env(host, self.err) if journal else dict(host.env))
        argv = [fh.fused_bin(), "-f"] + (["-o", opts] if opts else []) + [image, self.mpt]
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=self.err)
        if not fh.wait_for(lambda: fh.is_mounted(self.mpt) or self.p.poll() is not None, 30):
            raise AssertionError("famfs-fused did not mount: " + self.text())

    def text(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        fh.force_unmount(self.mpt)
        os.rmdir(self.mpt)
        self.err.close()


@pytest.fixture
def formatted():
    image = fh.make_image()
    host = fh.Host("log")
    host.mkfs(image)
    yield host, image
    fh.remove_image(image)


def test_journal_stream_gets_priority_prefixes(formatted):
    host, image = formatted
    fh.append(image, "file", "a", "--size", "4096")
    fh.append(image, "file", "b", "--size", "4096")
    fh.append(image, "corrupt", "1")           # entry 1 fails its CRC: the log is damaged
    d = Foreground(host, image, "")
    try:
        assert fh.wait_for(lambda: "LOG DAMAGED" in d.text(), 10), d.text()
        lines = [l for l in d.text().splitlines() if l]
        assert lines and all(re.match(r"^<[0-7]>", l) for l in lines), lines
        damaged = [l for l in lines if "LOG DAMAGED at entry 1" in l]
        assert damaged and damaged[0].startswith("<3>"), lines        # LOG_ERR
        started = [l for l in lines if "role master" in l]
        assert started and started[0].startswith("<6>"), lines        # LOG_INFO
        # no name or timestamp of ours: the journal adds them
        assert not [l for l in lines if "famfs-fused:" in l[:20] or re.search(r"\d\d:\d\d:\d\d", l)]
    finally:
        d.stop()


def test_plain_stderr_has_no_prefixes(formatted):
    host, image = formatted
    d = Foreground(host, image, "", journal=False)
    try:
        assert fh.wait_for(lambda: "role master" in d.text(), 10)
        assert not re.search(r"^<\d>", d.text(), re.M), d.text()
    finally:
        d.stop()


def test_loglevel_and_signal_steps(formatted):
    """-o loglevel=warn hides info; SIGUSR1 makes it one step more verbose (info), SIGUSR2 one
    step less (warn, then error)."""
    host, image = formatted
    d = Foreground(host, image, "loglevel=warn")
    try:
        mpt = d.mpt
        assert fh.is_mounted(mpt)
        host.famfs("creat", "-s", "4096", mpt + "/quiet")
        time.sleep(0.3)
        assert "role master" not in d.text() and "replayed" not in d.text(), d.text()
        d.p.send_signal(signal.SIGUSR1)                  # warn -> info
        time.sleep(0.2)
        host.famfs("creat", "-s", "4096", mpt + "/loud")
        assert fh.wait_for(lambda: "replayed log entries" in d.text(), 10), d.text()
        n = d.text().count("replayed log entries")
        d.p.send_signal(signal.SIGUSR2)                  # info -> warn
        d.p.send_signal(signal.SIGUSR2)                  # warn -> error
        time.sleep(0.2)
        host.famfs("creat", "-s", "4096", mpt + "/quiet2")
        time.sleep(0.5)
        assert d.text().count("replayed log entries") == n, d.text()
        assert d.p.poll() is None                        # the signals did not kill it
    finally:
        d.stop()


def test_bad_loglevel_and_log_are_refused(formatted, tmp_path):
    host, image = formatted
    for opt, msg in (("loglevel=loud", "loglevel must be"), ("log=printer", "log must be")):
        r = host.run([fh.fused_bin(), "-f", "-o", opt, image, str(tmp_path)], check=False)
        assert r.returncode != 0 and msg in r.stderr, r.stderr


def _no_syslog_socket():
    return not os.path.exists("/dev/log")


def test_missing_syslog_socket_is_reported(formatted, tmp_path):
    """With no /dev/log (and no journal socket for log=journal) the daemon says so on stderr
    before detaching, instead of losing its log without a word; in the foreground it logs to
    stderr instead."""
    host, image = formatted
    missing = str(tmp_path / "missing.img")
    argv_bg = [fh.fused_bin(), missing, str(tmp_path)]
    setup = "mount --bind /dev/null /dev/log 2>/dev/null || true; exec \"$@\""
    wrap = [] if _no_syslog_socket() else ["unshare", "-m", "--propagation", "private", "sh",
                                           "-c", setup, "sh"]
    r = host.run(wrap + argv_bg, check=False)
    assert r.returncode != 0
    assert "no syslog socket (/dev/log)" in r.stderr and "lost" in r.stderr, r.stderr
    assert missing in r.stderr                       # the error itself still reaches stderr
    if not os.path.exists("/run/systemd/journal/socket"):
        r = host.run([fh.fused_bin(), "-f", "-o", "log=journal", missing, str(tmp_path)],
                     check=False)
        assert r.returncode != 0
        assert "no journal socket" in r.stderr and "logging to stderr instead" in r.stderr
        assert missing in r.stderr, r.stderr
