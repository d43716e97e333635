#!/usr/bin/python3
"""Zero-copy mmap benchmark: a famfs file read through (a) libfamfs, (b) the LD_PRELOAD shim,
(c) FUSE mmap, against a raw mmap of the same bytes of the image file, in one run.

    bench/mmap/run_bench.py [--build DIR] [--size 4G] [--passes 5] [--touches 1048576] [--huge] [--map-ops 2000]

Makes a fresh image in /dev/shm, mkfs, mounts it (master), creates one file of --size, fills
it through the image (so every page is real memory before anything is measured), then runs
build/bench/mmap/famfs-mmap-bench twice: once plain (raw, lib, FUSE mmap) and once under
LD_PRELOAD (raw, preload). Every mode is warmed up before it is measured (first touch of
fresh memory is slow on these VMs). Ratios are against the raw run in the same process.
Unmounts and removes everything at the end, even on failure. Run as root.
"""
import argparse
import mmap
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper().rstrip("B").rstrip("I")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("FAMFS_BUILD_DIR", os.path.join(SRC, "build")))
    ap.add_argument("--size", default="4G")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--touches", type=int, default=1 << 20)
    ap.add_argument("--map-ops", type=int, default=2000,
                    help="map/touch/unmap cycles of a 2 MiB window timed per mode")
    ap.add_argument("--huge", action="store_true",
                    help="put the image on a private tmpfs mounted huge=always (2 MiB pages, "
                         "PMD mappings like device-DAX) instead of /dev/shm (4 KiB pages)")
    args = ap.parse_args()
    size = parse_size(args.size)
    build = os.path.abspath(args.build)
    os.environ["FAMFS_BUILD_DIR"] = build
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    import famfs_harness as fh

    bench = os.path.join(build, "bench", "mmap", "famfs-mmap-bench")
    preload = os.path.join(build, "src", "lib", "libfamfs-preload.so")
    for p in (bench, preload):
        if not os.path.exists(p):
            sys.exit("missing %s (build it first)" % p)

    hugedir = None
    try:
        if args.huge:
            import tempfile
            hugedir = tempfile.mkdtemp(prefix="famfs-bench-huge-")
            subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "huge=always,size=%d" % (size + 512 * fh.MiB),
                            "famfs-bench-huge", hugedir], check=True)
            image = os.path.join(hugedir, "bench.img")
            with open(image, "wb") as f:
                f.truncate(size + 256 * fh.MiB)
        else:
            image = fh.make_image(size + 256 * fh.MiB)
        host = fh.Host("bench")
        host.mkfs(image)
        mpt = host.mount(image)
        path = os.path.join(mpt, "bench.dat")
        p = host.famfs("creat", "-s", str(size), path, check=False)
        if p.returncode != 0:
            fh.append(image, "file", "bench.dat", "--size", size)
            fh.logplay(mpt)
        fh.wait_for(lambda: os.path.exists(path), 10)
        fmap = fh.getxattr(path, "user.famfs.fmap").split("\n")
        dev_off = int(fmap[3].split()[0], 16)
        print("file %s: %s" % (path, " | ".join(l for l in fmap if l)))
        # Fill the file's bytes through the image so all of it is allocated memory.
        t0 = time.time()
        with open(image, "r+b") as f:
            m = mmap.mmap(f.fileno(), size, offset=dev_off)
            chunk = 64 * fh.MiB
            block = bytes(range(256)) * (chunk // 256)
            for o in range(0, size, chunk):
                n = min(chunk, size - o)
                m[o:o + n] = block[:n]
            m.close()
        print("filled %d MiB in %.1f s (image %s%s)" % (size >> 20, time.time() - t0, image,
                                                        ", huge pages" if args.huge else ""))

        def run(modes, env=None):
            e = dict(os.environ)
            e.pop("LD_PRELOAD", None)
            if env:
                e.update(env)
            out = subprocess.run([bench, path] + modes + ["--passes", str(args.passes),
                                                          "--touches", str(args.touches),
                                                          "--map-ops", str(args.map_ops)],
                                 env=e, capture_output=True, text=True, timeout=3600)
            if out.returncode != 0:
                sys.exit("bench failed:\n" + out.stdout + out.stderr)
            res = {}
            for line in out.stdout.splitlines():
                f = line.split()
                if f[0] == "RESULT":
                    res[(f[1], f[2])] = (float(f[3]), float(f[4]))
                elif f[0] == "MAPOPS":
                    res[(f[1], "mapops")] = (float(f[2]), float(f[3]))
                elif f[0] == "WARMUP":
                    res[(f[1], "first")] = (size / float(f[2]) / 1e9,) * 2
            return res

        # Process 1: raw, libfamfs, FUSE mmap. Process 2 (LD_PRELOAD): raw, libfamfs, preload.
        plain = run(["raw", "lib", "sys"])
        pre = run(["raw", "lib", "sys"], {"LD_PRELOAD": preload})

        rows = [("(a) libfamfs", plain, "lib"), ("(a) libfamfs*", pre, "lib"),
                ("(b) LD_PRELOAD", pre, "sys"), ("(c) FUSE mmap", plain, "sys")]
        print()
        print("GB/s per CPU-second of the reading thread (wall-clock GB/s in brackets);")
        print("ratio = CPU-time rate / raw mmap of the image in the same process.")
        print("* = measured in the LD_PRELOAD process.")
        print("%-16s %-8s %18s %18s %7s" % ("path", "test", "GB/s", "raw GB/s", "ratio"))
        for name, res, mode in rows:
            for test in ("seq", "rand4k"):
                v, raw = res[(mode, test)], res[("raw", test)]
                print("%-16s %-8s %8.2f [%7.2f] %8.2f [%7.2f] %6.2fx" % (
                    name, test, v[0], v[1], raw[0], raw[1], v[0] / raw[0]))
        print("first touch after mapping (wall GB/s, one sequential pass):")
        for name, res, mode in [("raw", plain, "raw"), ("(a) libfamfs", plain, "lib"),
                                ("(b) LD_PRELOAD", pre, "sys"), ("(c) FUSE mmap", plain, "sys")]:
            print("  %-16s %6.2f" % (name, res[(mode, "first")][0]))
        print("one map + touch one byte + unmap of a 2 MiB window (wall us; CPU us):")
        # libfamfs from the preload process: in the plain one its first open drops the 4 GiB
        # page cache the FUSE mode left behind, which would be charged to it.
        for name, res, mode in [("raw", plain, "raw"), ("(a) libfamfs*", pre, "lib"),
                                ("(b) LD_PRELOAD", pre, "sys"), ("(c) FUSE mmap", plain, "sys")]:
            v = res.get((mode, "mapops"))
            if v:
                print("  %-16s %8.1f  %8.1f" % (name, v[1], v[0]))
        ok = all(res[(mode, t)][0] >= 0.95 * res[("raw", t)][0]
                 for _, res, mode in rows[:3] for t in ("seq", "rand4k"))
        print("\ntarget (a) and (b) >= 0.95x raw: %s" % ("met" if ok else "NOT met"))
    finally:
        fh.cleanup_all()
        if hugedir:
            subprocess.run(["umount", hugedir], check=False)
            os.rmdir(hugedir)


if __name__ == "__main__":
    main()
