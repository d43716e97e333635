"""Trust defects of issue 8 on live mounts, each reproduced before its fix: entries under
.meta (defect 8), damage that outlives a whole log (defect 6), and a header whose next_index
and next_seqnum disagree, which running daemons follow and mount refused (defect 11)."""

import os
import struct

import famfs_harness as fh
import test_cli_device_omf as omf

MiB = 1 << 20
DATA_START = 0x200000 + 8 * MiB  # superblock region + default 8 MiB log


def test_entries_under_meta_are_skipped_and_reported(master, client):
    image = master.image
    n = omf.log_header(image)["next_index"]
    omf.append_entries(image, [
        omf.file_entry(n, ".meta/evil", 4096, [(DATA_START, 2 * MiB)], mode=0o666),
        omf.mkdir_entry(n + 1, ".meta/d", mode=0o777),
        omf.mkdir_entry(n + 2, "good"),
    ])
    for h in (master, client):
        assert fh.wait_for(lambda: os.path.isdir(os.path.join(h.mpt, "good")), timeout=5)
        assert sorted(os.listdir(os.path.join(h.mpt, ".meta"))) == [".log", ".superblock"]
        assert not os.path.exists(os.path.join(h.mpt, ".meta/evil"))
        st = fh.status(h.mpt)
        assert st["skipped_entries"] == 2
        log = h.daemon_log(h.mpt)
        assert "'.meta/evil': .meta is reserved" in log
        assert "'.meta/d': .meta is reserved" in log
    rep = fh.logplay(master.mpt)
    assert rep["damaged"] is False


def test_damage_clears_when_the_header_no_longer_counts_the_slot(master, client):
    image = master.image
    fh.append(image, "mkdir", "a")
    n = omf.log_header(image)["next_index"]
    for h in (master, client):
        assert fh.wait_for(lambda: fh.status(h.mpt)["entries_used"] == n, timeout=5)
    omf.set_next(image, n + 1)  # one past the last written entry: slot n is garbage (zeros)
    for h in (master, client):
        assert fh.wait_for(lambda: fh.status(h.mpt)["damaged"] is True, timeout=5)
        assert fh.status(h.mpt)["damage_index"] == n
    omf.set_next(image, n)      # restored: the log is whole again, no append follows
    for h in (master, client):
        assert fh.wait_for(lambda: fh.status(h.mpt)["damaged"] is False, timeout=5), \
            fh.status(h.mpt)
        st = fh.status(h.mpt)
        assert st["damage_index"] is None and st["damage_reason"] is None
    rep = fh.logplay(master.mpt)
    assert rep["damaged"] is False and rep["damage_index"] is None
    p = master.famfs("logplay", master.mpt, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mount_follows_a_header_between_its_two_stores(image):
    m, c = fh.Host("m11"), fh.Host("c11")
    m.mkfs(image)
    fh.append(image, "mkdir", "d")
    fh.append(image, "file", "d/f", "--size", 4096, "--seed", 3)
    n = omf.log_header(image)["next_index"]
    # An upstream master between its two plain stores (B§3.4 step 6): next_seqnum bumped,
    # next_index not yet.
    omf.write_at(image, omf.LOG_OFFSET + 32, struct.pack("<Q", n + 1))
    try:
        mpt = c.mount(image, check=False)
        assert isinstance(mpt, str), mpt.stdout + mpt.stderr
        with open(os.path.join(mpt, "d/f"), "rb") as f:
            assert f.read() == fh.pattern(3, 4096)
        assert "next_index/next_seqnum inconsistent" in c.daemon_log(mpt)
        assert fh.status(mpt)["entries_used"] == n
        omf.set_next(image, n)  # the writer's second store
        fh.append(image, "file", "d/g", "--size", 4096)
        assert fh.wait_for(lambda: os.path.exists(os.path.join(mpt, "d/g")), timeout=5)
    finally:
        for h in (c, m):
            for mp in list(h.mounts):
                fh.cleanup_mount(mp)


def test_a_rewritten_applied_entry_is_reported_as_damage(master, client):
    image = master.image
    fh.append(image, "mkdir", "keep")
    fh.append(image, "mkdir", "x")
    n = omf.log_header(image)["next_index"]
    assert fh.wait_for(lambda: os.path.isdir(os.path.join(client.mpt, "x")), timeout=5)
    slot = n - 1
    saved = omf.read_at(image, omf.slot_offset(slot), omf.ENTRY_SIZE)
    # Another host rewrites an entry every daemon already applied (valid seqnum and CRC).
    omf.write_at(image, omf.slot_offset(slot), omf.mkdir_entry(slot, "other"))
    assert fh.wait_for(lambda: fh.status(client.mpt)["damaged"] is True, timeout=10)
    st = fh.status(client.mpt)
    assert st["damage_index"] == slot
    assert "changed after it was applied" in st["damage_reason"]
    assert os.path.isdir(os.path.join(client.mpt, "x"))  # the client keeps what it applied
    assert "LOG DAMAGED: entry %d changed after it was applied" % slot in \
        client.daemon_log(client.mpt)
    omf.write_at(image, omf.slot_offset(slot), saved)
    assert fh.wait_for(lambda: fh.status(client.mpt)["damaged"] is False, timeout=10)


def test_meta_files_are_readable_by_root_only(image):
    """Defect 9, daemon side: .meta/.log names every file, size and owner (also inside 0700
    directories): another user allowed on the mount must not read it, nor the superblock."""
    import subprocess
    h = fh.Host("m9")
    h.mkfs(image)
    fh.append(image, "mkdir", "secret", "--mode", "0700")
    fh.append(image, "file", "open.txt", "--size", 4096, "--mode", "0644")
    try:
        mpt = h.mount(image, None, "--allow-other")
        sb, lg = os.path.join(mpt, ".meta/.superblock"), os.path.join(mpt, ".meta/.log")
        assert os.stat(sb).st_mode & 0o777 == 0o400
        assert os.stat(lg).st_mode & 0o777 == 0o600

        def as_nobody(path):
            return subprocess.run(["runuser", "-u", "nobody", "--", "head", "-c", "1", path],
                                  capture_output=True)
        assert as_nobody(os.path.join(mpt, "open.txt")).returncode == 0  # the mount is open
        for p in (sb, lg):
            r = as_nobody(p)
            assert r.returncode != 0 and b"Permission denied" in r.stderr, (p, r)
        with open(lg, "rb") as f:   # root still reads both (the master commands' lock, fsck)
            assert len(f.read(64)) == 64
    finally:
        for mp in list(h.mounts):
            fh.cleanup_mount(mp)


def test_a_device_shrinking_under_the_mounts_kills_no_daemon(master, client):
    """Defect 5: `truncate -s 1M IMG` while mounted killed every daemon with SIGBUS."""
    import errno
    image = master.image
    fh.append(image, "file", "f", "--size", 4 * MiB, "--seed", 5)
    for h in (master, client):
        assert fh.wait_for(lambda: os.path.exists(os.path.join(h.mpt, "f")), timeout=5)
        with open(os.path.join(h.mpt, "f"), "rb") as f:
            assert f.read(4096) == fh.pattern(5, 4096)
    pids = {h.mpt: fh.daemon_pids(h.mpt) for h in (master, client)}
    os.truncate(image, 1 * MiB)
    for h in (master, client):
        assert fh.wait_for(lambda: "DEVICE SHRANK" in h.daemon_log(h.mpt), timeout=5), \
            h.daemon_log(h.mpt)
        st = fh.status(h.mpt)                      # still answers
        assert st["entries_used"] >= 1
        with open(os.path.join(h.mpt, "f"), "rb") as f:
            try:
                f.read(4096)
                raise AssertionError("a read past the device end succeeded")
            except OSError as e:
                assert e.errno == errno.EIO
        assert os.path.isfile(os.path.join(h.mpt, "f"))  # the tree is still served
        fh.logplay(h.mpt)
        assert fh.daemon_pids(h.mpt) == pids[h.mpt]       # the same daemons, alive
