"""Tests of the synthetic song generator (``rtsep synth``, :mod:`rtsep.training.synth`).

They render real songs with the real tools (FluidSynth, espeak-ng, WORLD,
sonic-pi samples), kept short (6-7 s) so the file runs in well under a minute
on 2 cores. Without the Debian packages the tests are skipped with the reason;
set ``RTSEP_REQUIRE_SYNTH=1`` (as CI does) to make that a failure instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import shutil

import numpy as np
import pytest
import soundfile as sf

from rtsep.cli.main import main
from rtsep.constants import SAMPLE_RATE, STEMS
from rtsep.errors import EXIT_USAGE
from synth_needs import need_synth  # tests/synth_needs.py

SEED = 5
SECONDS = 7.0
N_TRACKS = 3
PEAK_LIMIT = 10 ** (-1 / 20)  # -1 dBFS, the loudest any song may peak
WINDOW = SAMPLE_RATE  # per-second RMS windows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Three 7-s songs written by the CLI with two workers."""
    need_synth()
    out = tmp_path_factory.mktemp("synth") / "ds"
    rc = main(["synth", "--out", str(out), "--tracks", str(N_TRACKS), "--seconds", str(SECONDS),
               "--seed", str(SEED), "--workers", "2", "--quiet"])
    assert rc == 0
    return out


def _read(folder: Path) -> dict[str, np.ndarray]:
    return {k: sf.read(folder / f"{k}.wav", dtype="int16")[0] for k in STEMS + ("mixture",)}


def _tracks(dataset: Path) -> list[Path]:
    return sorted(p for p in dataset.iterdir() if p.is_dir())


def _window_rms_db(x: np.ndarray) -> np.ndarray:
    """Per-second RMS in dBFS of int16 (n, 2) audio."""
    v = x.astype(np.float64) / 32768.0
    n = len(v) // WINDOW
    e = np.mean(v[: n * WINDOW].reshape(n, WINDOW, 2) ** 2, axis=(1, 2))
    return 10 * np.log10(e + 1e-20)


def test_cli_writes_musdb_layout_and_manifest(dataset):
    tracks = _tracks(dataset)
    assert [p.name for p in tracks] == [f"synth-{SEED}-{i:05d}" for i in range(N_TRACKS)]
    for folder in tracks:
        for name in STEMS + ("mixture",):
            info = sf.info(folder / f"{name}.wav")
            assert info.samplerate == SAMPLE_RATE and info.channels == 2
            assert info.frames == round(SECONDS * SAMPLE_RATE)
            assert info.subtype == "PCM_16"
    # nothing half-written left behind
    assert not [p for p in dataset.iterdir() if p.name.startswith(".")]
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["seconds"] == SECONDS
    assert [t["name"] for t in manifest["tracks"]] == [p.name for p in tracks]
    for t in manifest["tracks"]:
        assert 70 <= t["tempo_bpm"] <= 170
        assert t["style"] and t["key"] and t["form"] and t["parts"]
        assert t["vocals"]["words"], "every song has sung words"


def test_mixture_is_exact_sum_of_stems(dataset):
    for folder in _tracks(dataset):
        a = _read(folder)
        total = sum(a[s].astype(np.int32) for s in STEMS)
        # tolerance: zero, in 16-bit integer units
        assert np.array_equal(total, a["mixture"].astype(np.int32))


def test_no_sample_beyond_full_scale(dataset):
    for folder in _tracks(dataset):
        for name, x in _read(folder).items():
            peak = np.abs(x.astype(np.int32)).max() / 32768.0
            # -1 dBFS plus 2 LSB of rounding
            assert peak <= PEAK_LIMIT + 2 / 32768.0, (folder.name, name, peak)


def test_every_stem_sounds_and_resting_sections_exist(dataset):
    loud = {s: False for s in STEMS}
    rests = []
    for folder in _tracks(dataset):
        a = _read(folder)
        mix_db = _window_rms_db(a["mixture"])
        for s in STEMS:
            db = _window_rms_db(a[s])
            if db.max() > -40.0:  # clearly audible somewhere
                loud[s] = True
            # a second where this stem rests (60 dB below its loudest second,
            # reverb tails included) while the song plays on
            rest = (db < db.max() - 60.0) & (mix_db > -45.0)
            if rest.any():
                rests.append((folder.name, s))
    assert all(loud.values()), loud
    assert rests, "no song has a section where a stem rests"


def test_same_seed_same_audio_bit_for_bit(dataset):
    from rtsep.training.synth import render_song

    # rendered here, in this process, vs by a worker process of the CLI run
    a = render_song(SEED, 1, SECONDS)
    files = _read(_tracks(dataset)[1])
    for k in STEMS + ("mixture",):
        assert a[k].dtype == np.float32 and a[k].shape == (round(SECONDS * SAMPLE_RATE), 2)
        assert np.array_equal((a[k] * 32768).astype(np.int16), files[k]), k
    # exact sum in float32 too (every value is a multiple of 2**-15)
    assert np.array_equal(a["vocals"] + a["drums"] + a["bass"] + a["other"], a["mixture"])


def test_different_seeds_give_different_songs():
    need_synth()
    from rtsep.training.synth import compose_song, render_song

    a = render_song(11, 0, 6.0)["mixture"]
    b = render_song(12, 0, 6.0)["mixture"]
    corr = np.corrcoef(a[:, 0], b[:, 0])[0, 1]
    assert abs(corr) < 0.3, corr
    plans = [compose_song(seed, i, 30.0).manifest() for seed in range(3) for i in range(4)]
    assert len({(p["style"], p["tempo_bpm"], p["key"]) for p in plans}) == len(plans)
    tempos = [p["tempo_bpm"] for p in plans]
    assert min(tempos) >= 70 and max(tempos) <= 170


def test_rerun_reuses_complete_tracks_and_removes_stale_temp(dataset):
    before = {p: p.stat().st_mtime_ns for p in dataset.glob("*/mixture.wav")}
    # what a killed run leaves: a hidden temp folder of a process that is gone
    stale = dataset / f".synth-{SEED}-00000.tmp-4194305-x1y2"
    stale.mkdir()
    (stale / "vocals.wav").write_bytes(b"RIFF")
    rc = main(["synth", "--out", str(dataset), "--tracks", str(N_TRACKS), "--seconds", str(SECONDS),
               "--seed", str(SEED), "--quiet"])
    assert rc == 0
    assert before == {p: p.stat().st_mtime_ns for p in dataset.glob("*/mixture.wav")}
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert len(manifest["tracks"]) == N_TRACKS and all(t.get("reused") for t in manifest["tracks"])
    assert not stale.exists()


def test_song_whose_speaker_cannot_sing_is_listed_as_failed_and_the_run_goes_on(tmp_path,
                                                                               monkeypatch):
    """A singer's recorded speaker with no singable syllable anywhere fails that song
    only (it stopped a whole 'rtsep synth' run before): listed under "failed" with the
    reason, the other songs written."""
    need_synth()
    from rtsep.training.synth import compose_song, dataset, mixing
    from rtsep.training.synth.vocals import NoSingableSyllableError

    def fake_render(seed, index, seconds, *, resources=None, used=None, without=()):  # no real audio: fast
        if index == 1:
            raise NoSingableSyllableError("no singable syllable found in the recordings of x/y")
        song = compose_song(seed, index, seconds, without)
        rng = np.random.default_rng(index)
        stems = {s: (0.1 * rng.standard_normal((song.n_samples, 2))).astype(np.float32) for s in STEMS}
        return song, mixing.to_grid(stems, -1.0)

    monkeypatch.setattr(dataset, "render_song_int16", fake_render)
    out = tmp_path / "ds"
    with pytest.warns(RuntimeWarning, match=rf"synth-{SEED}-00001 not written"):
        manifest = dataset.generate_dataset(out, 3, 2.0, SEED)
    assert [t["name"] for t in manifest["tracks"]] == [f"synth-{SEED}-00000", f"synth-{SEED}-00002"]
    [failed] = manifest["failed"]
    assert failed["name"] == f"synth-{SEED}-00001" and failed["error_stems"] == ["vocals"]
    assert "no singable syllable" in failed["error"]
    assert not (out / f"synth-{SEED}-00001").exists()


def test_song_with_non_finite_audio_is_listed_as_failed_and_the_run_goes_on(tmp_path, monkeypatch,
                                                                          capsys):
    """A song whose render holds NaN is not written (it was written as silence), the
    other songs are, the manifest lists it under "failed", and a rerun retries it."""
    need_synth()
    from rtsep.training.synth import compose_song, dataset, mixing

    broken = {1}

    def fake_render(seed, index, seconds, *, resources=None, used=None, without=()):  # no real audio: fast
        song = compose_song(seed, index, seconds, without)
        rng = np.random.default_rng(index)
        stems = {s: (0.1 * rng.standard_normal((song.n_samples, 2))).astype(np.float32) for s in STEMS}
        if index in broken:
            stems["vocals"][1000:] = np.nan
        return song, mixing.to_grid(stems, -1.0)

    monkeypatch.setattr(dataset, "render_song_int16", fake_render)
    out = tmp_path / "ds"
    seen = []
    with pytest.warns(RuntimeWarning, match=rf"synth-{SEED}-00001 not written.*vocals"):
        manifest = dataset.generate_dataset(out, 3, 2.0, SEED, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    assert [t["name"] for t in manifest["tracks"]] == [f"synth-{SEED}-00000", f"synth-{SEED}-00002"]
    [failed] = manifest["failed"]
    assert failed["name"] == f"synth-{SEED}-00001" and failed["error_stems"] == ["vocals"]
    assert "non-finite" in failed["error"] and failed["style"]  # the composition, to reproduce it
    assert not (out / f"synth-{SEED}-00001").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # fixed: a rerun renders only the failed song, and it leaves "failed"
    broken.clear()
    manifest = dataset.generate_dataset(out, 3, 2.0, SEED)
    assert [t["name"] for t in manifest["tracks"]] == [f"synth-{SEED}-{i:05d}" for i in range(3)]
    assert [t.get("reused", False) for t in manifest["tracks"]] == [True, False, True]
    assert manifest["failed"] == []
    # the command says so and exits 1 (scripts see it); the other tracks stay written
    broken.add(1)
    shutil.rmtree(out / f"synth-{SEED}-00001")
    from rtsep.cli.main import main

    with pytest.warns(RuntimeWarning):
        rc = main(["synth", "--out", str(out), "--tracks", "3", "--seconds", "2", "--seed", str(SEED),
                   "--quiet"])
    assert rc == 1 and "1 track(s) failed" in capsys.readouterr().err
    assert (out / f"synth-{SEED}-00002").is_dir()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [t["name"] for t in manifest["failed"]] == [f"synth-{SEED}-00001"]
    assert f"synth-{SEED}-00001" not in [t["name"] for t in manifest["tracks"]]


@pytest.mark.parametrize("args, message", [
    (["--tracks", "-1"], "--tracks"),
    (["--tracks", "0"], "--tracks"),
    (["--seconds", "-5"], "--seconds"),
    (["--seconds", "nan"], "--seconds"),
    (["--seed", "-3"], "--seed"),
    (["--workers", "0"], "--workers"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, args, message):
    rc = main(["synth", "--out", str(tmp_path / "o"), "--quiet", *args])
    assert rc == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unwritable_out_dir_exit_2(tmp_path, capsys):
    need_synth()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = main(["synth", "--out", str(blocker / "sub"), "--seconds", "3", "--quiet"])
    assert rc == EXIT_USAGE
    assert "output folder" in capsys.readouterr().err
    rc = main(["synth", "--out", str(blocker), "--seconds", "3", "--quiet"])
    assert rc == EXIT_USAGE


@pytest.mark.parametrize("env, package", [
    ("RTSEP_ESPEAK", "espeak-ng"), ("RTSEP_FLUIDSYNTH", "fluidsynth"),
    ("RTSEP_SOUNDFONT", "fluid-soundfont-gm"), ("RTSEP_SONIC_PI_SAMPLES", "sonic-pi-samples"),
])
def test_missing_tool_exit_2(tmp_path, capsys, monkeypatch, env, package):
    monkeypatch.setenv(env, str(tmp_path / "does-not-exist"))
    rc = main(["synth", "--out", str(tmp_path / "o"), "--seconds", "3", "--quiet"])
    assert rc == EXIT_USAGE
    assert package in capsys.readouterr().err


def test_compositions_cover_the_brief():
    """Cheap checks over many compositions (no audio): tempo range, every stem in
    every song, a resting stem in most songs, no voice-like patch outside vocals."""
    from rtsep.training.synth import compose_song
    from rtsep.training.synth.styles import VOICE_LIKE_PROGRAMS

    songs = [compose_song(21, i, 30.0) for i in range(60)]
    with_rest = 0
    for song in songs:
        assert 70.0 <= song.grid.tempo_bpm <= 170.0
        sections = song.section_times()
        for stem in STEMS:
            assert any(stem in active for _, _, _, active in sections), (song.name, stem)
        if any(len(active) < len(STEMS) for _, _, _, active in sections):
            with_rest += 1
        # choir patches sing backing vocals, in the vocals stem only
        assert not [p for p in song.parts if p.stem not in ("drums", "vocals")
                    and p.program in VOICE_LIKE_PROGRAMS]
        assert song.vocal_lines[0].name == "lead" and song.vocal_lines[0].notes
    assert with_rest >= 0.8 * len(songs)
    assert len({s.style for s in songs}) >= 6 and len({s.key_root for s in songs}) >= 8
