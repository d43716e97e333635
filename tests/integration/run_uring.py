#!/usr/bin/python3
"""Run the whole daemon suite once with the FUSE-over-io_uring transport.

Holds the enable_uring lock (uring_param.py) for the run, sets the fuse module parameter to Y,
and runs test_daemon_*.py with FAMFS_TRANSPORT=uring (every famfs-fused the tests start asks
for the ring) and FAMFS_TEST_EXPECT_TRANSPORT=uring (the harness fails a mount whose daemon
does not serve through the ring). The parameter's previous value is put back at the end, also
when the run is interrupted or times out (SIGTERM). Exit 77 (skipped) where the kernel has no
such parameter or it cannot be written (not root).
"""

import glob
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import uring_param  # noqa: E402


def main():
    if not uring_param.available():
        print("skipped: %s is missing or not writable (needs root and a kernel with "
              "CONFIG_FUSE_IO_URING, 6.14+)" % uring_param.PARAM)
        return 77
    files = sorted(glob.glob(os.path.join(HERE, "test_daemon_*.py")))
    env = dict(os.environ, FAMFS_TRANSPORT="uring", FAMFS_TEST_EXPECT_TRANSPORT="uring")
    env[uring_param.LOCK_HELD_ENV] = "1"
    child = None

    def on_term(signum, frame):
        if child and child.poll() is None:
            child.terminate()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    with uring_param.setting("Y") as prev:
        print("enable_uring: %s -> Y for this run" % prev, flush=True)
        child = subprocess.Popen(["/usr/bin/python3", "-m", "pytest", "-q", "-p",
                                  "no:cacheprovider"] + files, cwd=HERE, env=env)
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()


if __name__ == "__main__":
    sys.exit(main())
