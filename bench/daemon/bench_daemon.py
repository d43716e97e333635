#!/usr/bin/python3
"""famfs-fused benchmark: one run, famfs vs tmpfs on this machine, ratios printed.

  bench/daemon/bench_daemon.py [--quick] [--runtime S] [--rounds N] [--files N[,N...]]
                               [--baseline-fused PATH] [--only SECTIONS]

Needs root, fio, a built tree (FAMFS_BUILD_DIR, default /work/main/build). Sections
(--only a,b,...; default all):
  * meta: open+close, negative lookup (stat of absent names), readdir of 10,000 entries
    (build/bench/daemon/famfs-meta-ops, a C++ loop), tmpfs vs famfs, sides interleaved;
  * fio: psync, 1 GiB file: 4 KiB random read, 1 MiB read and write (one job), and 1 MiB
    read and write at queue depth 4 (libaio, O_DIRECT on both sides); both sides use
    page-aligned buffers (fio --iomem=mmap): fio's default buffer is only 16-byte aligned,
    which slows tmpfs's copy 4-5x and so flattered every ratio; plus the random 4 KiB read
    with fio and the daemon on one CPU (request placement), and the stat() rate;
  * memory: daemon memory per file at N files (default 100,000; a comma list measures each,
    for RSS against files; VmRSS after stat-ing them all, minus an empty mount with the same
    log size); idle CPU is measured at the last N;
  * idle: CPU of idle mounted daemons (all threads, from schedstat) over 10 s;
  * visibility: create-to-visible latency on a second simulated host (200 creates; the
    watcher looks the name up every 0.2 ms), histogram, p50/p99/max.
--baseline-fused PATH: every famfs measurement is made with that famfs-fused too (e.g. a copy
of the previous build's), interleaved with the current one: before/after in one run.
Medians over --rounds; every side of a comparison alternates with the others.
Everything it mounts is unmounted at the end (also on failure).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import famfs_harness as fh  # noqa: E402

GiB, MiB = 1 << 30, 1 << 20
# Page-aligned I/O buffers on both sides (an anonymous mapping). fio's default malloc'd buffer
# is 16-byte aligned: tmpfs then copies at 1.6-1.9 GB/s instead of 8-9 GB/s, which holds the
# baseline back (issue 13).
FIO_BUFFERS = ["--iomem=mmap", "--iomem_align=4096"]
TAG = "wt-cache"    # names of what this benchmark leaves in /dev/shm while it runs
SECTIONS = ("meta", "fio", "memory", "idle", "visibility")
READDIR_ENTRIES = 10000


def fio(path, rw, bs, runtime, size, qd=1, prefix=()):
    engine = ["--ioengine=psync"] if qd == 1 else ["--ioengine=libaio", "--iodepth=%d" % qd,
                                                     "--direct=1"]
    cmd = list(prefix) + ["fio", "--name=b", "--filename=" + path, "--rw=" + rw, "--bs=" + bs,
           "--size=%d" % size, "--numjobs=1", "--time_based",
           "--runtime=%d" % runtime, "--ramp_time=1", "--fallocate=none", "--invalidate=0",
           ] + engine + FIO_BUFFERS + ["--output-format=json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("fio failed: %s" % p.stderr)
    j = json.loads(p.stdout[p.stdout.index("{"):])["jobs"][0]
    side = j["read"] if "read" in rw else j["write"]
    return side["bw_bytes"] / 1e9


def meta_ops(loop, path, seconds):
    tool = os.path.join(fh.BUILD_DIR, "bench", "daemon", "famfs-meta-ops")
    out = subprocess.run([tool, loop, path, "%g" % seconds], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1])


def stat_rate(paths, seconds=2.0):
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for p in paths:
            os.stat(p)
        n += len(paths)
    return n / (time.monotonic() - t0)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ns(pid):
    """CPU time of every thread of pid (schedstat: ns on a CPU)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


class Sides:
    """The famfs daemons compared: the current build's, and --baseline-fused's if given."""

    def __init__(self, baseline):
        self.names = ["famfs"] + (["famfs-before"] if baseline else [])
        self.fused = {"famfs": fh.fused_bin(), "famfs-before": baseline}

    def host(self, side, name):
        h = fh.Host("%s-%s" % (name, side.replace("famfs-", "")))
        h.env["FAMFS_FUSED"] = self.fused[side]
        return h


def table(title, unit, rows, sides):
    """rows: name -> {side: value}; prints values and ratios to tmpfs."""
    print("\n%s (%s; medians; ratio = famfs / tmpfs)" % (title, unit))
    cols = ["tmpfs"] + sides.names
    print("%-34s" % "workload" + "".join("%14s" % c for c in cols) +
          "".join("%9s" % ("x " + c.replace("famfs", "f")) for c in sides.names))
    for name, v in rows.items():
        print("%-34s" % name + "".join("%14.2f" % v[c] for c in cols) +
              "".join("%9.3f" % (v[c] / v["tmpfs"]) for c in sides.names))


def setup_tree(sides, tmpdir, file_size):
    """A tmpfs tree and, per side, a mounted famfs image with the same shape."""
    paths = {"tmpfs": tmpdir}
    with open(os.path.join(tmpdir, "data"), "wb") as f:
        f.truncate(file_size)
    os.mkdir(os.path.join(tmpdir, "big"))
    for i in range(READDIR_ENTRIES):
        open(os.path.join(tmpdir, "big", "f%d" % i), "w").close()
    mounts = {}
    for side in sides.names:
        img = fh.make_image(8 * GiB, prefix="famfs-img-%s-" % TAG)
        h = sides.host(side, "bench")
        h.mkfs(img, "-l", "16m")
        fh.append(img, "file", "data", "--size", file_size)
        fh.append(img, "bulk", "big", READDIR_ENTRIES)
        fh.append(img, "bulk", "s", 1000)
        mounts[side] = (h, h.mount(img), img)
        paths[side] = mounts[side][1]
    # first touch of fresh memory is slow on these VMs: write the data files once
    for root in paths.values():
        subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(root, "data"), "bs=1M",
                        "count=%d" % (file_size // MiB), "conv=notrunc", "status=none"],
                       check=True)
    return paths, mounts


def run_meta(sides, paths, a):
    loops = [("open+close", "openclose", "data"), ("negative lookup", "negative", ""),
             ("readdir 10k entries (listings/s)", "readdir", "big")]
    rows = {}
    for name, loop, rel in loops:
        got = {c: [] for c in paths}
        for _ in range(a.rounds):
            for c, root in paths.items():
                got[c].append(meta_ops(loop, os.path.join(root, rel), a.meta_seconds)[0])
        rows[name] = {c: median(v) for c, v in got.items()}
    table("metadata", "operations/s", rows, sides)
    return rows


def run_fio(sides, paths, a, file_size):
    jobs = [("rand read 4 KiB", "randread", "4k", 1), ("seq read 1 MiB", "read", "1M", 1),
            ("seq write 1 MiB", "write", "1M", 1), ("seq read 1 MiB, qd 4", "read", "1M", 4),
            ("seq write 1 MiB, qd 4", "write", "1M", 4)]
    rows = {}
    for name, rw, bs, qd in jobs:
        got = {c: [] for c in paths}
        for _ in range(a.rounds):
            for c, root in paths.items():
                got[c].append(fio(os.path.join(root, "data"), rw, bs, a.runtime, file_size, qd))
        rows[name] = {c: median(v) for c, v in got.items()}
    table("fio", "GB/s", rows, sides)
    return rows


def run_placement(sides, paths, mounts, a, file_size):
    """Random 4 KiB reads with fio and every daemon thread on CPU 0 (request placement)."""
    got = {c: [] for c in paths}
    pids = [fh.status(mounts[c][1])["pid"] for c in sides.names]
    try:
        for p in pids:
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(p)], check=True,
                           capture_output=True)
        for _ in range(a.rounds):
            for c, root in paths.items():
                got[c].append(fio(os.path.join(root, "data"), "randread", "4k", a.runtime,
                                  file_size, prefix=("taskset", "-c", "0")))
    finally:
        for p in pids:
            subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(p)],
                           capture_output=True)
    rows = {"rand read 4 KiB, fio+daemon on CPU 0": {c: median(v) for c, v in got.items()}}
    table("request placement", "GB/s", rows, sides)
    return rows


def run_stat(sides, paths):
    rows = {"stat (Python os.stat)": {}}
    tp = []
    for i in range(1000):
        p = os.path.join(paths["tmpfs"], "s%d" % i)
        open(p, "w").close()
        tp.append(p)
    for c, root in paths.items():
        ps = tp if c == "tmpfs" else [os.path.join(root, "s", "f%d" % i) for i in range(1000)]
        for p in ps:
            os.stat(p)
        rows["stat (Python os.stat)"][c] = stat_rate(ps)
    table("stat", "stat/s", rows, sides)


def run_memory(a):
    return [memory_at(n) for n in a.file_counts]


def memory_at(nfiles):
    h = fh.Host("mem")
    img = fh.make_image(4 * GiB, prefix="famfs-img-%s-" % TAG)
    h.mkfs(img, "-l", "64m")
    mpt = h.mount(img)
    pid = fh.daemon_pids(mpt)[0]
    os.listdir(mpt)
    base = rss_kib(pid)
    fh.cleanup_mount(mpt)
    fh.append(img, "bulk", "many", nfiles)
    mpt = h.mount(img)
    pid = fh.daemon_pids(mpt)[0]
    t0 = time.monotonic()
    n = 0
    with os.scandir(os.path.join(mpt, "many")) as it:
        for e in it:
            os.stat(e.path)
            n += 1
    t_walk = time.monotonic() - t0
    full = rss_kib(pid)
    per = (full - base) * 1024 / max(n, 1)
    print("\nmemory: empty mount %d KiB, %d files stat'ed %d KiB -> %.0f bytes/file "
          "(listing+stat %.2f s)" % (base, n, full, per, t_walk))
    fh.cleanup_mount(mpt)
    fh.remove_image(img)
    return per


def run_idle(sides, a):
    """Idle daemons side by side (same seconds), with a.files files each."""
    mounts = []
    for side in sides.names:
        img = fh.make_image(4 * GiB, prefix="famfs-img-%s-" % TAG)
        h = sides.host(side, "idle")
        h.mkfs(img, "-l", "64m")
        fh.append(img, "bulk", "many", a.files)
        mpt = h.mount(img)
        st = fh.status(mpt)
        mounts.append((side, mpt, img, st["pid"], st["refresh_ms"]))
    time.sleep(1)
    c0 = {m[0]: cpu_ns(m[3]) for m in mounts}
    time.sleep(a.idle_seconds)
    out = {}
    for side, mpt, img, pid, refresh in mounts:
        pct = (cpu_ns(pid) - c0[side]) / 1e9 / a.idle_seconds * 100
        out[side] = pct
        print("idle CPU, %s (refresh_ms %d, %d files): %.3f %% of one core" % (
            side, refresh, a.files, pct))
        fh.cleanup_mount(mpt)
        fh.remove_image(img)
    return out


def run_visibility(sides, a):
    """Creates on a master, seen by a lookup on another host; sides alternate in blocks."""
    setups = {}
    for side in sides.names:
        img = fh.make_image(4 * GiB, prefix="famfs-img-%s-" % TAG)
        m = sides.host(side, "vm")
        m.mkfs(img)
        m.mount(img)
        c = sides.host(side, "vc")
        setups[side] = (img, c.mount(img), [])
    block = 20
    for start in range(0, a.creates, block):
        for side, (img, cmpt, lat) in setups.items():
            for i in range(start, min(start + block, a.creates)):
                lat.append(one_visibility(img, cmpt, "l%d" % i))
                time.sleep(0.003 + (i % 7) * 0.0001)   # de-phase from the poll interval
    edges = [0.5, 1, 1.5, 2, 3, 5, 10]
    out = {}
    print("\ncreate-to-visible on another host (append commit -> successful lookup), %d "
          "creates per side" % a.creates)
    print("%-14s %8s %8s %8s  " % ("side", "p50 ms", "p99 ms", "max ms") +
          " ".join("%6s" % ("<=%g" % e) for e in edges) + "    >%g" % edges[-1])
    for side, (img, cmpt, lat) in setups.items():
        lat.sort()
        p50, p99, mx = lat[len(lat) // 2], lat[max(int(len(lat) * 0.99) - 1, 0)], lat[-1]
        hist, lo = [], 0
        for e in edges:
            hist.append(sum(1 for x in lat if lo < x <= e))
            lo = e
        hist.append(sum(1 for x in lat if x > edges[-1]))
        print("%-14s %8.2f %8.2f %8.2f  " % (side, p50, p99, mx) +
              " ".join("%6d" % n for n in hist))
        out[side] = (p50, p99, mx)
        if side == "famfs":   # the raw latencies, for bench/run_all's histogram
            print("latencies_ms " + " ".join("%.3f" % x for x in lat))
    return out


def one_visibility(img, cmpt, name):
    p = os.path.join(cmpt, name)
    seen = [0]

    def watch():
        # a lookup every 0.2 ms: the watcher must not starve the daemon of CPU
        end = time.monotonic() + 5
        while not os.path.exists(p) and time.monotonic() < end:
            time.sleep(0.0002)
        seen[0] = time.monotonic_ns()

    th = threading.Thread(target=watch)
    th.start()
    out = fh.append(img, "file", name, "--size", 4096, "--stamp").stdout
    stamp = int([ln for ln in out.splitlines() if ln.startswith("stamp ")][0].split()[1])
    th.join()
    return (seen[0] - stamp) / 1e6   # from the append's commit to the lookup, ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", type=int, default=3, help="seconds per fio run")
    ap.add_argument("--meta-seconds", type=float, default=1.0)
    ap.add_argument("--files", default="100000",
                    help="file count for the memory figure; a comma list measures each (RSS vs "
                         "files), idle CPU at the last")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--creates", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=10)
    ap.add_argument("--baseline-fused", help="famfs-fused to compare with (before/after)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections: " + ",".join(SECTIONS))
    ap.add_argument("--quick", action="store_true", help="short runs, 20k files")
    a = ap.parse_args()
    if a.quick:
        a.runtime, a.rounds, a.meta_seconds = 2, 1, 0.5
        if a.files == "100000":
            a.files = "20000"
    a.file_counts = [int(n) for n in a.files.split(",")]
    a.files = a.file_counts[-1]
    only = set(a.only.split(","))
    sides = Sides(a.baseline_fused)
    file_size = GiB
    tmpdir = tempfile.mkdtemp(prefix="famfs-bench-%s-" % TAG, dir="/dev/shm")
    print("load average before: %.1f %.1f %.1f" % os.getloadavg())
    try:
        if only & {"meta", "fio"}:
            paths, mounts = setup_tree(sides, tmpdir, file_size)
            if "meta" in only:
                run_meta(sides, paths, a)
            if "fio" in only:
                run_fio(sides, paths, a, file_size)
                run_placement(sides, paths, mounts, a, file_size)
                run_stat(sides, paths)
            for h, mpt, img in mounts.values():
                fh.cleanup_mount(mpt)
                fh.remove_image(img)
        if "memory" in only:
            run_memory(a)
        if "idle" in only:
            run_idle(sides, a)
        if "visibility" in only:
            run_visibility(sides, a)
        print("load average after: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        fh.cleanup_all()
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
