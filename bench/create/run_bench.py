#!/usr/bin/python3
"""Create through the master's mount (docs/native-create.md), a benchmark (not a test).

  bench/create/run_bench.py [--build DIR] [--files 10000] [--big 1g] [--rounds 3]
                            [--skip-small] [--skip-big] [--owner-opt owner]

Each round, on a fresh image each time, sides interleaved; medians over the rounds:
1. cp -r of FILES small files (1-64 KiB, 100 directories) into the master's mount: files/s of
   the cp command, and files/s until the last file is committed (its user.famfs.fmap served).
2. tar -x of the same tree into the mount against `famfs cp -r` of it (on a mount whose
   daemon does not own the writer: until CLI commands are the daemon's clients, the owner
   holds the writer lock), as a ratio of wall times (target: tar within 1.5x of famfs cp -r).
3. cp of a BIG file through the mount against cp of it into tmpfs (/dev/shm): write bandwidth
   ratio (target >= 0.8x).
Needs root, 2 x BIG + the tree of free /dev/shm. Short by default (the machine is shared).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TAG = "wt-create-bench"


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    s = s.strip().lower()
    return int(s[:-1], 0) * mult[s[-1]] if s[-1] in mult else int(s, 0)


class Fs:
    """A fresh image, mkfs'd by a private identity, mounted (owner or not)."""

    def __init__(self, build, work, size, owner_opts):
        self.build = build
        self.env = dict(os.environ)
        idf = os.path.join(work, "uuid-%s" % uuid.uuid4().hex[:8])
        with open(idf, "wb") as f:
            f.write(str(uuid.uuid4()).encode() + b"\0")
        self.env["FAMFS_SYSTEM_UUID_FILE"] = idf
        fd, self.image = tempfile.mkstemp(prefix=TAG + "-img-", dir="/dev/shm")
        os.close(fd)
        os.truncate(self.image, size)
        self.mpt = tempfile.mkdtemp(prefix=TAG + "-mpt-", dir=work)
        try:
            self.run([self.bin("src/cli/mkfs.famfs"), "-l", "64m", self.image])
            self.run([self.bin("src/cli/famfs"), "mount", *owner_opts, "--log-file",
                      os.path.join(work, "fused.log"), self.image, self.mpt])
        except Exception:
            os.unlink(self.image)
            raise

    def bin(self, rel):
        return os.path.join(self.build, rel)

    def run(self, argv, **kw):
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, **kw)
        if p.returncode != 0:
            raise RuntimeError("%s: %s%s" % (argv, p.stdout, p.stderr))
        return p

    def close(self):
        subprocess.run([self.bin("src/cli/famfs"), "umount", self.mpt], env=self.env,
                       capture_output=True)
        for _ in range(100):
            if not os.path.ismount(self.mpt):
                break
            time.sleep(0.1)
        os.rmdir(self.mpt)
        os.unlink(self.image)


def make_tree(root, n, seed=7):
    rng = random.Random(seed)
    dirs = [os.path.join(root, "d%02d" % i) for i in range(100)]
    for d in dirs:
        os.makedirs(d)
    for i in range(n):
        with open(os.path.join(dirs[i % 100], "f%05d" % i), "wb") as f:
            f.write(rng.randbytes(rng.randint(1024, 64 * 1024)))


def committed_all(root):
    for dp, _, fns in os.walk(root):
        for n in fns:
            try:
                os.getxattr(os.path.join(dp, n), "user.famfs.fmap")
            except OSError:
                return False
    return True


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def small_round(a, tree, tarball, files, owner_opts, work):
    out = {}
    fs = Fs(a.build, work, 64 << 30, owner_opts)
    try:
        dst = os.path.join(fs.mpt, "cp")
        t0 = time.monotonic()
        fs.run(["cp", "-r", tree, dst])
        out["cp"] = time.monotonic() - t0
        while not committed_all(dst):
            time.sleep(0.01)
        out["cp_committed"] = time.monotonic() - t0
        os.mkdir(os.path.join(fs.mpt, "tar"))
        out["tar"] = timed(lambda: fs.run(["tar", "-xf", tarball, "-C", os.path.join(fs.mpt, "tar")]))
    finally:
        fs.close()
    fs = Fs(a.build, work, 64 << 30, ())
    try:
        out["famfs_cp"] = timed(lambda: fs.run([fs.bin("src/cli/famfs"), "cp", "-r", tree,
                                                os.path.join(fs.mpt, "fcp")]))
    finally:
        fs.close()
    return out


def big_round(a, src, size, owner_opts, work):
    shm = os.path.join("/dev/shm", TAG + "-tmpfs-dst")
    t_tmpfs = timed(lambda: subprocess.run(["cp", src, shm], check=True))
    os.unlink(shm)
    fs = Fs(a.build, work, max(size + (1 << 30), 4 << 30), owner_opts)
    try:
        t_mount = timed(lambda: fs.run(["cp", src, os.path.join(fs.mpt, "big")]))
    finally:
        fs.close()
    return {"tmpfs": size / t_tmpfs, "mount": size / t_mount}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("FAMFS_BUILD_DIR", os.path.join(SRC_ROOT, "build")))
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--big", default="1g")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-small", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--owner-opt", default="owner",
                    help="famfs-fused -o value that makes the daemon own the writer ('' = default)")
    a = ap.parse_args()
    owner_opts = ("-o", a.owner_opt) if a.owner_opt else ()
    work = tempfile.mkdtemp(prefix=TAG + "-")
    try:
        if not a.skip_small:
            tree = os.path.join(work, "tree")
            make_tree(tree, a.files)
            tarball = os.path.join(work, "tree.tar")
            subprocess.run(["tar", "-cf", tarball, "-C", work, "tree"], check=True)
            rounds = [small_round(a, tree, tarball, a.files, owner_opts, work)
                      for _ in range(a.rounds)]
            med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            print("small files: %d files of 1-64 KiB, median of %d rounds" % (a.files, a.rounds))
            print("  cp -r into the mount      %8.0f files/s (cp's wall time)" % (a.files / med["cp"]))
            print("  cp -r until all committed %8.0f files/s   (target >= 10,000)" %
                  (a.files / med["cp_committed"]))
            print("  tar -x / famfs cp -r      %8.2f x time    (target <= 1.5; %.2f s vs %.2f s)" %
                  (med["tar"] / med["famfs_cp"], med["tar"], med["famfs_cp"]))
        if not a.skip_big:
            size = parse_size(a.big)
            src = os.path.join("/dev/shm", TAG + "-src")
            with open(src, "wb") as f:
                chunk = os.urandom(1 << 20)
                for _ in range(size >> 20):
                    f.write(chunk)
            try:
                rounds = [big_round(a, src, size, owner_opts, work) for _ in range(a.rounds)]
            finally:
                os.unlink(src)
            tm = statistics.median(r["tmpfs"] for r in rounds)
            mm = statistics.median(r["mount"] for r in rounds)
            print("big file: cp of %s, median of %d rounds" % (a.big, a.rounds))
            print("  tmpfs %.2f GB/s, through the mount %.2f GB/s: %.2f x   (target >= 0.8)" %
                  (tm / 1e9, mm / 1e9, mm / tm))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
