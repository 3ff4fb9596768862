"""Atomic writes: the one place a file or folder is written beside its target under a
hidden temporary name and renamed into place, so a reader never sees it half written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".tmp-"
"""Temporary entries are named ``.NAME.tmp-PID-XXXXXXXX`` (hidden, with the writer's
process id, so a cleaner can tell a dead writer's leftovers from a live one's)."""


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the user's umask would leave it (temporary files are private).

    Parameters
    ----------
    mode : int
        Permission bits before the umask, e.g. ``0o666`` for a file, ``0o777`` for a folder.

    Returns
    -------
    int
        ``mode & ~umask``.
    """
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}{TMP_MARK}{os.getpid()}-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, folder: bool = False,
                mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; rename it onto ``path`` when the
    block ends without an exception, delete it otherwise.

    Parameters
    ----------
    path : str or os.PathLike
        The final file or folder. Its parent is created if missing. An existing entry at
        ``path`` is replaced (a folder is swapped out, then deleted).
    folder : bool
        Yield an (empty) temporary folder instead of a temporary file name.
    mode : int, optional
        Permission bits given before the rename; by default ``0o666`` (file) or ``0o777``
        (folder) as the umask leaves them (``mkstemp``/``mkdtemp`` make private entries).

    Yields
    ------
    pathlib.Path
        The temporary path, ``.NAME.tmp-PID-XXXXXXXX`` in the same folder as ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=_tmp_prefix(path), dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, umask_mode(0o777 if folder else 0o666) if mode is None else mode)
        if folder and path.is_dir() and not path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
            os.rename(path, old / "old")
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
