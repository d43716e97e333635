"""mkfs.famfs on image files (spec B§9, Part A §1): exact on-media bytes, -f/-k, log length
rules, refusals and exit codes (0 success, 2 failure, 1 missing argument/device or not root)."""

import os
import stat
import subprocess
import tempfile
import uuid as uuidlib

import pytest

import famfs_harness as fh
import test_cli_device_omf as omf

MiB = omf.MiB
GiB = omf.GiB

# Spec B§11: log header CRC by log length.
HEADER_CRC = {8 * MiB: 0xA5875078, 16 * MiB: 0x3514E0D7, 64 * MiB: 0xBC720E66,
              256 * MiB: 0xE077F1D4}
LAST_INDEX = {8 * MiB: 15419, 16 * MiB: 30839, 64 * MiB: 123360, 256 * MiB: 493446}


def mkfs(host, image, *args):
    return host.run([fh.mkfs_bin()] + list(args) + [image], check=False)


@pytest.fixture
def host():
    return fh.Host("mkfs")


def assert_fresh_fs(image, host, log_len=8 * MiB, size=4 * GiB):
    sb = omf.superblock(image)
    assert sb["magic"] == omf.SB_MAGIC
    assert sb["raw"][0:8] == bytes.fromhex("ff82b28700000000")
    assert sb["version"] == 48
    assert sb["log_offset"] == 0x200000
    assert sb["log_len"] == log_len
    assert sb["alloc_unit"] == 0x200000
    assert (sb["omf_major"], sb["omf_minor"]) == (2, 2)
    assert sb["system_uuid"] == uuidlib.UUID(host.uuid).bytes
    assert sb["uuid"] != bytes(16) and sb["dev_uuid"] != bytes(16)
    assert sb["uuid"] != sb["dev_uuid"]
    assert sb["crc"] == omf.zlib.crc32(sb["raw"][0:96])    # zero-extended u64
    assert sb["sb_flags"] == 1 and sb["pad"] == 0          # Part A §1: PRIMARY
    assert sb["dd_size"] == size
    assert sb["dd_uuid"] == sb["dev_uuid"]                 # Part A §1
    path = image.encode()[:64]
    assert sb["dd_daxdev"] == path + bytes(64 - len(path))
    # The rest of the superblock region is zero.
    assert omf.read_at(image, 200, 0x200000 - 200) == bytes(0x200000 - 200)

    h = omf.log_header(image)
    assert h["raw"][0:8] == bytes.fromhex("0df0fecaad0b0000")
    assert h["magic"] == omf.LOG_MAGIC
    assert h["len"] == log_len
    assert h["last_index"] == LAST_INDEX[log_len]
    assert h["crc"] == HEADER_CRC[log_len]
    assert h["crc"] == omf.zlib.crc32(h["raw"][0:24])
    assert h["next_seqnum"] == 0 and h["next_index"] == 0
    assert omf.read_at(image, omf.LOG_OFFSET + 48, log_len - 48) == bytes(log_len - 48)
    return sb


def test_mkfs_writes_upstream_bytes(image, host):
    # Garbage where the log goes must be zeroed by mkfs.
    omf.write_at(image, omf.LOG_OFFSET + 4096, b"\xAA" * 4096)
    omf.write_at(image, 1000, b"\x55" * 100)
    p = mkfs(host, image)
    assert p.returncode == 0, p.stderr
    assert_fresh_fs(image, host)
    # Upstream prints the fsck summary of the new file system.
    for s in ("Famfs Superblock:", "Log stats:", "Capacity:", "Famfs log:",
              "0 of 15420 entries used", "0 files", "0 directories", "role of this node: Owner"):
        assert s in p.stdout, p.stdout


def test_mkfs_long_path_is_truncated_to_64_bytes_in_dd_daxdev(host):
    d = tempfile.mkdtemp(prefix="famfs-long-" + "x" * 60, dir="/dev/shm")
    image = os.path.join(d, "image-with-a-long-name.img")
    try:
        with open(image, "wb") as f:
            f.truncate(4 * GiB)
        assert len(image) > 64
        p = mkfs(host, image)
        assert p.returncode == 0, p.stderr
        assert omf.superblock(image)["dd_daxdev"] == image.encode()[:64]
    finally:
        if os.path.exists(image):
            os.unlink(image)
        os.rmdir(d)


@pytest.mark.parametrize("arg,length", [("16m", 16 * MiB), ("64M", 64 * MiB),
                                        ("0x10000000", 256 * MiB), ("8388608", 8 * MiB)])
def test_mkfs_log_length(image, host, arg, length):
    p = mkfs(host, image, "-l", arg)
    assert p.returncode == 0, p.stderr
    assert_fresh_fs(image, host, log_len=length)


@pytest.mark.parametrize("arg,why", [("12m", "power of 2"), ("4m", "at least 8 MiB"),
                                     ("0", "power of 2"), ("abc", "not a size"),
                                     ("8x", "not a size"), ("4g", "does not fit")])
def test_mkfs_bad_log_length_fails_with_2_and_writes_nothing(image, host, arg, why):
    p = mkfs(host, image, "--loglen", arg)
    assert p.returncode == 2
    assert why in p.stderr
    assert omf.read_at(image, 0, 4096) == bytes(4096)


def test_mkfs_missing_argument_and_missing_device_exit_1(host):
    p = host.run([fh.mkfs_bin()], check=False)
    assert p.returncode == 1
    assert "no device" in p.stderr
    p = mkfs(host, "/dev/shm/famfs-no-such-image-%s" % uuidlib.uuid4())
    assert p.returncode == 1
    assert "no such device" in p.stderr


def test_mkfs_help_exits_0(host):
    for flag in ("-h", "-?", "--help"):
        p = host.run([fh.mkfs_bin(), flag], check=False)
        assert p.returncode == 0
        assert "--loglen" in p.stdout


def test_mkfs_not_root_exits_1(image, host):
    os.chmod(image, 0o666)

    def drop():
        os.setgid(65534)
        os.setuid(65534)

    p = subprocess.run([fh.mkfs_bin(), image], capture_output=True, text=True, env=host.env,
                       preexec_fn=drop)
    assert p.returncode == 1
    assert "root" in p.stderr
    assert omf.read_at(image, 0, 8) == bytes(8)


def test_mkfs_refuses_small_images_directories_and_other_devices(host):
    small = fh.make_image(4 * GiB - 2 * MiB)
    try:
        p = mkfs(host, small)
        assert p.returncode == 2
        assert "at least 4 GiB" in p.stderr and small in p.stderr
        assert omf.read_at(small, 0, 8) == bytes(8)
    finally:
        fh.remove_image(small)
    d = tempfile.mkdtemp(dir="/dev/shm")
    try:
        p = mkfs(host, d)
        assert p.returncode == 2 and "is a directory" in p.stderr
    finally:
        os.rmdir(d)
    p = mkfs(host, "/dev/null")
    assert p.returncode == 2 and "not a device-dax device" in p.stderr


def test_mkfs_refuses_existing_fs_without_force(image, host):
    assert mkfs(host, image).returncode == 0
    before = omf.read_at(image, 0, 0x200000 + 4096)
    sb = omf.superblock(image)
    p = mkfs(host, image)
    assert p.returncode == 2
    assert "already holds a famfs file system" in p.stderr
    assert str(uuidlib.UUID(bytes=sb["uuid"])) in p.stderr
    assert "use -f" in p.stderr
    assert omf.read_at(image, 0, 0x200000 + 4096) == before

    p = mkfs(host, image, "-f")
    assert p.returncode == 0, p.stderr
    assert omf.superblock(image)["uuid"] != sb["uuid"]
    assert_fresh_fs(image, host)


def test_mkfs_refuses_fs_owned_by_another_host(image, host):
    other = fh.Host("other")
    assert mkfs(other, image).returncode == 0
    before = omf.read_at(image, 0, 200)
    p = mkfs(host, image)
    assert p.returncode == 2
    assert "owned by another host" in p.stderr
    assert other.uuid in p.stderr and host.uuid in p.stderr
    assert omf.read_at(image, 0, 200) == before
    p = mkfs(host, image, "--force")
    assert p.returncode == 0, p.stderr
    assert omf.superblock(image)["system_uuid"] == uuidlib.UUID(host.uuid).bytes


def test_mkfs_refuses_wrong_version_but_not_a_corrupt_superblock(image, host):
    assert mkfs(host, image).returncode == 0
    omf.reseal_superblock(image, version=49)
    p = mkfs(host, image)
    assert p.returncode == 2
    assert "version 49" in p.stderr
    # Upstream's check_super ignores the log geometry: such a superblock is still refused.
    omf.reseal_superblock(image, version=48, log_len=12 * MiB)
    p = mkfs(host, image)
    assert p.returncode == 2 and "use -f" in p.stderr
    omf.reseal_superblock(image, version=49, log_len=8 * MiB)
    # The version is checked before the CRC (B§2.1), so it still wins over a bad CRC.
    omf.flip_byte(image, 50)
    assert mkfs(host, image).returncode == 2
    # A current-version superblock with a bad CRC is no file system (check_super -1): mkfs
    # proceeds.
    omf.reseal_superblock(image, version=48)
    omf.flip_byte(image, 50)
    p = mkfs(host, image)
    assert p.returncode == 0, p.stderr
    assert_fresh_fs(image, host)


def test_mkfs_kill_with_force_zeroes_only_the_magic(image, host):
    assert mkfs(host, image).returncode == 0
    omf.append_entries(image, [omf.mkdir_entry(0, "d")])
    before = omf.read_at(image, 0, 0x200000 + 0x800000)
    p = mkfs(host, image, "-k", "-f")
    assert p.returncode == 0, p.stderr
    after = omf.read_at(image, 0, 0x200000 + 0x800000)
    assert after[0:8] == bytes(8)
    assert after[8:] == before[8:]
    # With no superblock left, an ordinary mkfs needs no -f.
    p = mkfs(host, image)
    assert p.returncode == 0, p.stderr
    assert_fresh_fs(image, host)


def test_mkfs_kill_without_force_is_ignored(image, host):
    p = mkfs(host, image, "--kill")
    assert p.returncode == 0, p.stderr
    assert "ignored" in p.stderr
    assert_fresh_fs(image, host)
    # ...so on an existing file system it is an ordinary (refused) mkfs.
    before = omf.read_at(image, 0, 200)
    p = mkfs(host, image, "-k")
    assert p.returncode == 2 and "already holds" in p.stderr
    assert omf.read_at(image, 0, 200) == before


def test_mkfs_refuses_a_device_locked_by_another_mkfs(image, host):
    import fcntl
    with open(image, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        p = mkfs(host, image)
        assert p.returncode == 2 and "locked by another process" in p.stderr
    assert omf.read_at(image, 0, 8) == bytes(8)
    assert mkfs(host, image).returncode == 0


def test_mkfs_creates_the_identity_file_like_upstream(image):
    d = tempfile.mkdtemp(prefix="famfs-id-", dir="/dev/shm")
    try:
        idfile = os.path.join(d, "opt", "famfs", "system_uuid")
        env = dict(os.environ)
        env.pop("FAMFS_SYSTEM_UUID_FILE", None)
        p = subprocess.run([fh.mkfs_bin(), "--system-uuid-file", idfile, image],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        st = os.stat(idfile)
        assert stat.S_IMODE(st.st_mode) == 0o444
        assert stat.S_IMODE(os.stat(os.path.dirname(idfile)).st_mode) == 0o755
        with open(idfile, "rb") as f:
            data = f.read()
        assert len(data) == 37 and data[36] == 0 and b"\n" not in data
        text = data[:36].decode()
        assert text == text.lower()
        assert omf.superblock(image)["system_uuid"] == uuidlib.UUID(text).bytes

        # The environment variable is honoured too (and an existing file is reused).
        env["FAMFS_SYSTEM_UUID_FILE"] = idfile
        p = subprocess.run([fh.mkfs_bin(), "-f", image], capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        assert omf.superblock(image)["system_uuid"] == uuidlib.UUID(text).bytes
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_mkfs_bad_identity_file_fails_and_keeps_it(image):
    d = tempfile.mkdtemp(prefix="famfs-id-", dir="/dev/shm")
    try:
        idfile = os.path.join(d, "system_uuid")
        with open(idfile, "w") as f:
            f.write("garbage")
        p = subprocess.run([fh.mkfs_bin(), "--system-uuid-file", idfile, image],
                           capture_output=True, text=True)
        assert p.returncode == 2
        assert idfile in p.stderr
        with open(idfile) as f:
            assert f.read() == "garbage"
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not os.path.exists(fh.fused_bin()), reason="famfs-fused not built")
def test_mkfs_refuses_a_mounted_device_even_with_force(master):
    before = omf.read_at(master.image, 0, 200)
    for args in ([], ["-f"], ["-f", "-k"]):
        p = mkfs(master, master.image, *args)
        assert p.returncode == 2, args
        assert "is mounted at" in p.stderr and master.mpt in p.stderr
    assert omf.read_at(master.image, 0, 200) == before


def test_mkfs_compat_flags_and_set_daxmode_on_an_image(image, host):
    # -M only acts on a device-dax device in system-ram mode; the others are upstream no-ops.
    p = mkfs(host, image, "-M", "-D", "-F", "--fuse", "--verbose")
    assert p.returncode == 0, p.stderr
    assert "image file" in p.stdout          # --verbose says what it is working on
    assert_fresh_fs(image, host)
    p = mkfs(host, image, "--no-such-option")
    assert p.returncode == 1
