#!/usr/bin/python3
"""Client mount time against the number of files in the log (issue 13: a 15,000-file log
mounts in <= 40 ms): one run, ratios printed.

  bench/replay/bench_mount.py [--files 15000,100000] [--rounds 7]

Root and a built tree (FAMFS_BUILD_DIR, default ./build). One image per size in /dev/shm
(mkfs with a 64 MiB log, then tests/tools/famfs-test-append bulk), mounted by a client (a
second simulated host, as `famfs mount` on another machine). Per round, the sizes alternate
(the empty log first): wall time of `famfs mount` (it returns when the daemon has replayed the
log and answered the kernel's INIT), then `famfs umount`. Medians of --rounds; the baseline is
the empty log's mount in the same run. Everything it mounts is unmounted at the end.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
if "FAMFS_BUILD_DIR" not in os.environ:
    os.environ["FAMFS_BUILD_DIR"] = os.path.join(HERE, "..", "..", "build")
import famfs_harness as fh  # noqa: E402

GiB = 1 << 30


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", default="15000,100000")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_mount: needs root (FUSE mounts)")
    sizes = [0] + [int(s) for s in a.files.split(",")]
    master, client = fh.Host("bench-mount-m"), fh.Host("bench-mount-c")
    images = {}
    times = {n: [] for n in sizes}
    try:
        for n in sizes:
            img = fh.make_image(max(8 * GiB, (n + 16) * (2 << 20) + GiB), prefix="famfs-bench-mount-")
            master.mkfs(img, "-l", "64m")
            if n:
                fh.append(img, "bulk", "many", n)
            images[n] = img
        print("load average before: %.1f %.1f %.1f" % os.getloadavg())
        for _ in range(a.rounds):
            for n in sizes:
                t0 = time.perf_counter()
                mpt = client.mount(images[n])
                times[n].append(time.perf_counter() - t0)
                if n and fh.status(mpt)["files"] != n:
                    raise RuntimeError("the client mount shows %r files, not %d" %
                                       (fh.status(mpt)["files"], n))
                client.umount(mpt)
        base = statistics.median(times[0])
        print("%-12s %14s %10s" % ("files", "mount ms", "vs empty"))
        for n in sizes:
            m = statistics.median(times[n])
            print("%-12d %14.1f %9.2fx" % (n, m * 1e3, m / base))
            print("RESULT mount files=%d mount_ms=%.2f empty_ms=%.2f" % (n, m * 1e3, base * 1e3))
        print("load average after: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        fh.cleanup_all()
        for img in images.values():
            fh.remove_image(img)


if __name__ == "__main__":
    main()
