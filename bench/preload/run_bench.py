#!/usr/bin/python3
"""Benchmark (not a test): fio psync on a famfs file under LD_PRELOAD=libfamfs-preload.so
(read/write served by memcpy from the device mapping, issue 13 section 1) against the same
fio on a tmpfs file, in one run.

  bench/preload/run_bench.py [--size 4G] [--runtime 3] [--rounds 3] [--huge]

Root, fio, a built tree (FAMFS_BUILD_DIR, default ./build). A fresh image in /dev/shm, mkfs,
mount, one file of --size (one extent), and a tmpfs file of the same size in /dev/shm; both
are written once first (first touch of fresh memory is slow on these VMs). Jobs: 4 KiB random
read, 4 KiB random write, 4 KiB sequential read, 1 MiB sequential read and write; one job,
page-aligned buffers (--iomem=mmap) on both sides. Each round runs every job on both sides,
alternating which side goes first; medians of --rounds. Prints GB/s and the ratio
preload / tmpfs. Everything it mounts is unmounted at the end (also on failure).

The preload maps the file afresh for each fd, so with the image on ordinary tmpfs (4 KiB
pages) every first touch of a page is a page fault, which fio's short time-based runs over
a 4 GiB file never amortize (tmpfs's own pread/pwrite copy from its page cache with no page
table work). --huge puts the image and the tmpfs file on a private tmpfs mounted
huge=always: 2 MiB pages, one fault per 2 MiB, as on device-DAX (the target).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import famfs_harness as fh  # noqa: E402

GiB, MiB = 1 << 30, 1 << 20
JOBS = [("rand read 4 KiB", "randread", "4k"), ("rand write 4 KiB", "randwrite", "4k"),
        ("seq read 4 KiB", "read", "4k"), ("seq read 1 MiB", "read", "1M"),
        ("seq write 1 MiB", "write", "1M")]


def size_arg(s):
    mult = {"k": 1 << 10, "m": MiB, "g": GiB}
    return int(s[:-1]) * mult[s[-1].lower()] if s[-1].lower() in mult else int(s)


def fio(path, rw, bs, runtime, size, env):
    cmd = ["fio", "--name=b", "--filename=" + path, "--rw=" + rw, "--bs=" + bs,
           "--size=%d" % size, "--ioengine=psync", "--numjobs=1", "--time_based",
           "--runtime=%d" % runtime, "--ramp_time=1", "--fallocate=none", "--invalidate=0",
           "--iomem=mmap", "--iomem_align=4096", "--randrepeat=1", "--output-format=json"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("fio failed: %s" % p.stderr)
    j = json.loads(p.stdout[p.stdout.index("{"):])["jobs"][0]
    side = j["read"] if "read" in rw else j["write"]
    return side["bw_bytes"] / 1e9, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=size_arg, default=4 * GiB)
    ap.add_argument("--runtime", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--huge", action="store_true",
                    help="image and tmpfs file on a private huge=always tmpfs (2 MiB pages)")
    a = ap.parse_args()
    preload = os.path.join(fh.BUILD_DIR, "src", "lib", "libfamfs-preload.so")
    plain_env = dict(os.environ)
    plain_env.pop("LD_PRELOAD", None)
    pre_env = dict(plain_env, LD_PRELOAD=preload)
    hugedir = None
    if a.huge:
        hugedir = tempfile.mkdtemp(prefix="famfs-bench-preload-huge-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "huge=always,size=%d" % (2 * a.size + 3 * GiB),
                        "famfs-bench-preload-huge", hugedir], check=True)
    fd, tmpfs_file = tempfile.mkstemp(prefix="famfs-bench-preload-tmpfs-",
                                      dir=hugedir or "/dev/shm")
    os.close(fd)
    img = None
    try:
        if hugedir:
            img = os.path.join(hugedir, "bench.img")
            with open(img, "wb") as f:
                f.truncate(a.size + 2 * GiB)
        else:
            img = fh.make_image(a.size + 2 * GiB)
        h = fh.Host("bench-preload")
        h.mkfs(img)
        fh.append(img, "file", "data", "--size", a.size)
        mpt = h.mount(img)
        famfs_file = os.path.join(mpt, "data")
        with open(tmpfs_file, "wb") as f:
            f.truncate(a.size)
        for p in (tmpfs_file, famfs_file):
            subprocess.run(["dd", "if=/dev/zero", "of=" + p, "bs=1M", "count=%d" % (a.size // MiB),
                            "conv=notrunc", "status=none"], check=True)
        # the preload must really serve the file (one line per fd with FAMFS_PRELOAD_DEBUG)
        _, err = fio(famfs_file, "read", "4k", 1, a.size, dict(pre_env, FAMFS_PRELOAD_DEBUG="1"))
        if "served from the device" not in err:
            raise RuntimeError("the preload did not serve the famfs file:\n" + err)
        print("file %d MiB%s; load average before: %.1f %.1f %.1f" % (
            (a.size // MiB, ", huge pages" if hugedir else "") + os.getloadavg()))
        print("%-18s %12s %14s %7s" % ("workload", "tmpfs GB/s", "preload GB/s", "ratio"))
        res = {name: ([], []) for name, _, _ in JOBS}
        for r in range(a.rounds):
            for name, rw, bs in JOBS:
                sides = [(0, tmpfs_file, plain_env), (1, famfs_file, pre_env)]
                if r % 2:
                    sides.reverse()
                for k, path, env in sides:
                    res[name][k].append(fio(path, rw, bs, a.runtime, a.size, env)[0])
        for name, _, _ in JOBS:
            t = sorted(res[name][0])[len(res[name][0]) // 2]
            m = sorted(res[name][1])[len(res[name][1]) // 2]
            print("%-18s %12.2f %14.2f %7.2f" % (name, t, m, m / t))
        print("load average after: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        fh.cleanup_all()
        if img:
            fh.remove_image(img)
        os.unlink(tmpfs_file)
        if hugedir:
            subprocess.run(["umount", hugedir], check=False)
            os.rmdir(hugedir)


if __name__ == "__main__":
    main()
