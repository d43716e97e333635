"""Issue 8: crash safety of the master's append path. Master commands (creat -r, cp -r,
mkdir -p) are killed with SIGKILL after random delays; after each one the file system is
clean (famfs fsck), every file whose command exited 0 verifies (famfs verify -S), and a client
daemon on the same image converges (famfs status --json on master and client agree).

    FAMFS_CRASH_KILLS   kills to deliver (default 40 in the suite; the full run uses >= 200)
    FAMFS_CRASH_SEED    random seed (default: random; printed, so a failure can be replayed)
"""

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import famfs_harness as fh

MiB = 1 << 20
KILLS = int(os.environ.get("FAMFS_CRASH_KILLS", "40"))
# A source tree for cp -r whose files hold the pattern of known seeds (so copies verify too).
KINDS = ["creat", "creat", "cp", "mkdir"]   # creat twice as often
TREE = {"a.bin": (101, 5000), "sub/b.bin": (102, 3 * MiB), "sub/deeper/c.bin": (103, 65536),
        "d.bin": (104, 1 * MiB + 17)}


def _make_tree():
    src = tempfile.mkdtemp(prefix="famfs-crash-src-")
    for rel, (seed, size) in TREE.items():
        p = os.path.join(src, "tree", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(fh.pattern(seed, size))
    return src


class Crasher:
    def __init__(self, master, client, rng, src):
        self.m, self.c, self.rng, self.src = master, client, rng, src
        self.acked_files = {}   # path relative to the mount -> seed
        self.acked_dirs = []
        self.kills = self.completed = 0
        self.kills_after_append = 0   # kills that came after the command appended an entry
        self.durations = {}     # kind -> wall time of an unkilled run (calibration)

    def _op(self, i, kind):
        """argv of one master command, and what it creates if it exits 0."""
        if kind == "creat":
            seed = self.rng.randrange(1, 1 << 30)
            size = self.rng.choice([4096, 100000, 2 * MiB + 1, 7 * MiB])
            rel = "c/f%d" % i
            return (["creat", "-s", str(size), "-r", "-S", str(seed),
                     os.path.join(self.m.mpt, rel)], {rel: seed}, [])
        if kind == "cp":
            rel = "cp%d" % i
            # cp -r SRC/tree DEST (DEST new): DEST is the copy of tree, as cp(1) does
            files = {os.path.join(rel, k): s for k, (s, _) in TREE.items()}
            return (["cp", "-r", os.path.join(self.src, "tree"), os.path.join(self.m.mpt, rel)],
                    files, [])
        rel = "m%d/x/y/z" % i
        return (["mkdir", "-p", os.path.join(self.m.mpt, rel)], {}, [rel])

    def calibrate(self, i):
        """One unkilled run of each kind: how long a whole command takes here, now."""
        self.m.famfs("mkdir", "-p", os.path.join(self.m.mpt, "c"))   # the parent of every creat
        for kind in KINDS:
            self.durations[kind] = self.step(i, kind, kill=False)
            i += 1
        return i

    def step(self, i, kind=None, kill=True):
        """Run one command (by default of a random kind) and SIGKILL it at a uniform point of
        its calibrated run time, plus a tail so that some finish and are checked as
        acknowledged. Returns the command's wall time."""
        kind = kind or self.rng.choice(KINDS)
        argv, files, dirs = self._op(i, kind)
        delay = self.rng.uniform(0, self.durations[kind] * 1.15) if kill else None
        entries0 = fh.status(self.m.mpt)["entries_used"]
        t0 = time.monotonic()
        p = subprocess.Popen([fh.famfs_bin()] + argv, env=self.m.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
        err = p.communicate(timeout=60)[1].decode(errors="replace")
        took = time.monotonic() - t0
        if p.returncode == -signal.SIGKILL:
            self.kills += 1
            fh.logplay(self.m.mpt)
            self.kills_after_append += fh.status(self.m.mpt)["entries_used"] > entries0
        else:
            self.completed += 1
            assert p.returncode == 0, "%r exited %d: %s" % (argv, p.returncode, err)
            self.acked_files.update(files)
            self.acked_dirs.extend(dirs)
        self.check(files if p.returncode == 0 else {}, dirs if p.returncode == 0 else [])
        return took

    def check(self, new_files, new_dirs):
        fsck = self.m.famfs("fsck", self.m.mpt, check=False)
        assert fsck.returncode == 0, "fsck after a kill:\n" + fsck.stdout + fsck.stderr
        for rel, seed in new_files.items():
            self.m.famfs("verify", "-f", os.path.join(self.m.mpt, rel), "-S", str(seed))
        for rel in new_dirs:
            assert os.path.isdir(os.path.join(self.m.mpt, rel)), rel
        self.converge()

    def converge(self):
        def view(h):
            s = json.loads(h.famfs("status", "--json", h.mpt).stdout)
            return (s["entries_used"], s["files"], s["directories"], s["damaged"],
                    s["skipped_entries"])
        want = view(self.m)
        assert not want[3] and want[4] == 0, want
        ok = fh.wait_for(lambda: view(self.c) == want, timeout=5.0, interval=0.01)
        assert ok, "client %r, master %r" % (view(self.c), want)


def test_kill9_master_commands(master, client):
    seed = int(os.environ.get("FAMFS_CRASH_SEED", random.randrange(1 << 32)))
    print("FAMFS_CRASH_SEED=%d" % seed)
    rng = random.Random(seed)
    src = _make_tree()
    try:
        cr = Crasher(master, client, rng, src)
        i = cr.calibrate(0)
        # Every iteration either kills a command or lets one finish (acknowledged files).
        while cr.kills < KILLS:
            cr.step(i)
            i += 1
            assert i < 20 * KILLS + 100, "commands keep finishing before the kill"
        # Every acknowledged file, on the master and through the client.
        for h in (master, client):
            for rel, s in cr.acked_files.items():
                h.famfs("verify", "-f", os.path.join(h.mpt, rel), "-S", str(s))
            for rel in cr.acked_dirs:
                assert os.path.isdir(os.path.join(h.mpt, rel)), rel
        # A fresh mount replays the same log to the same state.
        third = fh.Host("crash-third")
        mpt3 = third.mount(master.image)
        try:
            assert fh.status(mpt3)["files"] == fh.status(master.mpt)["files"]
        finally:
            fh.cleanup_mount(mpt3)
        summary = "crash: %d kills (%d after the command's first log entry), %d completed " \
                  "commands, %d acknowledged files verified on master and client, seed %d" % (
                      cr.kills, cr.kills_after_append, cr.completed, len(cr.acked_files), seed)
        print(summary)
        with open(os.path.join(fh.BUILD_DIR, "meson-logs", "trust-figures.txt"), "a") as f:
            f.write(summary + "\n")
        assert cr.completed > 0 and cr.acked_files
    finally:
        shutil.rmtree(src, ignore_errors=True)
