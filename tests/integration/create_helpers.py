"""Helpers of the create-through-the-mount tests (test_create_*.py; docs/native-create.md)."""

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import tempfile

import famfs_harness as fh

# Owning is the default for a root read-write master mount; the tests say so explicitly.
OWNER = ("-o", "owner")
KiB = 1024


@contextlib.contextmanager
def master_and_client(image, *master_opts):
    """A master whose daemon owns the writer (with `master_opts`) and a client of `image`;
    every mount of both is cleaned up, also when the test fails."""
    m = fh.Host("master")
    c = fh.Host("client")
    try:
        m.mkfs(image)
        m.image = image
        m.mpt = m.mount(image, None, *OWNER, *master_opts)
        c.mpt = c.mount(image)
        yield m, c
    finally:
        for h in (c, m):
            for mpt in list(h.mounts):
                try:
                    fh.cleanup_mount(mpt)
                except Exception:
                    pass
MiB = 1024 * KiB


def make_tree(root, seed=1, files=40, dirs=6, max_size=300 * KiB, big=(5 * MiB + 3,)):
    """A deterministic tree under `root`: nested directories, files of random sizes, empty
    files, and a few files bigger than one allocation unit (they grow by several extents)."""
    rng = random.Random(seed)
    os.makedirs(root)
    subdirs = [root]
    for i in range(dirs):
        d = os.path.join(rng.choice(subdirs), "dir%d" % i)
        os.mkdir(d)
        subdirs.append(d)
    sizes = [rng.randrange(max_size) for _ in range(files)] + [0, 0] + list(big)
    for i, size in enumerate(sizes):
        p = os.path.join(rng.choice(subdirs), "file%d.bin" % i)
        with open(p, "wb") as f:
            f.write(rng.randbytes(size))
    return root


def scratch_dir(tag):
    """A temp dir named after this worktree (the machine is shared)."""
    return tempfile.mkdtemp(prefix="wt-create-%s-" % tag)


def tree_digest(root):
    """{relpath: None for a directory, sha256 for a file} of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out[rel] = None
        for n in filenames:
            p = os.path.join(dirpath, n)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            out[os.path.normpath(os.path.join(rel, n))] = (os.path.getsize(p), h.hexdigest())
    return out


def is_committed(path):
    """A committed file serves its extent map; a staged one does not (yet)."""
    try:
        os.getxattr(path, "user.famfs.fmap")
        return True
    except OSError:
        return False


def all_committed(root):
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            if not is_committed(os.path.join(dirpath, n)):
                return False
    return True


def wait_tree(root, want, timeout=20.0):
    """Wait until the tree under root is `want` (a tree_digest); returns the last digest."""
    last = {}

    def same():
        nonlocal last
        fh.logplay(mpt_of(root))
        last = tree_digest(root)
        return last == want
    fh.wait_for(same, timeout=timeout, interval=0.1)
    return last


def mpt_of(path):
    p = os.path.abspath(path)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p


def fsck_clean(host, mpt):
    p = host.famfs("fsck", mpt, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    assert p.returncode == 0, "%s: %s%s" % (argv, p.stdout, p.stderr)
    return p


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
