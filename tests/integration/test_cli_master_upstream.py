"""Master commands on a file system made by upstream famfs (../shared/fixtures/upstream-basic)."""

import os
import re

import famfs_harness as fh
from test_cli_master_util import getmap_extents, next_index, read

UPSTREAM_MASTER = "f2eee19b-6c47-4dfd-af58-fc1b0113599a"
SEEDED = {"data/a.bin": (1, 4096, 0xa00000), "data/set1/b.bin": (2, 307200, 0xc00000),
          "data/set1/c.bin": (3, 100, 0xe00000), "big.bin": (4, 2097155, 0x1200000)}


def test_extend_upstream_fs_as_its_master(fixture_upstream):
    image, _ = fixture_upstream
    h = fh.Host("upstream-master", uuid=UPSTREAM_MASTER)
    try:
        m = h.mount(image)
        # Upstream's files: maps as upstream wrote them, contents by seed.
        for rel, (seed, size, off) in SEEDED.items():
            f = os.path.join(m, rel)
            h.famfs("verify", "-f", f, "-S", str(seed))
            assert getmap_extents(h, f)[0][0] == off
        n = next_index(image)
        assert n == 8
        with open(image, "rb") as f:
            upstream_log = f.read(0x200000 + 48 + 544 * 8)[0x200000 + 48:]
        # Add to it with our commands.
        h.famfs("mkdir", "-p", os.path.join(m, "data", "new", "deep"))
        h.famfs("creat", "-s", "3m", "-r", "-S", "21", os.path.join(m, "data", "new", "r"))
        src = os.path.join(h.dir, "blob")
        with open(src, "wb") as f:
            f.write(os.urandom(123457))
        h.famfs("cp", src, os.path.join(m, "logs"))
        assert next_index(image) == n + 4
        # Upstream's entries are untouched; new space comes after upstream's allocations.
        with open(image, "rb") as f:
            assert f.read(0x200000 + 48 + 544 * 8)[0x200000 + 48:] == upstream_log
        for rel in ("data/new/r", "logs/blob"):
            off = getmap_extents(h, os.path.join(m, rel))[0][0]
            assert off >= 0x1600000 and off % 0x200000 == 0
        h.famfs("verify", "-f", os.path.join(m, "data", "new", "r"), "-S", "21")
        assert read(os.path.join(m, "logs", "blob")) == read(src)
        for rel, (seed, _, _) in SEEDED.items():
            h.famfs("verify", "-q", "-f", os.path.join(m, rel), "-S", str(seed))
        p = h.famfs("fsck", m, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        # Existing upstream file at the same size: cp overwrites in place (restartable copy).
        h.famfs("cp", os.path.join(m, "readme.txt"), os.path.join(m, "data", "readme-copy"))
        assert read(os.path.join(m, "data", "readme-copy")) == read(os.path.join(m, "readme.txt"))
    finally:
        for mp in list(h.mounts):
            fh.cleanup_mount(mp)


def test_upstream_fs_refuses_other_hosts(fixture_upstream):
    image, _ = fixture_upstream
    h = fh.Host("not-the-master")
    try:
        m = h.mount(image)
        p = h.famfs("creat", "-s", "1m", os.path.join(m, "x"), check=False)
        assert p.returncode == 1
        assert UPSTREAM_MASTER in p.stderr and "famfs status %s" % m in p.stderr
        assert next_index(image) == 8
        out = h.famfs("status", m).stdout
        assert re.search(r"role:\s+client", out) and UPSTREAM_MASTER in out
        h.famfs("verify", "-f", os.path.join(m, "big.bin"), "-S", "4")
    finally:
        for mp in list(h.mounts):
            fh.cleanup_mount(mp)
