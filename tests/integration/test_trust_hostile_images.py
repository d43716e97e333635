"""Issue 8: every image of the hostile corpus (hostile_images.py, >= 50, generated) mounted as a
client: no daemon crash, nothing outside the mount root or the device range, a clear message
for what was refused or skipped, and the good entries served."""

import os
import re
import sys

import pytest

import famfs_harness as fh
import hostile_images as hi
import test_cli_device_omf as omf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
from mmap_probe import Probe, ProbeError  # noqa: E402

MiB = 1 << 20


@pytest.fixture(scope="module")
def base():
    path = fh.make_image(prefix="famfs-hostile-base-")
    hi.make_base(path)
    yield path
    fh.remove_image(path)


def _walk(mpt):
    """Every path under the mount (os.walk follows nothing outside: no symlinks in famfs)."""
    out = []
    for root, dirs, files in os.walk(mpt):
        for n in dirs + files:
            out.append(os.path.join(root, n))
    return out


def _extents(path):
    lines = fh.getxattr(path, "user.famfs.fmap").splitlines()
    assert lines[0] == "famfs-fmap 1", lines
    count = int(lines[2].split()[1])
    return [tuple(int(v, 16) for v in ln.split()) for ln in lines[3:3 + count]]


# Names the corpus's escaping entries aim at, next to the mount point and at the top.
ESCAPES = ("escape", "up", "abs", "evil-dir", "etc/evil")


def _generic_checks(mpt, image):
    """What must hold on any mounted hostile image."""
    sb = omf.superblock(image)
    dev_end = min(sb["dd_size"], os.path.getsize(image))
    data_start = omf.LOG_OFFSET + sb["log_len"]
    real = os.path.realpath(mpt)
    for p in _walk(mpt):
        assert os.path.realpath(p).startswith(real + "/"), p
        if not os.path.isfile(p) or os.path.dirname(p) == os.path.join(mpt, ".meta"):
            continue
        for off, ln in _extents(p):
            assert data_start <= off and off + ln <= dev_end, (p, hex(off), hex(ln))
        size = os.path.getsize(p)
        with open(p, "rb") as fd:   # first and last page: served bytes, or a clean error
            for at in {0, max(0, size - 4096)}:
                try:
                    os.pread(fd.fileno(), 4096, at)
                except OSError:
                    pass
    for name in ESCAPES:
        for where in (os.path.dirname(real), "/"):
            assert not os.path.exists(os.path.join(where, name)), (where, name)
    assert fh.daemon_pids(mpt), "the daemon died"


def _good_served(mpt):
    with open(os.path.join(mpt, hi.GOOD_FILE), "rb") as fd:
        assert fd.read() == hi.payload()


def _mount_case(base, name, builder):
    image = fh.make_image(prefix="famfs-hostile-")
    hi.build_case(base, image, builder)
    return image, fh.Host("hostile-client")


def _message_is_clear(text):
    t = text.lower()
    return any(w in t for w in ("superblock", "log", "device", "famfs")) and len(t.strip()) > 20


@pytest.mark.parametrize("name,builder,expect", hi.CASES, ids=[c[0] for c in hi.CASES])
def test_hostile_image_as_client(base, name, builder, expect):
    image, client = _mount_case(base, name, builder)
    try:
        r = client.mount(image, None, check=False)
        if not isinstance(r, str):
            assert expect in ("refuse", "refuse-or-damage"), \
                "mount refused: %s\n%s" % (r.stderr, client.daemon_log(client.mounts[-1]))
            assert _message_is_clear(r.stderr), r.stderr
            assert not fh.is_mounted(client.mounts[-1])
            return
        mpt = r
        assert expect != "refuse", "a mount of %s should have been refused" % name
        st = fh.status(mpt)
        assert not fh.logplay(mpt)["skipped"]   # nothing new: a forced replay adds nothing
        if expect == "refuse-or-damage":
            assert st["damaged"] and st["damage_reason"], st
        else:
            _good_served(mpt)
        if expect == "damage":
            assert st["damaged"] and st["damage_reason"], st
            assert not os.path.exists(os.path.join(mpt, hi.GOOD_AFTER))
        if expect in ("skip", "ignore", "serve"):
            assert not st["damaged"], st
            assert os.path.isdir(os.path.join(mpt, hi.GOOD_AFTER)), "replay stopped early"
        if expect == "skip":
            assert st["skipped_entries"] >= 1, st
            # slot 2: the first after the good prefix; the daemon's log says why
            assert re.search(r"log entry 2 skipped: .{10,}", client.daemon_log(mpt)), \
                client.daemon_log(mpt)
        if expect == "ignore":
            assert st["skipped_entries"] == 0, st
        _generic_checks(mpt, image)
    finally:
        for m in list(client.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)


def test_corpus_is_large_enough():
    assert len(hi.CASES) >= 50


# ---- defects of issue 8 these checks found (fixed; each test failed before its fix) ---------

def _defect_image(base, key):
    _, builder = hi.DEFECT_CASES[key]
    return _mount_case(base, key, builder)


@pytest.mark.parametrize("key", ["defect8-file-under-meta", "defect8-dir-under-meta"])
def test_defect8_entries_under_meta_skipped(base, key):
    image, client = _defect_image(base, key)
    try:
        mpt = client.mount(image)
        assert sorted(os.listdir(os.path.join(mpt, ".meta"))) == [".log", ".superblock"]
        assert fh.status(mpt)["skipped_entries"] >= 1
    finally:
        for m in list(client.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)


@pytest.mark.parametrize("key", ["defect11-next-seqnum-differs", "defect11-next-index-past-log"])
def test_defect11_mount_tolerates_header_between_stores(base, key):
    image, client = _defect_image(base, key)
    try:
        mpt = client.mount(image)
        _good_served(mpt)
    finally:
        for m in list(client.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)


def test_defect5_shrink_under_mount_daemons_survive(base):
    image = fh.make_image(prefix="famfs-hostile-shrink-")
    hi.build_case(base, image, lambda img: None)
    client = fh.Host("shrink-client")
    try:
        mpt = client.mount(image)
        _good_served(mpt)
        os.truncate(image, 1 * MiB)
        fh.wait_for(lambda: not fh.daemon_pids(mpt), timeout=1.0)
        assert fh.daemon_pids(mpt), "the client daemon died"
        try:
            os.stat(os.path.join(mpt, hi.GOOD_FILE))
        except OSError as e:
            assert e.errno != 107, "ENOTCONN: the mount is dead"   # 107 = ENOTCONN
    finally:
        for m in list(client.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)



def test_defect7_libfamfs_maps_what_the_daemon_serves(base):
    """2 strips of 6 MiB, chunk 4 MiB, size 10 MiB: valid for the core and for libfamfs (one
    rule, src/proto/fmap_rule.h)."""
    strips = [(hi.FREE, 6 * MiB), (hi.FREE + 6 * MiB, 6 * MiB)]
    builder = hi.entries(hi.il("il6", 10 * MiB, 4 * MiB, strips))
    image, client = _mount_case(base, "defect7", builder)
    omf.write_at(image, hi.FREE, os.urandom(12 * MiB))
    probe = Probe("lib")
    try:
        mpt = client.mount(image)
        path = os.path.join(mpt, "il6")
        with open(path, "rb") as fd:
            want = fd.read()
        assert len(want) == 10 * MiB
        try:
            idx, _ = probe.map(path, 0, 10 * MiB)
        except ProbeError as e:
            pytest.fail("famfs_mmap refused the map: %s" % e)
        for off in (0, 4 * MiB, 8 * MiB, 10 * MiB - 4096):
            assert probe.read(idx, off, 4096) == want[off:off + 4096], off
    finally:
        probe.close()
        for m in list(client.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(image)
