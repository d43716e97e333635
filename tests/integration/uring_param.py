"""The fuse module's enable_uring parameter, changed by the tests only under one lock.

The parameter is host-wide: the kernel reads it when a mount's INIT is sent and answered (it
offers FUSE-over-io_uring only while it is Y) and when the daemon registers its ring. Every
test that changes it holds LOCK (flock, shared by every checkout on this machine) and puts
the previous value back. Daemons that are not asked for the ring (transport=dev, the default,
and every other FUSE file system) ignore the offer, so a Y never changes what they do.

  available() -> bool           the parameter exists and can be written (root, kernel 6.14+)
  read() -> "Y" | "N"
  with setting("Y"): ...        hold the lock, set the value, restore the previous one
                                (under run_uring.py, which holds the lock for its whole run,
                                FAMFS_URING_LOCK_HELD=1: only set and restore)
"""

import contextlib
import fcntl
import os
import time

PARAM = "/sys/module/fuse/parameters/enable_uring"
LOCK = "/run/lock/famfs-fuse-enable-uring.lock"
LOCK_HELD_ENV = "FAMFS_URING_LOCK_HELD"
LOCK_WAIT_S = 800   # the ring run holds it while the daemon suite runs once


def available():
    return os.path.exists(PARAM) and os.access(PARAM, os.W_OK)


def read():
    with open(PARAM) as f:
        return f.read().strip()


def _write(value):
    with open(PARAM, "w") as f:
        f.write(value)


@contextlib.contextmanager
def _lock():
    if os.environ.get(LOCK_HELD_ENV) == "1":
        yield
        return
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        end = time.time() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > end:
                    raise TimeoutError("%s is held for more than %d s (a stuck ring test run?)"
                                       % (LOCK, LOCK_WAIT_S))
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def setting(value):
    with _lock():
        prev = read()
        _write(value)
        try:
            yield prev
        finally:
            _write(prev)
