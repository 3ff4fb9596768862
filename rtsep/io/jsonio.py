"""JSON files: read with errors for people, write atomically (temporary file + rename)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from rtsep.errors import ConfigError
from rtsep.io.files import atomic_path


def read_json(path, what: str) -> Any:
    """Parse the JSON file ``path``; ``what`` names it in errors ("model config file").

    Raises ConfigError when the file is missing or is not readable JSON.
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(p)!r} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} {str(p)!r} is not readable JSON: {exc}") from None


def check_fields(d: Any, cls, where: str) -> list[str]:
    """Check that ``d`` is a JSON object whose keys are all fields of the dataclass
    ``cls``; return the field names. ``where`` names the config in errors.

    Raises ConfigError (not an object, or unknown keys, listing the allowed ones).
    """
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {names}")
    return names


def write_json_atomic(path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (and a final newline) through :func:`rtsep.io.files.atomic_path`,
    so a reader never sees a half-written file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder is created if missing.
    obj : JSON-able
        NaN and infinities are written as ``NaN``/``Infinity``.
    indent : int or None
        Indentation; ``None`` writes one line with sorted keys.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=indent, sort_keys=indent is None, allow_nan=True)
            fh.write("\n")
    return Path(path)
