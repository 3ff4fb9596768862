"""Synthetic test stems and track folders shared by the data and training tests."""

from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import SAMPLE_RATE, STEMS


def synth_stems(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Four distinguishable synthetic stems, float32 (n, 2) each."""
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(200, 400)
    vocals = 0.3 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t))
    drums = rng.standard_normal(n) * (np.mod(t, 0.5) < 0.05) * 0.5
    bass = 0.4 * np.sin(2 * np.pi * rng.uniform(40, 80) * t)
    other = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(500, 3000, size=3))
    out = {}
    for name, mono in zip(STEMS, (vocals, drums, bass, other)):
        pan = rng.uniform(0.3, 1.0)
        out[name] = np.stack([mono * pan, mono * (1.3 - pan)], axis=1).astype(np.float32)
    return out


def write_track(folder: Path, stems: dict[str, np.ndarray], *, ext: str = ".wav",
                sample_rate: int = SAMPLE_RATE) -> Path:
    """Write ``stems`` as ``folder/<stem><ext>`` (32-bit float WAV or 24-bit FLAC)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, x in stems.items():
        sf.write(str(folder / f"{name}{ext}"), x, sample_rate, subtype="FLOAT" if ext == ".wav" else "PCM_24")
    return folder
