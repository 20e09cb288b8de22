"""One daemon per catalog: the flock on <catalog>.daemon.lock."""

import os

import pytest

from eoharvest.entrypoints.daemon_lock import DaemonAlreadyRunning, DaemonLock, holder


def test_a_second_lock_on_the_same_catalog_is_refused_with_exit_code_9(tmp_path):
    catalog = tmp_path / "c.db"
    assert holder(catalog) is None
    with DaemonLock(catalog):
        assert holder(catalog) == str(os.getpid())
        with pytest.raises(DaemonAlreadyRunning, match=f"pid {os.getpid()}") as info:
            DaemonLock(catalog).acquire()
        assert info.value.exit_code == 9
    assert holder(catalog) is None
    with DaemonLock(catalog):  # released locks can be taken again
        pass


def test_daemons_of_different_catalogs_do_not_block_each_other(tmp_path):
    with DaemonLock(tmp_path / "a.db"), DaemonLock(tmp_path / "b.db"):
        assert holder(tmp_path / "a.db") and holder(tmp_path / "b.db")


def test_the_daemon_lock_of_a_catalog_in_a_new_folder_creates_the_folder(tmp_path):
    # The daemon writes to its catalog, so like every writing command it may create the folder.
    with DaemonLock(tmp_path / "new" / "folder" / "c.db"):
        assert holder(tmp_path / "new" / "folder" / "c.db") is not None
