"""Build the ``rtsep.lv2`` bundle from source (system C compiler, Debian's ``lv2-dev``).

The bundle is ``rtsep.lv2/`` with ``manifest.ttl``, ``rtsep.ttl`` and the shared object
``rtsep_lv2.so``, compiled from ``lv2/rtsep_lv2.c`` beside this module. Install it into
``~/.lv2`` (:func:`build_bundle` with :data:`USER_LV2_DIR`: ``rtsep bridge
--install-plugin``) or anywhere on ``LV2_PATH``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rtsep.errors import ConfigError

SOURCE_DIR = Path(__file__).resolve().parent / "lv2"
BUNDLE = "rtsep.lv2"
USER_LV2_DIR = Path.home() / ".lv2"
CFLAGS = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-std=c11", "-fvisibility=hidden")


def compiler() -> str | None:
    """The C compiler to use (``$CC``, ``cc`` or ``gcc``), or None when there is none."""
    import os

    for cand in (os.environ.get("CC"), "cc", "gcc"):
        if cand and shutil.which(cand):
            return cand
    return None


def missing_build_tools() -> list[str]:
    """What building the plugin needs and this machine lacks (empty: it can build)."""
    missing = [] if compiler() else ["a C compiler"]
    if not Path("/usr/include/lv2/core/lv2.h").exists() and not Path(
            "/usr/include/lv2.h").exists():
        missing.append("the LV2 headers")
    return missing


def build_bundle(dest_dir) -> Path:
    """Compile and lay out the bundle in ``dest_dir/rtsep.lv2``; returns its path.

    Raises
    ------
    ConfigError
        No compiler, no LV2 headers, or the compiler failed (its message included).
    """
    missing = missing_build_tools()
    if missing:
        raise ConfigError(f"cannot build the LV2 plugin: {' and '.join(missing)} missing; "
                          "install them (Debian/Ubuntu: apt-get install gcc libc6-dev lv2-dev)")
    cc = compiler()
    bundle = Path(dest_dir) / BUNDLE
    bundle.mkdir(parents=True, exist_ok=True)
    tmp = bundle / "rtsep_lv2.so.tmp"
    cmd = [cc, *CFLAGS, "-o", str(tmp), str(SOURCE_DIR / "rtsep_lv2.c"), "-lm", "-lrt"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ConfigError(f"building the LV2 plugin failed ({' '.join(cmd)}):\n{res.stderr}")
    tmp.replace(bundle / "rtsep_lv2.so")
    for name in ("manifest.ttl", "rtsep.ttl"):
        shutil.copyfile(SOURCE_DIR / name, bundle / name)
    return bundle


__all__ = ["BUNDLE", "USER_LV2_DIR", "build_bundle", "compiler", "missing_build_tools"]
