"""Drop-in compatibility of the command line with upstream famfs (issue 9).

Each test runs the command lines an upstream script would use (upstream's famfs_cli.c option
strings and usage rules) and checks the exit code and the lines scripts parse. The table in
docs/cli.md is walked by test_cli_table.py.
"""

import os
import re

import pytest

import famfs_harness as fh

SUBCOMMANDS = ["fsck", "mkmeta", "mount", "umount", "logplay", "creat", "verify", "mkdir", "cp",
               "getmap", "clone", "chkread", "flush", "status"]


def meson_version():
    text = open(os.path.join(fh.SOURCE_DIR, "meson.build")).read()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


def famfs(*args, host=None):
    return (host or fh.Host("cli")).famfs(*args, check=False)


# ---- defect 1: options bound to values that outlive the parse -------------------------------

def test_logplay_compat_options_do_not_crash(master, tmp_path):
    m = master.mpt
    for opts in (["-m"], ["-r"], ["-s"], ["--mmap"], ["--read"], ["--shadowtest"], ["-M"]):
        p = master.famfs("logplay", *opts, m, check=False)
        assert p.returncode == 0, (opts, p.stderr)
        assert "log entries" in p.stdout, (opts, p.stdout)
    for opts in (["--shadow", str(tmp_path / "s1")], ["-S", str(tmp_path / "s2")],
                 ["--shadow=" + str(tmp_path / "s3")]):
        p = master.famfs("logplay", *opts, m, check=False)
        assert p.returncode == 0 and p.returncode != -11, (opts, p.returncode, p.stderr)


def test_every_option_of_every_command_parses_without_crashing(tmp_path):
    """Each option with a value of its type, against a path that is not famfs: the command
    may fail, but always with a message and an exit status in 0..127 (no signal)."""
    bogus = str(tmp_path / "nothing")
    h = fh.Host("opts")
    for sub in SUBCOMMANDS:
        help_text = h.famfs(sub, "--help").stdout
        for line in help_text.splitlines():
            mt = re.match(r"^\s+(-[^\s,]+)(?:,\S+)*(?:\s+([A-Z][A-Z,\[\]|.]*|[a-z|]+\|[a-z|]+))?\s",
                          line + " ")
            if not mt or mt.group(1) in ("-h", "-?", "--help"):
                continue
            flag, vtype = mt.group(1), mt.group(2)
            args = [flag]
            if vtype:
                args.append({"SIZE": "2m", "N": "2", "MODE": "0644", "UID": "0", "GID": "0",
                             "MS": "100", "SECONDS": "1"}.get(vtype.split(",")[0], bogus))
            p = h.famfs(sub, *args, bogus, bogus, check=False)
            assert 0 <= p.returncode <= 127, (sub, args, p.returncode, p.stderr)


# ---- defect 2 and 7: help and version -----------------------------------------------------

@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help_exits_0(sub):
    for flag in [["-?"], ["--help"]] + ([] if sub == "fsck" else [["-h"]]):
        p = famfs(sub, *flag)
        assert p.returncode == 0, (sub, flag, p.stderr)
        assert ("famfs " + sub) in p.stdout and "Usage:" in p.stdout, p.stdout


def test_fsck_h_is_human_as_upstream(master):
    p = master.famfs("fsck", "-h", master.mpt)
    assert re.search(r"Device capacity:\s+[0-9.]+G$", p.stdout, re.M), p.stdout


def test_top_level_and_mkfs_help_exit_0():
    h = fh.Host("help")
    for flag in ("-h", "-?", "--help"):
        p = h.famfs(flag, check=False)
        assert p.returncode == 0 and "Subcommands:" in p.stdout, (flag, p.stderr)
        p = h.run([fh.mkfs_bin(), flag], check=False)
        assert p.returncode == 0 and "--loglen" in p.stdout, (flag, p.stderr)
        assert "mkfs.famfs [OPTIONS]" in p.stdout


def test_version_everywhere():
    want = meson_version()
    h = fh.Host("version")
    for argv in ([fh.famfs_bin()], [fh.mkfs_bin()], [fh.fused_bin()]):
        p = h.run(argv + ["--version"], check=False)
        assert p.returncode == 0, (argv, p.stderr)
        line = p.stdout.strip()
        assert line.startswith(os.path.basename(argv[0]) + " " + want + " "), line
        assert "OMF 2.2" in line and "\n" not in line, line


# ---- defect 8: usage errors and help texts ------------------------------------------------

@pytest.mark.parametrize("argv,what", [
    (["creat", "-Z", "x"], "-Z"),
    (["umount"], "mountpoint is required"),
    (["mount", "/dev/dax0.0"], "mountpoint is required"),
    (["fsck"], "target is required"),
    (["creat", "-s"], "-s"),
    (["logplay", "-n", "-m", "-r", "/"], "mutually exclusive"),
])
def test_usage_errors_name_the_command(argv, what):
    p = famfs(*argv)
    assert p.returncode == 1, (argv, p.returncode, p.stderr)
    first = p.stderr.splitlines()[0]
    assert first.startswith("famfs %s: " % argv[0]), first
    assert what in first and ("try 'famfs %s --help'" % argv[0]) in first, first


def test_mkfs_usage_errors():
    h = fh.Host("mkfs-usage")
    for args, what in ((["-Z"], "-Z"), ([], "no device"), (["-l"], "-l")):
        p = h.run([fh.mkfs_bin()] + args, check=False)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.startswith("mkfs.famfs: ") and what in p.stderr, p.stderr
        assert "try 'mkfs.famfs --help'" in p.stderr, p.stderr


def test_unknown_and_missing_command():
    p = famfs("bogus")
    assert p.returncode == 3 and "unknown command 'bogus'" in p.stderr
    p = fh.Host("x").run([fh.famfs_bin()], check=False)
    assert p.returncode == 1


def test_help_names_value_types_and_required_arguments():
    h = fh.Host("types")
    texts = {sub: h.famfs(sub, "--help").stdout for sub in SUBCOMMANDS}
    texts["mkfs.famfs"] = h.run([fh.mkfs_bin(), "--help"]).stdout
    for sub, text in texts.items():
        for bad in (" TEXT", " UINT", " INT", " FLOAT", ":UINT", "[TEXT"):
            assert bad not in text, (sub, bad, text)
    assert re.search(r"-s,--size SIZE", texts["creat"])
    assert re.search(r"-m,--mode MODE", texts["mkdir"])
    assert re.search(r"-u,--uid UID", texts["cp"])
    assert re.search(r"-t,--threadct N", texts["cp"])
    assert re.search(r"-l,--loglen SIZE", texts["mkfs.famfs"])
    assert re.search(r"mountpoint PATH REQUIRED", texts["mount"])
    assert re.search(r"device DEVICE REQUIRED", texts["mount"])
    assert "famfs mount [OPTIONS] device mountpoint" in texts["mount"]


# ---- defect 3: upstream's meanings of -r and -m ------------------------------------------

def test_mmap_and_read_are_mutually_exclusive(master, image):
    for argv in (["logplay", "-m", "-r", master.mpt], ["fsck", "-m", "-r", master.mpt],
                 ["fsck", "--mmap", "--read", image],
                 ["mount", "-m", "-r", image, master.mpt]):
        p = master.famfs(*argv, check=False)
        assert p.returncode == 1, (argv, p.stderr)
        assert "mutually exclusive" in p.stderr, p.stderr
    assert fh.is_mounted(master.mpt)


def _mount_opts(mpt):
    return fh.mount_entry(mpt)["options"].split(",")


def test_mount_r_is_not_read_only(image):
    h = fh.Host("ro")
    h.mkfs(image)
    try:
        m = h.mount(image, None, "-r")
        assert "rw" in _mount_opts(m)
        h.famfs("creat", "-s", "1m", os.path.join(m, "f"))
        h.umount(m)
        for opts in (["--read-only"], ["-o", "ro"], ["-o", "rw,ro"]):
            m = h.mount(image, None, *opts)
            assert "ro" in _mount_opts(m), opts
            h.umount(m)
        p = h.mount(image, None, "-o", "bogus", check=False)
        # -o lists go to famfs-fused, which refuses an unknown option by name; nothing is mounted.
        assert p.returncode == 1 and "unknown option 'bogus'" in p.stderr, p.stderr
        assert "not mounted" in p.stderr
    finally:
        for m in list(h.mounts):
            fh.cleanup_mount(m)


# ---- defect 5 (outside the master commands) ---------------------------------------------

def test_mkmeta_succeeds_when_the_device_exists(image, tmp_path):
    h = fh.Host("mkmeta")
    assert h.famfs("mkmeta", image, check=False).returncode == 0
    assert h.famfs("mkmeta", "-v", image, check=False).returncode == 0
    p = h.famfs("mkmeta", str(tmp_path / "nodev"), check=False)
    assert p.returncode == 1 and "nodev" in p.stderr


def test_fsck_verbose_block_and_force(master, image):
    fh.cleanup_mount(master.mpt)
    for argv in (["fsck", "-v", image], ["fsck", "--verbose", "--force", image],
                 ["fsck", "-f", "-v", image]):
        p = master.famfs(*argv, check=False)
        assert p.returncode == 0, (argv, p.stderr)
        assert re.search(r"^  log_len:\s+8388608$", p.stdout, re.M), p.stdout
        assert re.search(r"^  log_offset:\s+2097152$", p.stdout, re.M), p.stdout
        assert re.search(r"^      sizeof\(log_entry\)\s+544$", p.stdout, re.M), p.stdout
        assert re.search(r"^  last_log_index:\s+15419$", p.stdout, re.M), p.stdout


def test_logplay_daxdev_needs_shadow_and_set_daxmode_long(master, image):
    p = master.famfs("logplay", "-d", image, check=False)
    assert p.returncode == 1 and "--shadow" in p.stderr
    p = master.famfs("logplay", "--daxdev", image, master.mpt, check=False)
    assert p.returncode == 1 and "--shadow" in p.stderr
    assert master.famfs("logplay", "--set-daxmode", master.mpt, check=False).returncode == 0
    assert master.famfs("logplay", "-n", "-v", master.mpt, check=False).returncode == 0


def test_logplay_accepts_any_path_in_the_mount(master):
    master.famfs("mkdir", os.path.join(master.mpt, "sub"))
    p = master.famfs("logplay", os.path.join(master.mpt, "sub"), check=False)
    assert p.returncode == 0 and "log entries" in p.stdout, p.stderr


# ---- defect 6: logplay --shadow writes upstream's shadow tree ----------------------------

def _yaml_fields(text):
    return dict(re.findall(r"^  (\w+): (.*)$", text, re.M))


def test_logplay_shadow_tree(master, image, tmp_path):
    m = master.mpt
    master.famfs("mkdir", "-m", "0750", os.path.join(m, "d"))
    master.famfs("creat", "-s", "3m", "-m", "0640", os.path.join(m, "d", "f"))
    master.famfs("creat", "-s", "4m", "-N", "2", "-B", "2", "-C", "2m", os.path.join(m, "il"))
    shadow = tmp_path / "shadow"
    p = master.famfs("logplay", "--shadow", str(shadow), m)
    assert "famfs_logplay(shadow): 3 log entries; 2 new files; 1 new directories" in p.stdout
    root = shadow / "root"
    assert (root / "d").is_dir() and (os.stat(root / "d").st_mode & 0o777) == 0o750
    text = (root / "d" / "f").read_text()
    assert text.startswith("---\nfile:\n") and text.endswith("\n...\n"), text
    f = _yaml_fields(text)
    assert f["path"] == "d/f" and f["size"] == str(3 << 20) and f["nextents"] == "1", f
    assert f["mode"] == "0%o" % (0o640 & ~os.umask(os.umask(0))), f
    # the extent is where the mount's own map says it is
    fmap = fh.getxattr(os.path.join(m, "d", "f"), "user.famfs.fmap")
    assert re.search(r"^    offset: 0x[0-9a-f]+\n    length: 0x[0-9a-f]+$", text, re.M), text
    assert fmap
    il = (root / "il").read_text()
    assert "  striped_ext_list:\n  - nstrips: 2\n    chunk_size: 0x200000\n" in il, il
    sb = _yaml_fields((root / ".meta" / ".superblock").read_text())
    assert sb["size"] == "2097152" and sb["mode"] == "0444", sb
    lg = (root / ".meta" / ".log").read_text()
    assert "mode: 0644" in lg and "offset: 0x200000" in lg and "length: 0x800000" in lg, lg
    assert all(os.stat(root / n).st_mode & 0o777 == 0o644 for n in ("d/f", "il"))

    # Again: everything exists (first wins), nothing new; -s checks every file.
    p = master.famfs("logplay", "-S", str(shadow), "-s", m)
    assert "0 new files; 0 new directories" in p.stdout and p.returncode == 0
    assert "there were 0 yaml errors detected" in p.stdout, p.stdout
    (root / "il").write_text(il.replace("nstrips: 2", "nstrips: 3"))
    p = master.famfs("logplay", "-S", str(shadow), "-s", m, check=False)
    assert p.returncode == 1 and "il: differs" in p.stderr, p.stderr

    # Straight from the device, as a client, dry run writes nothing.
    fh.cleanup_mount(m)
    p = master.famfs("logplay", "-n", "-c", "--shadow", str(tmp_path / "dry"), "-d", image)
    assert "2 new files; 1 new directories" in p.stdout and not (tmp_path / "dry").exists()
    p = master.famfs("logplay", "-c", "--shadow", str(tmp_path / "c"), "--daxdev", image)
    assert p.returncode == 0, p.stderr
    assert "mode: 0444" in (tmp_path / "c" / "root" / ".meta" / ".log").read_text()
    assert _yaml_fields((tmp_path / "c" / "root" / "d" / "f").read_text()) == f


# ---- defect 9: messages a new user sees -------------------------------------------------

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_non_root_messages_name_the_cause(master):
    m = master.mpt

    def run(*args):
        return master.run(NOBODY + [fh.famfs_bin()] + list(args), check=False)

    p = run("umount", m)
    assert p.returncode == 1 and "only root" in p.stderr, p.stderr
    assert "mtab" not in p.stderr and "fusermount" not in p.stderr, p.stderr
    p = run("logplay", m)
    assert p.returncode == 1 and "without allow_other" in p.stderr, p.stderr
    p = run("fsck", m)           # the image is 0600: the device cannot be opened
    assert p.returncode == 1, p.stderr
    assert master.image in p.stderr and ("famfs mount at " + m) in p.stderr, p.stderr
    assert fh.is_mounted(m)


def test_unformatted_device_message_does_not_nest(image):
    h = fh.Host("nosb")
    p = h.mount(image, None, check=False)
    text = p.stderr + "".join(h.daemon_log(m) for m in h.logs)
    assert "no famfs superblock (magic not found); run mkfs.famfs" in text, text
    assert "superblock (no famfs superblock" not in text, text
