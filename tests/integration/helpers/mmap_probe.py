"""Driver for famfs-mmap-probe (helpers/famfs_mmap_probe.c) and small helpers shared by the
mmap integration tests (tests/integration/test_mmap_*.py)."""

import os
import select
import subprocess

import famfs_harness as fh

MiB = 1 << 20


def probe_bin():
    return os.path.join(fh.BUILD_DIR, "tests", "integration", "helpers", "famfs-mmap-probe")


def preload_lib():
    return os.path.join(fh.BUILD_DIR, "src", "lib", "libfamfs-preload.so")


class ProbeError(Exception):
    def __init__(self, code, text):
        super().__init__("probe error %d: %s" % (code, text))
        self.code = code
        self.text = text


class Probe:
    """One famfs-mmap-probe process. mode 'lib' (libfamfs) or 'sys' (plain mmap); preload=True
    runs it under LD_PRELOAD=libfamfs-preload.so; user runs it as that user (runuser)."""

    def __init__(self, mode, preload=False, user=None, env=None):
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        if env:
            e.update(env)
        argv = [probe_bin(), mode]
        if preload:
            argv = ["env", "LD_PRELOAD=" + preload_lib()] + argv
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=e)

    def cmd(self, line, timeout=30):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise TimeoutError("probe did not answer %r" % line)
        out = self.p.stdout.readline()
        if not out:
            self.p.wait(5)
            raise RuntimeError("probe died (%s) on %r: %s" % (self.p.returncode, line,
                                                             self.p.stderr.read()))
        out = out.rstrip("\n")
        if out.startswith("err "):
            _, code, text = out.split(" ", 2)
            raise ProbeError(int(code), text)
        assert out.startswith("ok"), out
        return out[3:]

    def map(self, path, off, length, prot="r"):
        idx, addr = self.cmd("map %s %d %d %s" % (path, off, length, prot)).split()
        return int(idx), int(addr, 16)

    def mapfd(self, path, off, length, prot="r", openmode="ro"):
        idx, addr = self.cmd("mapfd %s %d %d %s %s" % (path, off, length, prot, openmode)).split()
        return int(idx), int(addr, 16)

    def read(self, i, off, n):
        return bytes.fromhex(self.cmd("read %d %d %d" % (i, off, n)))

    def write(self, i, off, data):
        self.cmd("write %d %d %s" % (i, off, data.hex()))

    def unmap(self, i, off, n):
        self.cmd("unmap %d %d %d" % (i, off, n))

    def mapped(self, i, off):
        return self.cmd("probe %d %d" % (i, off)) == "mapped"

    def maps_line(self, i, off):
        return self.cmd("maps %d %d" % (i, off))

    def mremap(self, i, newlen):
        return int(self.cmd("mremap %d %d" % (i, newlen)), 16)

    def dump(self, i, off, n, path):
        self.cmd("dump %d %d %d %s" % (i, off, n, path), timeout=120)

    def getmap(self, path):
        out = self.cmd("getmap " + path)
        d = {}
        for kv in out.split():
            k, v = kv.split("=", 1)
            d[k] = v
        return d

    def close(self):
        err = ""
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        try:
            err = self.p.stderr.read()
        except ValueError:
            pass
        return err


def create_file(host, relpath, size, seed=None, mode=None, nstrips=None, chunk=None,
                nbuckets=4):
    """Create a file on the master (famfs creat), make it visible on every mount at once.
    Interleaved files need buckets of >= 1 GiB: 4 on the harness's 4 GiB images."""
    args = ["creat", "-s", str(size)]
    if seed is not None:
        args += ["-r", "-S", str(seed)]
    if mode is not None:
        args += ["-m", "%o" % mode]
    if nstrips:
        args += ["-N", str(nstrips), "-B", str(nbuckets)]
        if chunk:
            args += ["-C", str(chunk)]
    path = os.path.join(host.mpt, relpath)
    host.famfs(*(args + [path]))
    return path


def replay(*hosts):
    for h in hosts:
        fh.logplay(h.mpt)
