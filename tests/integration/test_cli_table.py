"""Walk the compatibility table of docs/cli.md: it names every command and flag of upstream's
famfs CLI and mkfs.famfs, and each row's check (a command line, its exit status and a text it
prints) holds here.
"""

import os
import re
import shlex
import tempfile

import pytest

import famfs_harness as fh

DOC = os.path.join(fh.SOURCE_DIR, "docs", "cli.md")
HEADING = "## Compatibility with upstream famfs: every command and flag"
STATUSES = {"same", "no effect", "extension", "refused"}
CHECK_RE = re.compile(r'^`([^`]+)` → (\d+)(?: "((?:[^"\\]|\\.)*)")?$')

# Upstream's option strings (famfs_cli.c getopt_long short and long options, mkfs.famfs.c),
# per command; "(command)" for a command without options of its own.
UPSTREAM = {
    "famfs": ["-h", "-?", "--dryrun"],
    "mount": ["-h", "-?", "-R", "-r", "-f", "-F", "-m", "-v", "-u", "-p", "-b", "-d", "-t",
              "-c", "-S", "-D", "-M", "-L", "--read", "--mmap", "--debug", "--fuse",
              "--nofuse", "--timeout", "--verbose", "--nouseraccess", "--nodefaultperm",
              "--shadow", "--dummy", "--set-daxmode", "--load-module", "--remount", "--cache"],
    "fsck": ["-v", "-h", "-?", "-m", "-r", "-f", "-M", "-L", "-B", "-D", "-F", "--human",
             "--verbose", "--force", "--nbuckets", "--set-daxmode", "--load-module",
             "--nofuse", "--fuse", "--mmap", "--read", "--nodax"],
    "check": ["(command)"],
    "mkdir": ["-p", "-v", "-m", "-u", "-g", "-h", "-?", "--parents", "--mode", "--uid",
              "--gid"],
    "cp": ["-r", "-m", "-u", "-g", "-C", "-N", "-B", "-v", "-t", "-c", "-h", "-?", "--mode",
           "--uid", "--gid", "--verbose", "--threadct", "--compare"],
    "creat": ["-s", "-S", "-m", "-u", "-g", "-r", "-C", "-N", "-B", "-M", "-t", "-h", "-?",
              "-v", "--size", "--seed", "--randomize", "--mode", "--uid", "--gid",
              "--verbose", "--multi", "--threadct"],
    "verify": ["-f", "-S", "-m", "-t", "-q", "-h", "-?", "--seed", "--filename", "--multi",
               "--threadct", "--quiet"],
    "flush": ["-v", "-h", "-?"],
    "logplay": ["-v", "-r", "-c", "-m", "-n", "-h", "-S", "-d", "-M", "-?", "--dryrun",
                "--verbose", "--set-daxmode", "--mmap", "--read", "--client", "--shadowtest",
                "--shadow", "--daxdev"],
    "getmap": ["-h", "-?", "-q", "-c"],
    "clone": ["-v", "-h", "-?"],
    "chkread": ["-s", "-l", "-h", "-?"],
    "mkmeta": ["-v", "-h", "-?"],
    "kabi": ["(command)"],
    "mkfs.famfs": ["-f", "-k", "-l", "-D", "-h", "-?", "-M", "-F", "--force", "--kill",
                   "--loglen", "--nodax", "--set-daxmode", "--nofuse", "--fuse", "--verbose"],
}


def table_rows():
    text = open(DOC).read()
    assert HEADING in text, "docs/cli.md lost its compatibility table"
    body = text[text.index(HEADING):]
    rows = []
    for line in body.splitlines()[1:]:
        if line.startswith("## "):
            break
        if not line.startswith("| ") or line.startswith("| Command") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("|")]
        assert len(cells) == 5, line
        rows.append(dict(zip(("command", "flag", "here", "note", "check"), cells)))
    return rows


ROWS = table_rows()


def test_table_is_well_formed_and_complete():
    for r in ROWS:
        assert r["here"] in STATUSES, r
        assert CHECK_RE.match(r["check"]), r
        if r["here"] in ("refused", "no effect"):
            assert r["note"], ("say why", r)
    missing = []
    for cmd, flags in UPSTREAM.items():
        cells = " ".join(r["flag"] for r in ROWS if r["command"] == cmd)
        have = set(re.findall(r"`([^`]+)`", cells)) | set(re.findall(r"\([a-z ,]+\)", cells))
        missing += ["%s %s" % (cmd, f) for f in flags if f not in have]
    assert not missing, "docs/cli.md has no row for: " + ", ".join(missing)


class Env:
    """A master mount with a file and a directory, and a second unmounted famfs image."""

    def __init__(self, host, image):
        self.host = host
        self.image = image
        host.mkfs(image)
        self.mpt = host.mount(image)
        self.spare = fh.make_image()
        host.mkfs(self.spare)
        self.file = os.path.join(self.mpt, "f")
        host.famfs("creat", "-s", "2m", "-r", "-S", "7", self.file)
        self.dir = os.path.join(self.mpt, "d")
        host.famfs("mkdir", self.dir)
        self.src = os.path.join(host.dir, "src")
        with open(self.src, "wb") as f:
            f.write(os.urandom(1 << 20))
        self.n = 0

    def expand(self, cmdline):
        self.n += 1
        tmp = tempfile.mkdtemp(prefix="famfs-table-", dir=self.host.dir)
        mnt = tempfile.mkdtemp(prefix="famfs-table-mnt-", dir=self.host.dir)
        fh._mounts.append(mnt)   # unmounted by the session finaliser if a row fails
        values = {"MPT": self.mpt, "IMG": self.image, "FILE": self.file, "DIR": self.dir,
                  "NEW": os.path.join(self.mpt, "new%d" % self.n), "SPARE": self.spare,
                  "SRC": self.src, "TMP": tmp, "MNT": mnt}
        words = [re.sub(r"\$([A-Z]+)", lambda m: values[m.group(1)], w)
                 for w in shlex.split(cmdline)]
        prog = {"famfs": fh.famfs_bin(), "mkfs.famfs": fh.mkfs_bin()}[words[0]]
        return [prog] + words[1:], mnt

    def close(self):
        for m in list(self.host.mounts):
            fh.cleanup_mount(m)
        fh.remove_image(self.spare)


@pytest.mark.parametrize("command", sorted({r["command"] for r in ROWS}))
def test_rows_hold(command, image):
    env = Env(fh.Host("table-" + command), image)
    failures = []
    try:
        for r in (r for r in ROWS if r["command"] == command):
            cmdline, code, text = CHECK_RE.match(r["check"]).groups()
            argv, mnt = env.expand(cmdline)
            try:
                p = env.host.run(argv, check=False, timeout=120)
            finally:
                fh.cleanup_mount(mnt)
            out = p.stdout + p.stderr
            want = text.replace('\\"', '"') if text else None
            if p.returncode != int(code) or (want and want not in out):
                failures.append("%s %s: `%s` exited %d (want %s%s)\n%s" % (
                    command, r["flag"], cmdline, p.returncode, code,
                    ', "%s"' % want if want else "", out[-600:]))
            if r["here"] == "refused" and p.returncode == 0:
                failures.append("%s %s: marked refused but exits 0" % (command, r["flag"]))
    finally:
        env.close()
    assert not failures, "\n\n".join(failures)
