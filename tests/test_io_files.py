"""rtsep.io.files: the one atomic write (files and folders)."""

from __future__ import annotations

import os
import stat

import pytest

from rtsep.io.files import atomic_path, umask_mode, write_text_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_file_is_renamed_into_place_with_umask_mode(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".a.txt.tmp-")
        assert not target.exists()
        tmp.write_text("one")
    assert target.read_text() == "one"
    assert _mode(target) == umask_mode(0o666)
    write_text_atomic(target, "two")  # replaces
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_folder_replaces_an_existing_one_whole(tmp_path):
    target = tmp_path / "track"
    target.mkdir()
    (target / "stale.wav").write_text("x")
    with atomic_path(target, folder=True) as tmp:
        assert tmp.is_dir() and f".track.tmp-{os.getpid()}-" in tmp.name
        (tmp / "vocals.wav").write_text("v")
    assert [p.name for p in target.iterdir()] == ["vocals.wav"]
    assert _mode(target) == umask_mode(0o777)
    assert [p.name for p in tmp_path.iterdir()] == ["track"]
    with atomic_path(target, folder=True, mode=0o755):
        pass
    assert _mode(target) == 0o755 and not any(target.iterdir())


def test_folder_failure_keeps_the_old_folder(tmp_path):
    target = tmp_path / "track"
    target.mkdir()
    (target / "old.wav").write_text("x")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, folder=True) as tmp:
            (tmp / "new.wav").write_text("y")
            raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == ["old.wav"]
    assert [p.name for p in tmp_path.iterdir()] == ["track"]
