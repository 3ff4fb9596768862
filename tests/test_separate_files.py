"""rtsep separate on the files people have: any format FFmpeg decodes, any length in
bounded memory, WAV or FLAC outputs at 16/24/32f bits, clear errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from rtsep.io.decode import open_audio

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg missing (bash bootstrap.sh installs it)")


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True)


def _rtsep(*args):
    return subprocess.run([sys.executable, "-m", "rtsep", *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def tiny_stream(tmp_path_factory):
    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact

    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    return save_artifact(tmp_path_factory.mktemp("art") / "tiny-stream", build_model(cfg), cfg)


@needs_ffmpeg
def test_formats_ffmpeg_decodes(tmp_path):
    """m4a/AAC at 48 kHz, 6-channel Opus and a video's soundtrack decode in blocks to
    44.1 kHz stereo of the right length and level; a video without audio and a text
    file are refused by name."""
    tone = "sine=frequency=440:duration=3:sample_rate=48000"
    _ffmpeg("-f", "lavfi", "-i", tone, "-ac", "2", tmp_path / "a.m4a")
    _ffmpeg("-f", "lavfi", "-i", tone, "-ac", "6", "-c:a", "libopus", tmp_path / "b.opus")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=32x32:rate=5", "-f", "lavfi", "-i",
            "sine=frequency=440:duration=2:sample_rate=44100", "-shortest", tmp_path / "c.mp4")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=32x32:rate=5", tmp_path / "v.mp4")
    for name, seconds, notes in (("a.m4a", 3, ["resampled"]),
                                 ("b.opus", 3, ["6 channels: downmixed", "resampled"]),
                                 ("c.mp4", 2, ["mono"])):
        with open_audio(tmp_path / name) as src:
            assert src.info.backend == "ffmpeg"
            for want, note in zip(notes, src.info.notes):
                assert want in note
            blocks = list(src.blocks(10_000))
        x = np.concatenate(blocks)
        assert x.dtype == np.float32 and x.shape[1] == 2
        assert abs(len(x) - seconds * 44100) < 0.03 * 44100, (name, len(x))
        middle = x[len(x) // 4: 3 * len(x) // 4]
        assert 0.02 < np.sqrt(np.mean(middle ** 2)) < 0.2, name  # a tone, not silence or noise
        # 440 Hz survives resampling: the spectrum peaks there
        spec = np.abs(np.fft.rfft(middle[:, 0]))
        assert abs(np.argmax(spec) * 44100 / len(middle) - 440) < 3
    r = _rtsep("separate", tmp_path / "v.mp4", "--out", tmp_path / "o")
    assert r.returncode == 2 and "no audio stream" in r.stderr
    (tmp_path / "t.txt").write_text("not audio\n")
    r = _rtsep("separate", tmp_path / "t.txt", "--out", tmp_path / "o")
    assert r.returncode == 2 and "cannot read audio" in r.stderr
    assert not (tmp_path / "o").exists()


@needs_ffmpeg
def test_separate_m4a_to_flac_16_bits(tiny_stream, tmp_path):
    """An AAC file separates to five 16-bit FLACs of its length; 32-bit float FLAC is
    refused before anything runs."""
    _ffmpeg("-f", "lavfi", "-i", "anoisesrc=duration=2:amplitude=0.3:sample_rate=44100", "-ac", "2",
            tmp_path / "song.m4a")
    r = _rtsep("separate", tmp_path / "song.m4a", "--model", tiny_stream, "--out", tmp_path / "o",
               "--format", "flac", "--bits", "16")
    assert r.returncode == 0, r.stderr
    with open_audio(tmp_path / "song.m4a") as src:
        n = sum(len(b) for b in src.blocks())
    for stem in ("vocals", "drums", "bass", "other", "instrumental"):
        info = sf.info(tmp_path / "o" / "song" / f"{stem}.flac")
        assert (info.format, info.subtype, info.frames, info.channels) == ("FLAC", "PCM_16", n, 2)
    r = _rtsep("separate", tmp_path / "song.m4a", "--out", tmp_path / "o2", "--format", "flac",
               "--bits", "32f")
    assert r.returncode == 2 and "flac outputs take --bits 16 or 24" in r.stderr
    assert not (tmp_path / "o2").exists()


def _peak_rss_mb(tmp_path, model, wav):
    """Peak resident memory (MB) of `rtsep separate` on one file, in its own process."""
    code = ("import json, resource, sys; from rtsep.cli.main import main; "
            f"rc = main(['separate', {str(wav)!r}, '--model', {str(model)!r}, '--out', "
            f"{str(tmp_path / 'o')!r}, '--threads', '1']); "
            "print(json.dumps([rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rc, mb = json.loads(r.stdout.strip().splitlines()[-1])
    assert rc == 0
    return mb


@pytest.mark.slow
def test_memory_does_not_grow_with_the_length_of_the_file(tiny_stream, tmp_path):
    """10 minutes take the memory of 1 (within 60 MB), where holding the 10-minute file
    and its five outputs in float32 would take 1.2 GB more; the output is whole."""
    rng = np.random.default_rng(0)
    files = {}
    for minutes in (1, 10):
        wav = tmp_path / f"m{minutes}.wav"
        with sf.SoundFile(wav, "w", 44100, 2, "PCM_16") as f:
            for _ in range(minutes * 6):  # 10 s at a time
                f.write((0.2 * rng.standard_normal((441_000, 2))).astype(np.float32))
        files[minutes] = wav
    short = _peak_rss_mb(tmp_path, tiny_stream, files[1])
    long = _peak_rss_mb(tmp_path, tiny_stream, files[10])
    assert long - short < 60, (short, long)
    assert sf.info(tmp_path / "o" / "m10" / "vocals.wav").frames == 10 * 60 * 44100
