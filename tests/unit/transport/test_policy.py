"""The control-socket directory is private: ours, 0700, not a symlink, else a fresh one (M2)."""
import logging
import os
import shutil
import stat
import tempfile

import pytest

from drupgrade import i18n
from drupgrade.transport import policy


@pytest.fixture
def tmpdir_base(monkeypatch):
    """A short private TMPDIR for gettempdir() (socket paths must stay short)."""
    base = tempfile.mkdtemp(prefix="dcd-")
    monkeypatch.setattr(tempfile, "tempdir", base)
    i18n.set_lang("en")
    yield base
    shutil.rmtree(base)


def expected(base):
    return os.path.join(base, "drupgrade-cm-%d" % os.geteuid())


def assert_private(path):
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700


def test_made_private_when_missing_even_under_a_loose_umask(tmpdir_base):
    old = os.umask(0o022)
    try:
        path = policy.default_control_dir()
    finally:
        os.umask(old)
    assert path == expected(tmpdir_base)
    assert_private(path)
    assert policy.default_control_dir() == path  # the second command uses it again


def test_foreign_owned_dir_is_not_used(tmpdir_base, caplog):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    planted = expected(tmpdir_base)
    os.mkdir(planted, 0o700)
    os.chown(planted, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        path = policy.default_control_dir()
    assert path != planted and os.path.dirname(path) == tmpdir_base
    assert_private(path)
    assert os.stat(planted).st_uid == 65534  # left alone, not chmodded into "ours"
    assert "owned by uid 65534" in caplog.text and planted in caplog.text


def test_symlink_is_not_followed(tmpdir_base, caplog):
    target = os.path.join(tmpdir_base, "elsewhere")
    os.mkdir(target, 0o700)
    os.symlink(target, expected(tmpdir_base))
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        path = policy.default_control_dir()
    assert path not in (expected(tmpdir_base), target)
    assert_private(path)
    assert "symbolic link" in caplog.text


def test_world_writable_dir_is_not_used(tmpdir_base, caplog):
    planted = expected(tmpdir_base)
    os.mkdir(planted)
    os.chmod(planted, 0o777)
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        path = policy.default_control_dir()
    assert path != planted
    assert_private(path)
    assert stat.S_IMODE(os.stat(planted).st_mode) == 0o777
    assert "0777" in caplog.text


def test_a_file_in_its_place_is_not_used(tmpdir_base):
    open(expected(tmpdir_base), "w").close()
    path = policy.default_control_dir()
    assert path != expected(tmpdir_base)
    assert_private(path)
