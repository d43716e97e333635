#!/usr/bin/python3
"""Cost of one append against the size of the log (issue 10 item 5): one run, ratios printed.

  bench/append/bench_append.py [--sizes 100,10000,100000] [--rounds N] [--tag NAME]
                               [--modes owner,local]

Needs root and a built tree (FAMFS_BUILD_DIR, default /work/main/build). For each log size N
(entries made with tests/tools/famfs-test-append bulk, in a 64 MiB log so every size has the
same geometry), a master mount and a client mount (another identity, polling only once a
minute so that its idle polls do not blur the figure) of one image in /dev/shm, then
--rounds times:
  * `famfs creat -s 4k` on the master mount: wall time of the command, for each --modes:
    `owner` (the default: the master's daemon owns the writes, the command is its client over
    the control socket) and `local` (-o noowner: the command replays the log and appends
    itself, under the writer lock);
  * the client daemon's CPU (all its threads, /proc/PID/task/*/schedstat, ns) to apply that
    one entry: around a read of user.famfs.logplay on the client, which replays the new entry
    at once (and answers a small JSON report, the same work at every size).
Prints medians per size and the ratio of each size's figure to the smallest size's (the goal:
the largest within 1.3x of the smallest), and, as the floor a command cannot go below, the wall
time of `famfs --version` (process start) and of touch(1) on tmpfs. Everything it mounts is
unmounted at the end.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import famfs_harness as fh  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
LOG_LEN = "64m"          # holds 123,000 entries: every size gets the same log
IMAGE_SIZE = 8 * GiB
CLIENT_REFRESH_MS = 60000  # the client applies each entry when asked (logplay), not by polls


def cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: ns resolution, unlike /proc/stat)."""
    total = 0
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open("%s/%s/schedstat" % (task, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass   # a thread that just ended
    return total


def daemon_pid(mpt):
    pids = fh.daemon_pids(mpt)
    if len(pids) != 1:
        raise RuntimeError("expected one famfs-fused for %s, found %r" % (mpt, pids))
    return pids[0]


def wait_visible(path, timeout=10.0):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise RuntimeError("%s did not appear within %.0f s" % (path, timeout))
        time.sleep(0.0005)


def wall_ms(argv, env, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.monotonic()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.monotonic() - t0)
    return statistics.median(times) * 1e3


def floors(rounds, tag):
    d = tempfile.mkdtemp(prefix=tag + "-touch-", dir="/dev/shm")
    try:
        touch = wall_ms(["touch", os.path.join(d, "t")], None, rounds)
    finally:
        subprocess.run(["rm", "-rf", d])
    return {"version_ms": wall_ms([fh.famfs_bin(), "--version"], None, rounds),
            "touch_ms": touch}


def creat_ms(master, mm, rounds, prefix):
    times = []
    for i in range(rounds):
        t0 = time.monotonic()
        p = subprocess.run([fh.famfs_bin(), "creat", "-s", "4k",
                            os.path.join(mm, "bench", "%s%d" % (prefix, i))],
                           env=master.env, capture_output=True, text=True)
        times.append(time.monotonic() - t0)
        if p.returncode != 0:
            raise RuntimeError("famfs creat failed: %s" % p.stderr)
    return statistics.median(times) * 1e3


def measure(n, rounds, tag, modes):
    img = fh.make_image(IMAGE_SIZE, prefix="%s-append-%d-" % (tag, n))
    master, client = fh.Host("%s-m" % tag), fh.Host("%s-c" % tag)
    master.mkfs(img, "-l", LOG_LEN)
    if n > 2:
        fh.append(img, "bulk", "bulk", n - 2)   # mkdir + n-2 files; "bench" below is one more
    fh.append(img, "mkdir", "bench")
    cm = client.mount(img, None, "--refresh-ms", str(CLIENT_REFRESH_MS))
    out = {}
    try:
        wait_visible(os.path.join(cm, "bench"))
        cpid = daemon_pid(cm)
        for mode in modes:
            mm = master.mount(img, None, *(["-o", "noowner"] if mode == "local" else []))
            try:
                out[mode] = creat_ms(master, mm, rounds, mode)
            finally:
                fh.cleanup_mount(mm)
        # The client daemon's CPU to apply one entry (after the last mode's creates).
        mm = master.mount(img)
        try:
            client_ns = []
            fh.logplay(cm)
            for i in range(rounds):
                name = "c%d" % i
                master.famfs("creat", "-s", "4k", os.path.join(mm, "bench", name))
                c0 = cpu_ns(cpid)
                rep = fh.logplay(cm)
                client_ns.append(cpu_ns(cpid) - c0)
                if rep["new_files"] != 1:
                    raise RuntimeError("the client applied %r, not one new file" % rep)
                wait_visible(os.path.join(cm, "bench", name))
        finally:
            fh.cleanup_mount(mm)
        out["entries"] = fh.status(cm)["entries_used"]
        out["client_us"] = statistics.median(client_ns) / 1e3
        return out
    finally:
        fh.cleanup_mount(cm)
        fh.remove_image(img)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,10000,100000")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tag", default="famfs-bench", help="prefix of every image and temp dir")
    ap.add_argument("--modes", default="owner,local",
                    help="owner (commands are clients of the daemon) and/or local (-o noowner)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_append: needs root (FUSE mounts)")
    tempfile.tempdir = tempfile.mkdtemp(prefix=a.tag + "-append-")
    sizes = [int(s) for s in a.sizes.split(",")]
    modes = a.modes.split(",")
    print("famfs append cost vs log size (build %s), %d rounds, medians" % (fh.BUILD_DIR, a.rounds))
    f = floors(a.rounds, a.tag)
    print("  floor: famfs --version %.2f ms, touch on tmpfs %.2f ms" % (f["version_ms"], f["touch_ms"]))
    rows = []
    try:
        for n in sizes:
            r = measure(n, a.rounds, a.tag, modes)
            rows.append(r)
            print("  %7d entries: " % r["entries"] +
                  "   ".join("famfs creat -s 4k (%s) %7.2f ms" % (m, r[m]) for m in modes) +
                  "   client daemon CPU per append %8.1f us" % r["client_us"], flush=True)
    finally:
        fh.cleanup_all()
        if not os.listdir(tempfile.tempdir):
            os.rmdir(tempfile.tempdir)
    base = rows[0]
    print("ratios against %d entries (goal: <= 1.3 at the largest size):" % base["entries"])
    for r in rows[1:]:
        print("  %7d entries: " % r["entries"] +
              "   ".join("famfs creat (%s) %.2fx" % (m, r[m] / base[m]) for m in modes) +
              "   client daemon CPU %.2fx" % (r["client_us"] / base["client_us"]))


if __name__ == "__main__":
    main()
