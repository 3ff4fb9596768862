"""rtsep.io.jsonio: JSON read with errors for people, written atomically."""

import dataclasses
import json
import math

import pytest

from rtsep.errors import ConfigError
from rtsep.io.jsonio import check_fields, read_json, write_json_atomic


def test_write_then_read(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "a.json", {"b": 1, "a": [1.5, math.nan]})
    assert path.read_text().endswith("\n")
    got = read_json(path, "test file")
    assert got["b"] == 1 and math.isnan(got["a"][1])
    write_json_atomic(path, {"b": 2, "a": 1}, indent=None)
    assert path.read_text() == '{"a": 1, "b": 2}\n'  # one line, sorted keys
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="test file .* not found"):
        read_json(tmp_path / "nope.json", "test file")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ConfigError, match="not readable JSON"):
        read_json(bad, "test file")


def test_check_fields():
    @dataclasses.dataclass
    class C:
        x: int = 0
        y: int = 0

    assert check_fields(json.loads('{"x": 1}'), C, "c") == ["x", "y"]
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['z'\]; allowed: \['x', 'y'\]"):
        check_fields({"z": 1}, C, "c")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        check_fields([1], C, "c")
