"""Issue 8 defect 12, master side: an entry the master already applied that another host
rewrites (valid seqnum and CRC, different content) makes the applied prefix differ from the
device. A fresh command's own replay reads only the new bytes, so it must not allocate from
them: the master refuses to allocate until the log is as applied again."""

import os

import famfs_harness as fh
import test_cli_device_omf as omf
from test_cli_master_util import next_index


def test_creat_refuses_while_an_applied_entry_changed(master):
    mpt, image = master.mpt, master.image
    master.famfs("mkdir", os.path.join(mpt, "keep"))
    master.famfs("mkdir", os.path.join(mpt, "x"))
    slot = next_index(image) - 1
    saved = omf.read_at(image, omf.slot_offset(slot), omf.ENTRY_SIZE)
    omf.write_at(image, omf.slot_offset(slot), omf.mkdir_entry(slot, "other"))
    try:
        # The master's daemon notices the change (its rolling re-check of applied entries).
        assert fh.wait_for(lambda: fh.status(mpt)["damaged"] is True, timeout=15)
        n = next_index(image)
        p = master.famfs("creat", "-s", "4k", os.path.join(mpt, "y"), check=False)
        assert p.returncode != 0, p.stdout + p.stderr
        assert "log entry %d" % slot in p.stderr, p.stderr
        assert "famfs fsck" in p.stderr, p.stderr
        assert next_index(image) == n          # nothing appended
        assert not os.path.exists(os.path.join(mpt, "y"))
    finally:
        omf.write_at(image, omf.slot_offset(slot), saved)
    # As applied again: the master allocates again.
    assert fh.wait_for(lambda: fh.status(mpt)["damaged"] is False, timeout=15)
    master.famfs("creat", "-s", "4k", os.path.join(mpt, "y"))
    assert os.path.getsize(os.path.join(mpt, "y")) == 4096
