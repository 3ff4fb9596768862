"""The bundled default model: loads in safe mode, drives `rtsep separate` and `rtsep eval`."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtsep.cli.main import main
from rtsep.constants import STEMS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "models" / "default"


def test_default_artifact_is_bundled_and_loads_weights_only():
    from rtsep.runtime.artifact import load_artifact

    assert (DEFAULT / "config.json").exists(), "models/default must be committed"
    art = load_artifact(DEFAULT)  # rebuilds from config.json, checks sha256, loads weights only
    from rtsep.nn.config import ARCHS

    assert art.config.arch in ARCHS
    card = (DEFAULT / "MODEL_CARD.md").read_text()
    for needle in ("parameters", "rtsep eval", "synthetic", "../shared/data/real"):
        assert needle in card, needle


@pytest.fixture(scope="module")
def two_songs(tmp_path_factory):
    """A 2-song synthetic set (seed never used for training), 8 s each."""
    from rtsep.training.synth import generate_dataset

    out = tmp_path_factory.mktemp("songs")
    generate_dataset(out, tracks=2, seconds=8, seed=31337, workers=1, progress=False)
    return out


def test_eval_default_on_two_songs(two_songs, tmp_path):
    out = tmp_path / "res.json"
    assert main(["eval", str(two_songs), "--model", "default", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert len(res["tracks"]) == 2
    # a trained model beats the mixture baseline on every stem (the mixture is the
    # worst sensible estimate; 1 dB margin)
    for s in STEMS:
        assert res["median"][s] > res["mixture_median"][s] + 1.0, (s, res["median"], res["mixture_median"])


def test_separate_with_default_model(two_songs, tmp_path):
    track = sorted(p for p in two_songs.iterdir() if p.is_dir())[0]
    mono = tmp_path / "mono.flac"
    mix, sr = sf.read(track / "mixture.wav", dtype="float32")
    sf.write(mono, mix.mean(axis=1), sr)
    assert main(["separate", str(mono), "--out", str(tmp_path / "o")]) == 0
    outs = {s: sf.read(tmp_path / "o" / "mono" / f"{s}.wav", dtype="float32")[0]
            for s in STEMS + ("instrumental",)}
    total = sum(outs[s] for s in STEMS)
    assert total.shape == (len(mix), 2)
    # stems sum to the (mono, duplicated) mixture; 1e-4 for float32 sums
    assert np.max(np.abs(total - np.repeat(mix.mean(axis=1, keepdims=True), 2, axis=1))) < 1e-4
    assert np.max(np.abs(outs["instrumental"] + outs["vocals"] - total)) < 1e-4


def test_default_model_at_48k_separates_as_at_44k():
    """The real clip through the live worker's buffers (resamplers, engine at hop 1,
    mixer) at a 48 kHz server rate: SDR within 0.2 dB of the same at 44.1 kHz."""
    real = ROOT.parent / "shared" / "data" / "real" / "music-delta-80s-rock"
    if not real.is_dir():
        pytest.skip(f"test audio missing: {real}")
    import soxr

    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.evaluate import sdr_museval
    from rtsep.io.tracks import read_track
    from rtsep.live.rate import through_worker
    from rtsep.runtime.loader import load_model

    song = read_track(real)
    stems = np.stack([song[s] for s in STEMS])
    engine = StreamingSeparator(load_model("default", batch_size=1),
                                StreamConfig(model_hop_frames=1))
    native = through_worker(engine, song["mixture"], 44100)
    x48 = soxr.resample(song["mixture"], 44100, 48000, "VHQ").astype(np.float32)
    est = through_worker(engine, x48, 48000)
    back = np.stack([soxr.resample(e, 48000, 44100, "VHQ") for e in est])[:, :stems.shape[1]]
    a, b = sdr_museval(stems, native[:4]), sdr_museval(stems, back[:4])
    for s in STEMS:
        assert abs(a[s] - b[s]) < 0.2, (s, a[s], b[s])
    assert np.mean([a[s] for s in STEMS]) > 4.0  # it separates at all
