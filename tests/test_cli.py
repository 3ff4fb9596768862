"""Command line: separate/eval with the oracle on the real clip, bad input, --help."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtsep.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
TRACK = REAL / "music-delta-80s-rock"
needs_real = pytest.mark.skipif(not TRACK.exists(), reason=f"test audio missing: {TRACK} (see shared/data/README.md)")


def test_help_is_instant_and_imports_no_tensorflow():
    code = ("import sys; from rtsep.cli.main import build_parser; build_parser().format_help(); "
            "assert 'tensorflow' not in sys.modules and 'jack' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
    r = subprocess.run([sys.executable, "-m", "rtsep", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "separate" in r.stdout and "eval" in r.stdout


@needs_real
def test_eval_oracle_reaches_the_bound(tmp_path, capsys):
    """Oracle through this engine on the real clip: mean SDR >= 10.9 dB (measured
    outside the project: 11.10 dB for the magnitude ratio mask); baseline -5.18 dB."""
    out = tmp_path / "oracle.json"
    assert main(["eval", str(REAL), "--model", "oracle", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["tracks"]) == {"music-delta-80s-rock"}
    assert res["median"]["mean"] >= 10.9
    assert res["mixture_median"]["mean"] == pytest.approx(-5.18, abs=0.02)
    for s in ("vocals", "drums", "bass", "other"):
        assert res["median"][s] > res["mixture_median"][s] + 10
    assert "mixture" in capsys.readouterr().out
    assert res["stream_config"] == {"lookahead_frames": 64, "model_hop_frames": 64,
                                    "high_band": "average", "mask_power": 1.0}
    # --mask-power reaches the engine: power masks give other figures (same baseline)
    assert main(["eval", str(REAL), "--model", "oracle", "--mask-power", "2", "--json", str(out)]) == 0
    res2 = json.loads(out.read_text())
    assert res2["stream_config"]["mask_power"] == 2.0
    assert abs(res2["median"]["mean"] - res["median"]["mean"]) > 0.01
    assert res2["mixture_median"] == res["mixture_median"]


@needs_real
def test_separate_oracle_writes_stems_that_sum_to_mixture(tmp_path):
    assert main(["separate", str(TRACK), "--model", "oracle", "--out", str(tmp_path)]) == 0
    folder = tmp_path / TRACK.name
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{s}.wav" for s in ("vocals", "drums", "bass", "other", "instrumental"))
    stems = [sf.read(folder / f"{s}.wav", dtype="float32")[0] for s in ("vocals", "drums", "bass", "other")]
    mix = sum(sf.read(TRACK / f"{s}.flac", dtype="float32")[0] for s in ("vocals", "drums", "bass", "other"))
    assert np.max(np.abs(sum(stems) - mix)) < 1e-4
    inst = sf.read(folder / "instrumental.wav", dtype="float32")[0]
    assert np.max(np.abs(inst + stems[0] - mix)) < 1e-4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def _run(args):
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True)


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage")
    empty = tmp_path / "empty"
    empty.mkdir()
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full((1000, 2), np.nan, np.float32), 44100, subtype="FLOAT")
    cases = [
        (["separate", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "o")], "no such file"),
        (["separate", str(corrupt), "--out", str(tmp_path / "o")], "cannot read audio"),
        (["separate", str(nan), "--out", str(tmp_path / "o")], "NaN"),
        (["separate", str(corrupt.with_name("x.wav")), "--model", "oracle", "--out", str(tmp_path / "o")],
         "no such file"),
        (["eval", str(empty), "--model", "oracle"], "no track folders"),
        (["eval", str(tmp_path / "nowhere"), "--model", "oracle"], "no such folder"),
        (["eval", str(empty), "--model", "oracle", "--mask-power", "0"], "mask_power must be > 0"),
    ]
    for args, needle in cases:
        r = _run(args)
        assert r.returncode == 2, (args, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and needle in lines[0], (args, r.stderr)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_oracle_needs_a_track_folder(tmp_path):
    wav = tmp_path / "song.wav"
    sf.write(wav, np.zeros((4096, 2), np.float32), 44100)
    r = _run(["separate", str(wav), "--model", "oracle", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "track folders" in r.stderr


@pytest.fixture(scope="module")
def tiny_stream_artifact(tmp_path_factory):
    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact

    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    return save_artifact(tmp_path_factory.mktemp("art") / "tiny-stream", build_model(cfg), cfg)


def test_streaming_model_offline_defaults_and_vocal_leakage(tiny_stream_artifact, tmp_path):
    """A streaming (causal) model separates and evaluates with its own offline default
    (no look-ahead, which it would refuse); --vocal-leakage scores music without vocals
    from accompaniment and full tracks."""
    from stems import write_track

    rng = np.random.default_rng(3)
    n = 3 * 44100
    stems = {s: (0.1 * rng.standard_normal((n, 2))).astype(np.float32)
             for s in ("vocals", "drums", "bass", "other")}
    data = tmp_path / "data"
    write_track(data / "full", stems)
    write_track(data / "acc", {"vocals": stems["vocals"],
                               "accompaniment": stems["drums"] + stems["bass"]})
    art = str(tiny_stream_artifact)
    out = tmp_path / "eval.json"
    assert main(["eval", str(data), "--model", art, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["tracks"]) == {"full"}  # SDR needs every stem
    assert res["stream_config"]["lookahead_frames"] == 0
    assert main(["eval", str(data), "--model", art, "--vocal-leakage", "--json", str(out)]) == 0
    leak = json.loads(out.read_text())
    assert set(leak["tracks"]) == {"full", "acc"}
    assert all(-60 < v < 20 for v in leak["tracks"].values()), leak
    assert leak["median_db"] == pytest.approx(float(np.median(list(leak["tracks"].values()))))
    sf.write(tmp_path / "song.wav", stems["drums"], 44100)
    assert main(["separate", str(tmp_path / "song.wav"), "--model", art, "--out",
                 str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "song" / "vocals.wav").is_file()
    r = _run(["eval", str(data), "--model", art, "--lookahead", "4"])
    assert r.returncode == 2 and "look-ahead" in r.stderr


def test_vocal_leakage_db():
    from rtsep.evaluate import vocal_leakage_db

    x = np.ones((100, 2), np.float32)
    assert vocal_leakage_db(0.1 * x, x) == pytest.approx(-20.0)
    assert vocal_leakage_db(0 * x, x) == float("-inf")
    assert np.isnan(vocal_leakage_db(x, 0 * x))
