"""Packaging: man pages and bash completion, checked against the binaries' --help.

Every flag that `--help` prints must appear in the binary's man page (for famfs, in the
section of its subcommand) and be offered by the bash completion: this catches drift when a
flag is added, renamed or removed. The pages must also render with no groff or man warnings.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

import famfs_harness as fh

MAN_DIR = os.path.join(fh.SOURCE_DIR, "packaging", "man")
COMP_DIR = os.path.join(fh.SOURCE_DIR, "packaging", "bash-completion")
PAGES = ["famfs.8", "mkfs.famfs.8", "famfs-fused.8", "mount.famfs.8", "libfamfs.3"]
FLAG_RE = re.compile(r"(?<![\w-])(--?[A-Za-z0-9?][\w-]*)")


def render(page):
    """The page as plain ASCII text on very long lines (no hyphenation of flags)."""
    r = subprocess.run(["groff", "-man", "-Tascii", "-P-cbou", "-rLL=400n", "-rHY=0", "-ww",
                        os.path.join(MAN_DIR, page)], capture_output=True, text=True,
                       check=True)
    return r.stdout


def _run_help(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def help_flags(text):
    """Flags of a --help text: the option words at the start of each option line."""
    flags = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-\S.*)$", line)
        if not m:
            continue
        head = re.split(r"\s{2,}", m.group(1).strip())[0]
        for f in FLAG_RE.findall(head):
            flags.add(f)
    return flags


def subcommands(text):
    """Subcommand names from the top-level CLI11 help (the 'Subcommands:' section)."""
    out, on = [], False
    for line in text.splitlines():
        if re.match(r"^Subcommands:", line):
            on = True
            continue
        if on:
            m = re.match(r"^\s+([a-z][\w-]*)\b", line)
            if m:
                out.append(m.group(1))
            elif line.strip() and not line.startswith(" "):
                on = False
    return out


def have(path):
    return os.path.exists(path) and os.access(path, os.X_OK)


def famfs_help():
    if not have(fh.famfs_bin()):
        pytest.skip("famfs is not built")
    return _run_help([fh.famfs_bin(), "--help"])


def famfs_sub_help(sub):
    return _run_help([fh.famfs_bin(), sub, "--help"])


def word_in(flag, text):
    return re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text) is not None


def man_sections(text):
    """Split a rendered page into {heading: body} for .SH and .SS headings."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^( {0,3})(\S.*)$", line)
        if m and (m.group(1) == "" or m.group(1) == "   "):
            cur = m.group(2).strip()
            out[cur] = ""
            continue
        if cur is not None:
            out[cur] += line + "\n"
    return out


def documented_flags(body):
    """Flags in the tags of an option list (.TP tags render at column 7, before the text)."""
    flags = set()
    for line in body.splitlines():
        m = re.match(r"^ {7}(-\S.*)$", line)
        if m:
            head = re.split(r"\s{2,}", m.group(1).strip())[0]
            flags.update(FLAG_RE.findall(head))
    return flags


# ---- rendering ---------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page):
    path = os.path.join(MAN_DIR, page)
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    if shutil.which("man"):
        # As lintian checks it: man-db with warnings on, UTF-8, 80 columns.
        env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", path],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert len(r.stdout) > 500
    text = render(page)
    for h in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(r"^" + h + r"$", text, re.M), (page, h)


# ---- flags against --help ----------------------------------------------------------------

def test_famfs_page_has_every_subcommand_and_flag():
    top = famfs_help()
    subs = subcommands(top)
    assert subs, top
    text = render("famfs.8")
    secs = man_sections(text)
    missing = []
    for f in help_flags(top):
        if not word_in(f, text):
            missing.append("famfs %s" % f)
    for sub in subs:
        key = "famfs " + sub
        body = next((v for k, v in secs.items() if k == key or k.startswith(key + " ")), None)
        if body is None:
            missing.append("section 'famfs %s'" % sub)
            continue
        for f in help_flags(famfs_sub_help(sub)):
            # Every command's -h / -? / --help is described once, under GLOBAL OPTIONS.
            where = secs.get("GLOBAL OPTIONS", "") if f in ("-h", "-?", "--help") else body
            if not word_in(f, where):
                missing.append("famfs %s %s" % (sub, f))
    assert not missing, "famfs(8) lacks: " + ", ".join(missing)
    # And the other way: every flag the page lists for a command exists.
    stale = []
    for sub in subs:
        body = next((v for k, v in secs.items() if k == "famfs " + sub), "")
        have_flags = help_flags(famfs_sub_help(sub))
        stale += ["famfs %s %s" % (sub, f) for f in documented_flags(body) - have_flags]
    assert not stale, "famfs(8) documents flags that --help does not know: " + ", ".join(stale)
    extra = set(secs) - {"famfs " + x for x in subs} - {
        "NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS",
        "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"}
    # (the page header and footer end with "FAMFS(8)")
    assert not [k for k in extra if k.startswith("famfs ") and not k.endswith("(8)")], extra


def test_mkfs_page_has_every_flag():
    if not have(fh.mkfs_bin()):
        pytest.skip("mkfs.famfs is not built")
    flags = help_flags(_run_help([fh.mkfs_bin(), "--help"]))
    assert "--force" in flags
    text = render("mkfs.famfs.8")
    missing = [f for f in sorted(flags) if not word_in(f, text)]
    assert not missing, "mkfs.famfs(8) lacks: " + ", ".join(missing)
    stale = documented_flags(man_sections(text).get("OPTIONS", "")) - flags
    assert not stale, "mkfs.famfs(8) documents unknown flags: %s" % stale


def fused_help():
    if not have(fh.fused_bin()):
        pytest.skip("famfs-fused is not built")
    return _run_help([fh.fused_bin(), "--help"])


def test_fused_page_has_every_flag_and_option():
    h = fused_help()
    text = render("famfs-fused.8")
    flags = help_flags(h)
    missing = [f for f in sorted(flags) if not word_in(f, text)]
    stale = documented_flags(man_sections(text).get("OPTIONS", "")) - flags - {"-h", "--help"}
    assert not stale, "famfs-fused(8) documents unknown flags: %s" % stale
    # -o options: "name=" or a bare name right after "-o" on a help line.
    for name in re.findall(r"-o\s+([a-z_]+)", h):
        if not word_in(name, text):
            missing.append("-o " + name)
    assert not missing, "famfs-fused(8) lacks: " + ", ".join(missing)


def _documented_keys(xattr):
    """The keys famfs-fused(8) lists for the report of `xattr` (its schema), in order: every
    bold word at the start of a line of that paragraph; and its quoted sub-keys."""
    src = open(os.path.join(MAN_DIR, "famfs-fused.8")).read()
    para = src.split(".B %s\n" % xattr, 1)[1].split("\n.TP\n", 1)[0].split("\n.SH ", 1)[0]
    keys = [m.group(1).replace("\\", "") for m in
            re.finditer(r"^\.BR? ([a-z_\\]+)", para, re.M)]
    return keys, re.findall(r"\\\(dq([a-z_]+)\\\(dq", para)


def test_reports_match_the_documented_schema(master):
    """The daemon's status and logplay reports have exactly the keys famfs-fused(8)
    documents, in order."""
    keys, quoted = _documented_keys("user.famfs.status")
    j = fh.status(master.mpt)
    assert list(j) == keys
    assert list(j["debug"]) == [k for k in quoted if k not in ("master", "client")]
    assert j["role"] == "master" and isinstance(j["entries_total"], int)
    keys, quoted = _documented_keys("user.famfs.logplay")
    j = fh.logplay(master.mpt)
    assert list(j) == [k for k in keys if k != "damage_reason"]   # only when damaged
    assert j["damaged"] is False and j["skipped"] == []
    assert quoted == ["index", "what"]


def test_fsck_json_matches_the_documented_schema(image, tmp_path):
    """famfs fsck --json has exactly the keys famfs(8) lists, in order; a check that cannot
    run has the keys of its documented object."""
    src = open(os.path.join(MAN_DIR, "famfs.8")).read()
    para = src.split(".SS famfs fsck\n", 1)[1].split(".B \\-\\-json\n", 1)[1]
    para = para.split("\n.TP\n", 1)[0]
    report, cannot = para.split("A check that cannot run", 1)
    keys = [m.group(1).replace("\\", "") for m in
            re.finditer(r"^\.BR? ([a-z_\\]+)", report, re.M)]
    failed = re.findall(r"\\\(dq([a-z_]+)\\\(dq:", cannot)
    host = fh.Host("schema")
    host.mkfs(image)
    j = json.loads(host.famfs("fsck", "--json", image).stdout)
    assert list(j) == keys
    p = host.famfs("fsck", "--json", str(tmp_path / "missing"), check=False)
    assert p.returncode == 1 and list(json.loads(p.stdout)) == failed


def test_mount_helper_page_matches_famfs_mount():
    """Every option the helper translates is documented, and every famfs mount flag it emits
    exists in famfs mount --help."""
    src = open(os.path.join(fh.SOURCE_DIR, "packaging", "mount", "mount.famfs.in")).read()
    src = src[src.index("# Translate the famfs -o options"):]
    text = render("mount.famfs.8")
    opts = re.findall(r"^\s+([a-z_]+)(?:=\*)?\)", src, re.M)
    assert {"ro", "rw", "refresh_ms", "system_uuid_file", "allow_other", "timeout"} <= set(opts)
    for o in opts:
        assert word_in(o, text), o
    emitted = set(re.findall(r'set -- "\$@" (--?[\w-]+)', src)) | {"--read-only"}
    famfs_help()
    mount_flags = help_flags(famfs_sub_help("mount"))
    assert emitted <= mount_flags, emitted - mount_flags


# ---- bash completion ---------------------------------------------------------------------

def complete(cmd, words, script):
    """COMPREPLY of the completion function for `words` (last word = the one completed)."""
    prog = r"""
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
compopt() { :; }
fn=$(complete -p "${COMP_WORDS[0]}" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""
    r = subprocess.run(["bash", "-c", prog, "bash", script, cmd] + words, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_famfs_completion_offers_subcommands_and_flags():
    top = famfs_help()
    script = os.path.join(COMP_DIR, "famfs")
    subs = subcommands(top)
    got = complete("famfs", [""], script)
    assert sorted(subs) == sorted(got), (subs, got)
    assert complete("famfs", ["mo"], script) == ["mount"]
    missing = []
    stale = []
    for sub in subs:
        offered = set(complete("famfs", [sub, "-"], script))
        have_flags = help_flags(famfs_sub_help(sub))
        for f in have_flags:
            if f not in offered:
                missing.append("famfs %s %s" % (sub, f))
        stale += ["famfs %s %s" % (sub, f) for f in offered - have_flags]
    assert not missing, "completion lacks: " + ", ".join(missing)
    assert not stale, "completion offers unknown flags: " + ", ".join(stale)


def test_famfs_completion_arguments(tmp_path):
    famfs_help()
    script = os.path.join(COMP_DIR, "famfs")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.img").write_text("")
    p = str(tmp_path) + "/"
    got = complete("famfs", ["mount", p], script)
    assert p + "file.img" in got and p + "dir" in got
    got = complete("famfs", ["mount", "--read-only", p + "file.img", p], script)
    assert got == [p + "dir"]          # the mount point: directories only
    got = complete("famfs", ["mkdir", p], script)
    assert got == [p + "dir"]


def test_famfs_completion_offers_mount_points(master):
    """umount/status/fsck/logplay offer the famfs mount points of /proc/mounts (the caller's
    IFS=$'\\n' must not stop /proc/mounts from splitting into fields)."""
    script = os.path.join(COMP_DIR, "famfs")
    mpt = master.mpt
    for sub in ["umount", "status", "fsck", "logplay"]:
        got = complete("famfs", [sub, mpt[:-2]], script)
        assert mpt in got, (sub, got)
        got = complete("famfs", [sub, ""], script)
        assert mpt in got, (sub, got)
    # a flag before the argument changes nothing
    assert mpt in complete("famfs", ["umount", "-l", mpt[:5]], script)


def _complete_with_dax(cmd, words, script):
    """complete() in a private mount namespace whose /dev is a tmpfs with two dax character
    devices (and a dax-named regular file), so no real /dev/dax is needed or touched."""
    setup = ("mount -t tmpfs wt-famfs-comp /dev && ln -s /proc/self/fd /dev/fd && "
             "mknod /dev/null c 1 3 && mknod /dev/dax7.0 c 1 3 && "
             "mknod /dev/dax7.1 c 1 3 && : > /dev/daxnot-a-device && exec \"$@\"")
    prog = r"""
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
compopt() { :; }
fn=$(complete -p "${COMP_WORDS[0]}" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is needed for this test")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh",
                        "bash", "-c", prog, "bash", script, cmd] + words,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_completion_offers_dax_devices():
    famfs = os.path.join(COMP_DIR, "famfs")
    mkfs = os.path.join(COMP_DIR, "mkfs.famfs")
    got = _complete_with_dax("famfs", ["mount", ""], famfs)
    assert got[:2] == ["/dev/dax7.0", "/dev/dax7.1"], got
    got = _complete_with_dax("famfs", ["mount", "/dev/da"], famfs)
    assert got[:2] == ["/dev/dax7.0", "/dev/dax7.1"], got
    # the regular file comes only from the file completion, after the devices
    assert got.count("/dev/daxnot-a-device") == 1, got
    got = _complete_with_dax("famfs", ["fsck", "/dev/dax7"], famfs)
    assert got[:2] == ["/dev/dax7.0", "/dev/dax7.1"], got
    got = _complete_with_dax("mkfs.famfs", ["-f", "/dev/dax"], mkfs)
    assert got[:2] == ["/dev/dax7.0", "/dev/dax7.1"], got
    assert got.count("/dev/daxnot-a-device") == 1, got


def test_mkfs_completion_offers_flags(tmp_path):
    if not have(fh.mkfs_bin()):
        pytest.skip("mkfs.famfs is not built")
    script = os.path.join(COMP_DIR, "mkfs.famfs")
    offered = set(complete("mkfs.famfs", ["-"], script))
    flags = help_flags(_run_help([fh.mkfs_bin(), "--help"]))
    assert flags == offered, (flags - offered, offered - flags)
    (tmp_path / "a.img").write_text("")
    assert complete("mkfs.famfs", [str(tmp_path) + "/a"], script) == [str(tmp_path) + "/a.img"]
    assert complete("mkfs.famfs", ["-l", ""], script) == []


def test_libfamfs_page_matches_the_header():
    """libfamfs(3) names every public function and FAMFS_E* code of famfs.h, and no code
    the header does not define."""
    header = os.path.join(fh.SOURCE_DIR, "src", "lib", "famfs.h")
    if not os.path.exists(header):
        pytest.skip("src/lib/famfs.h not there")
    h = open(header).read()
    funcs = set(re.findall(r"^FAMFS_API\s+[\w\s\*]*?\b(famfs_\w+)\s*\(", h, re.M))
    codes = set(re.findall(r"^#define\s+(FAMFS_E\w+)\s", h, re.M))
    assert "famfs_mmap" in funcs and codes, (funcs, codes)
    text = render("libfamfs.3")
    missing = sorted(n for n in funcs | codes if not word_in(n, text))
    assert not missing, "libfamfs(3) lacks: %s" % missing
    stale = sorted(set(re.findall(r"\bFAMFS_E[A-Z]+\b", text)) - codes)
    assert not stale, "libfamfs(3) names codes famfs.h lacks: %s" % stale
    stale = sorted(set(re.findall(r"\b(famfs_[a-z_]+)\(", text)) - funcs)
    assert not stale, "libfamfs(3) names functions famfs.h lacks: %s" % stale
