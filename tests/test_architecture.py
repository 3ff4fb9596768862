"""The package's layering, read from the source: every ``import`` of an rtsep module,
at the top of a file or inside a function, goes one way (see ``rtsep/__init__.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rtsep"

ALLOWED = {
    # stage: the stages its modules may import (besides itself, constants, errors, rtsep)
    "io": set(),
    "dsp": set(),
    "engine": {"dsp"},
    "nn": {"io"},
    "runtime": {"io", "dsp", "engine", "nn"},
    "live": {"io", "dsp", "engine", "runtime"},
    "evaluate": {"io", "dsp", "engine", "runtime"},
    "training": {"io", "dsp", "engine", "runtime", "nn", "evaluate"},
    "bridge": {"io", "dsp", "engine", "runtime", "live"},
    "cli": {"io", "dsp", "engine", "runtime", "nn", "live", "bridge", "evaluate", "training"},
}
BASE = {"rtsep", "constants", "errors"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(p for p in rel.parts if p != "__init__"), path


def _imports(path: Path) -> set[str]:
    """The rtsep modules a file imports (``from rtsep.x import y`` counts as rtsep.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "rtsep")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "rtsep":
                found.add(node.module)
                if node.module == "rtsep":
                    found.update(f"rtsep.{a.name}" for a in node.names)
    return found


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rtsep"


MODULES = list(_modules())


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_go_one_way(module, path):
    stage = _stage(module)
    if stage not in ALLOWED:
        return  # constants, errors, the package itself, __main__
    allowed = ALLOWED[stage] | BASE | {stage}
    bad = sorted(m for m in _imports(path) if _stage(m) not in allowed and m != "rtsep.__version__")
    assert not bad, f"{module} ({stage}/) imports {bad}; {stage}/ may import {sorted(allowed)}"


def test_the_numba_kernels_stay_inside_dsp_and_engine():
    users = sorted(m for m, path in MODULES
                   if "rtsep.dsp.kernels" in _imports(path)
                   or ("rtsep.dsp" in _imports(path) and "kernels" in path.read_text()))
    assert all(_stage(m) in ("dsp", "engine") for m in users), users


def test_live_never_imports_nn_and_training_never_imports_live():
    for module, path in MODULES:
        stages = {_stage(m) for m in _imports(path)}
        if _stage(module) == "live":
            assert "nn" not in stages, module
        if _stage(module) == "training":
            assert "live" not in stages, module
