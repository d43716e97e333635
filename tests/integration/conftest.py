"""pytest fixtures for famfs integration tests (see famfs_harness for the API).

Fixtures
  image    fresh 4 GiB sparse image in /dev/shm, removed at teardown (not formatted)
  master   Host that ran mkfs.famfs on `image` and mounted it: master.mpt is the mount point
  client   a second Host mounting the same image (after master): client.mpt
  fixture_upstream   (image, manifest_text) of ../shared/fixtures/upstream-basic, extracted

Every mount made through Host.mount is unmounted (and its daemon stopped) when the test
ends, and again by a session finaliser, even when the test fails.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import famfs_harness as fh  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _famfs_session_cleanup():
    yield
    fh.cleanup_all()


def _cleanup_host(host):
    for mpt in list(host.mounts):
        try:
            fh.cleanup_mount(mpt)
        except Exception:
            pass


@pytest.fixture
def image():
    path = fh.make_image()
    yield path
    fh.remove_image(path)


@pytest.fixture
def master(image):
    h = fh.Host("master")
    try:
        h.mkfs(image)
        h.mpt = h.mount(image)
        h.image = image
        yield h
    finally:
        _cleanup_host(h)


@pytest.fixture
def client(master):
    h = fh.Host("client")
    try:
        h.mpt = h.mount(master.image)
        h.image = master.image
        yield h
    finally:
        _cleanup_host(h)


@pytest.fixture
def fixture_upstream():
    image, manifest = fh.extract_fixture("upstream-basic")
    yield image, manifest
    fh.remove_image(image)
