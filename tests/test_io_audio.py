"""rtsep.io.audio: reading any rate and channel count, atomic writing."""

import numpy as np
import pytest
import soundfile as sf

from rtsep.constants import OUTPUTS
from rtsep.errors import AudioError
from rtsep.io.audio import read_audio, write_audio_atomic, write_stems


def test_mono_and_other_rates(tmp_path):
    """Mono is duplicated to both channels; 48 kHz is resampled, or refused on request."""
    t = np.arange(48000) / 48000
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    p = tmp_path / "mono48k.flac"
    sf.write(p, mono, 48000)
    x, info = read_audio(p)
    assert x.shape == (44100, 2) and info.mono_duplicated and info.resampled
    assert np.array_equal(x[:, 0], x[:, 1])
    assert abs(np.sqrt(np.mean(x[1000:-1000, 0] ** 2)) - 0.5 / np.sqrt(2)) < 0.01
    with pytest.raises(AudioError, match="48000 Hz"):
        read_audio(p, resample=False)


def test_write_formats_and_stems(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (1000, 2)).astype(np.float32)
    y, _ = read_audio(write_audio_atomic(tmp_path / "a.wav", x))
    np.testing.assert_array_equal(y, x)  # 32-bit float WAV: exact
    y, _ = read_audio(write_audio_atomic(tmp_path / "a.flac", x))
    assert np.max(np.abs(y - x)) < 1e-6  # 24-bit FLAC
    with pytest.raises(AudioError, match="unsupported output format"):
        write_audio_atomic(tmp_path / "a.mp3", x)
    paths = write_stems(tmp_path / "stems", np.stack([x * k for k in range(5)]))
    assert [p.name for p in paths] == [f"{name}.wav" for name in OUTPUTS]
    np.testing.assert_array_equal(read_audio(paths[3])[0], x * 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac", "a.wav", "stems"]
