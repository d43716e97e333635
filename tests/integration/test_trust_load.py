"""Issue 8: load. One master and 8 client daemons on one image (one identity file each), bursts
of creates on the master, continuous verified reads on every client. No error, every client
converges (famfs status --json), and no daemon grows in open fds or resident memory while the
load runs.

    FAMFS_LOAD_SECONDS   how long the load runs (default 25 in the suite; a few minutes by hand)
"""

import json
import os
import random
import threading
import time

import pytest

import famfs_harness as fh

CLIENTS = 8
SECONDS = float(os.environ.get("FAMFS_LOAD_SECONDS", "25"))
BURST = 8                  # files per burst
FILE_SIZE = 16384
# Each file takes one 2 MiB unit and one log slot: a 64 GiB sparse image and the default 8 MiB
# log (15,420 slots) leave room for MAX_FILES; the writer stops there and reads go on.
IMAGE_SIZE = 64 << 30
MAX_FILES = 12000
# Slack for the daemon samples: the inode table grows with the files (~225 B each), and the
# allocator and kernel may hold a few more fds or pages for a moment.
FD_SLACK = 2
RSS_SLACK_KB = 8192


def _proc(pid):
    """(open fds, VmRSS kB, RssAnon kB). VmRSS also counts the device pages the daemon has
    touched through its shared mapping (it grows with the data read); RssAnon is the daemon's
    own memory, where a leak would show."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        st = {l.split(":")[0]: l.split()[1] for l in f if l.startswith(("VmRSS:", "RssAnon:"))}
    return fds, int(st["VmRSS"]), int(st["RssAnon"])


class Load:
    def __init__(self, master, clients):
        self.m, self.clients = master, clients
        self.created = []          # (relpath, seed), appended once the creat exited 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reads = [0] * len(clients)
        self.errors = []
        self.expected = {}         # seed -> bytes

    def want(self, seed):
        b = self.expected.get(seed)
        if b is None:
            b = self.expected[seed] = fh.pattern(seed, FILE_SIZE)
        return b

    def writer(self):
        burst = 0
        try:
            while not self.stop.is_set() and len(self.created) + BURST <= MAX_FILES:
                files = []
                for k in range(BURST):
                    seed = burst * BURST + k + 1
                    rel = "load/b%d_%d" % (burst, k)
                    files.append((rel, seed))
                    self.want(seed)
                args = []
                for rel, seed in files:
                    args += ["-M", "%s,%d,%d" % (os.path.join(self.m.mpt, rel), FILE_SIZE, seed)]
                self.m.famfs("creat", "-r", *args)
                with self.lock:
                    self.created.extend(files)
                burst += 1
                time.sleep(0.1)
        except Exception as e:   # reported by the test
            self.errors.append("writer: %r" % e)

    def reader(self, idx):
        h = self.clients[idx]
        rng = random.Random(idx)
        while not self.stop.is_set():
            with self.lock:
                pick = rng.choice(self.created) if self.created else None
            if pick is None:
                time.sleep(0.01)
                continue
            rel, seed = pick
            path = os.path.join(h.mpt, rel)
            if not fh.wait_for(lambda: os.path.exists(path), timeout=2.0, interval=0.002):
                self.errors.append("client %d: %s not visible 2 s after its creat" % (idx, rel))
                return
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                self.errors.append("client %d: %s: %r" % (idx, rel, e))
                return
            if data != self.want(seed):
                self.errors.append("client %d: %s has the wrong bytes" % (idx, rel))
                return
            self.reads[idx] += 1


def _view(h):
    s = json.loads(h.famfs("status", "--json", h.mpt).stdout)
    return s["entries_used"], s["files"], s["directories"], s["damaged"]


@pytest.fixture
def master():
    image = fh.make_image(IMAGE_SIZE, prefix="famfs-load-")
    h = fh.Host("load-master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image)
        h.image = image
        yield h
    finally:
        for m in list(h.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)


def test_master_and_eight_clients_under_load(master):
    clients = []
    try:
        _run_load(master, clients)
    finally:
        for h in clients:
            for m in list(h.mounts):
                fh.cleanup_mount(m)


def _run_load(master, clients):
    for i in range(CLIENTS):
        h = fh.Host("load-client%d" % i)
        h.mpt = h.mount(master.image)
        clients.append(h)
    master.famfs("mkdir", "-p", os.path.join(master.mpt, "load"))
    daemons = {h.mpt: fh.daemon_pids(h.mpt)[0] for h in [master] + clients}
    load = Load(master, clients)
    threads = [threading.Thread(target=load.writer)] + \
        [threading.Thread(target=load.reader, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        # Samples after a warm-up third and at the end: growth between them would be a leak.
        time.sleep(SECONDS / 3)
        early = {m: _proc(p) for m, p in daemons.items()}
        time.sleep(SECONDS * 2 / 3)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=60)
    late = {m: _proc(p) for m, p in daemons.items()}
    assert not load.errors, load.errors
    assert all(r > 0 for r in load.reads), load.reads
    want = _view(master)
    assert not want[3] and want[1] == len(load.created), (want, len(load.created))
    for h in clients:
        assert fh.wait_for(lambda: _view(h) == want, timeout=5.0, interval=0.01), \
            (h.name, _view(h), want)
    for m in daemons:
        (fd0, _, anon0), (fd1, _, anon1) = early[m], late[m]
        assert fd1 <= fd0 + FD_SLACK, "%s: fds %d -> %d" % (m, fd0, fd1)
        assert anon1 <= anon0 + RSS_SLACK_KB, "%s: RssAnon %d kB -> %d kB" % (m, anon0, anon1)
        assert fh.daemon_pids(m), "daemon of %s died" % m
    summary = "load: master + %d clients, %d files created, %d verified reads, 0 errors, " \
              "%.0f s; daemon fd growth %s, RssAnon growth max %d kB, VmRSS growth max %d kB " \
              "(device pages read)" % (
                  CLIENTS, len(load.created), sum(load.reads), SECONDS,
                  sorted({late[m][0] - early[m][0] for m in daemons}),
                  max(late[m][2] - early[m][2] for m in daemons),
                  max(late[m][1] - early[m][1] for m in daemons))
    print(summary)
    with open(os.path.join(fh.BUILD_DIR, "meson-logs", "trust-figures.txt"), "a") as f:
        f.write(summary + "\n")
