"""famfs status: one mount, every mount of the host (no argument; --json an array, as
`daxctl list`), and --prometheus (the text exposition format, parsed by prometheus_client)."""

import json
import os

from prometheus_client.parser import text_string_to_metric_families

import famfs_harness as fh


def ours(entries, *mpts):
    """The entries of the listing that are our mounts (other tests may mount at the same time)."""
    return {e["mountpoint"]: e for e in entries if e.get("kind") == "mount" and e["mountpoint"] in mpts}


def test_status_without_argument_lists_every_mount(master, client):
    master.famfs("creat", "-s", "1m", os.path.join(master.mpt, "f1"))
    master.famfs("mkdir", os.path.join(master.mpt, "d"))
    assert fh.wait_for(lambda: os.path.exists(os.path.join(client.mpt, "d")))
    p = master.famfs("status", "--json", check=False)
    arr = json.loads(p.stdout)
    assert isinstance(arr, list)
    got = ours(arr, master.mpt, client.mpt)
    assert set(got) == {master.mpt, client.mpt}
    for mpt, host in ((master.mpt, master), (client.mpt, client)):
        e = got[mpt]
        assert "error" not in e
        single = json.loads(host.famfs("status", "--json", mpt).stdout)
        assert e["fs_uuid"] == single["fs_uuid"] and e["files"] == single["files"] == 1
        assert e["master_system_uuid"] == master.uuid
    p = master.famfs("status", check=False)
    assert "famfs status of %s\n" % master.mpt in p.stdout
    assert "famfs status of %s\n" % client.mpt in p.stdout
    # Unmounted: no longer listed.
    client.umount(client.mpt)
    arr = json.loads(master.famfs("status", "--json", check=False).stdout)
    assert set(ours(arr, master.mpt, client.mpt)) == {master.mpt}


def metrics(text):
    """{name: {mountpoint: value}} from the exposition text; HELP and TYPE seen for each."""
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.documentation and fam.type == "gauge", fam.name
        for s in fam.samples:
            assert set(s.labels) == {"mountpoint", "device"}, s
            out.setdefault(s.name, {})[s.labels["mountpoint"]] = (s.value, s.labels["device"])
    return out


def test_status_prometheus(master, client):
    m = master.mpt
    for i in range(3):
        master.famfs("creat", "-s", "2m", os.path.join(m, "p%d" % i))
    assert fh.wait_for(lambda: os.path.exists(os.path.join(client.mpt, "p2")))
    p = master.famfs("status", "--prometheus", m)
    assert "# HELP famfs_capacity_bytes " in p.stdout and "# TYPE famfs_capacity_bytes gauge" in p.stdout
    got = metrics(p.stdout)
    st = json.loads(master.famfs("status", "--json", m).stdout)
    want = {"famfs_up": 1, "famfs_capacity_bytes": st["capacity_bytes"],
            "famfs_free_bytes": st["free_bytes"], "famfs_log_entries_used": st["entries_used"],
            "famfs_log_entries_total": st["entries_total"], "famfs_files": 3,
            "famfs_skipped_entries": 0, "famfs_collisions": 0, "famfs_log_damaged": 0}
    for name, value in want.items():
        assert got[name] == {m: (value, st["device"])}, name
    assert got["famfs_replay_lag_seconds"][m][0] >= 0
    # Without a mount point: every mount, each with its own labels.
    got = metrics(master.famfs("status", "--prometheus", check=False).stdout)
    assert got["famfs_files"][m][0] == 3 and got["famfs_files"][client.mpt][0] == 3
    assert got["famfs_log_entries_used"][client.mpt][0] == st["entries_used"]
    p = master.famfs("status", "--prometheus", "--json", m, check=False)
    assert p.returncode != 0 and "--json" in p.stderr + p.stdout


def test_status_prometheus_label_escaping(master, tmp_path):
    """A mount point with a quote and a backslash stays one parseable label value."""
    odd = os.path.join(str(tmp_path), 'we"ird\\mnt')
    os.makedirs(odd)
    image = fh.make_image(prefix="famfs-img-status-")
    try:
        master.mkfs(image)
        master.mount(image, odd)
        try:
            got = metrics(master.famfs("status", "--prometheus", odd).stdout)
            assert list(got["famfs_up"]) == [odd]
        finally:
            master.umount(odd)
    finally:
        fh.remove_image(image)
