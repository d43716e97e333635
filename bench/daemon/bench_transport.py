#!/usr/bin/python3
"""famfs-fused transports: /dev/fuse against FUSE-over-io_uring, both against tmpfs, one run.

  bench/daemon/bench_transport.py [--rounds N] [--runtime S]

Needs root, fio, a built tree (FAMFS_BUILD_DIR) and a kernel with the fuse module parameter
enable_uring (6.14+). Two images in /dev/shm, each with a 1 GiB file: one mounted with
-o transport=dev, one with -o transport=uring (enable_uring is Y only while that mount is
made, under the tests' lock, tests/integration/uring_param.py, and restored). Per round,
each workload runs on tmpfs, dev and uring in turn (interleaved); medians of the rounds:
  fio psync one job, page-aligned buffers: random read 4 KiB, seq read 1 MiB, seq write 1 MiB;
  open+close of one file (Python os.open/os.close loop, 1 s: the loop's own cost is in the
  tmpfs figure too).
Prints GB/s (ops/s), the ratio of each transport to tmpfs, and uring/dev. Unmounts at the end.
"""

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
sys.path.insert(0, HERE)
import famfs_harness as fh  # noqa: E402
import uring_param  # noqa: E402
from bench_daemon import fio  # noqa: E402

GiB = 1 << 30


def open_close_rate(path, seconds=1.0):
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for _ in range(100):
            os.close(os.open(path, os.O_RDONLY))
        n += 100
    return n / (time.monotonic() - t0)


def median(v):
    return sorted(v)[len(v) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", type=int, default=2)
    a = ap.parse_args()
    if not uring_param.available():
        sys.exit("needs %s (kernel 6.14+ with CONFIG_FUSE_IO_URING) and root" % uring_param.PARAM)
    tmpdir = tempfile.mkdtemp(prefix="famfs-bench-transport-", dir="/dev/shm")
    os.environ.pop("FAMFS_TRANSPORT", None)
    files = {"tmpfs": os.path.join(tmpdir, "data")}
    try:
        with open(files["tmpfs"], "wb") as f:
            f.truncate(GiB)
        for name in ("dev", "uring"):
            img = fh.make_image(8 * GiB)
            h = fh.Host("bench-" + name)
            h.mkfs(img)
            fh.append(img, "file", "data", "--size", GiB)
            with uring_param.setting("Y" if name == "uring" else "N"):
                mpt = h.mount(img, None, "-o", "transport=" + name)
                got = fh.status(mpt)["transport"]
            if got != name:
                sys.exit("the %s mount serves through %s:\n%s" % (name, got, h.daemon_log(mpt)))
            files[name] = os.path.join(mpt, "data")
        for p in files.values():   # first touch of fresh memory is slow on these VMs
            fio(p, "write", "1M", 1, GiB)
        jobs = [("rand read 4 KiB", "randread", "4k"), ("seq read 1 MiB", "read", "1M"),
                ("seq write 1 MiB", "write", "1M"), ("open+close", None, None)]
        res = {(j[0], s): [] for j in jobs for s in files}
        print("load average before: %.1f %.1f %.1f" % os.getloadavg())
        for _ in range(a.rounds):
            for name, rw, bs in jobs:
                for side, p in files.items():
                    v = open_close_rate(p) if rw is None else fio(p, rw, bs, a.runtime, GiB)[0]
                    res[(name, side)].append(v)
        print("load average after:  %.1f %.1f %.1f" % os.getloadavg())
        print("%-16s %10s %10s %10s %9s %9s %9s" % ("workload", "tmpfs", "dev", "uring",
                                                    "dev/tmpfs", "uring/tmpfs", "uring/dev"))
        for name, rw, _ in jobs:
            t, d, u = (median(res[(name, s)]) for s in ("tmpfs", "dev", "uring"))
            unit = "op/s" if rw is None else "GB/s"
            fmt = "%10.0f" if rw is None else "%10.2f"
            print(("%-16s " + fmt + " " + fmt + " " + fmt + " %9.3f %11.3f %9.2f   (%s, medians of %d)")
                  % (name, t, d, u, d / t, u / t, u / d, unit, a.rounds))
    finally:
        fh.cleanup_all()
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)


if __name__ == "__main__":
    main()
