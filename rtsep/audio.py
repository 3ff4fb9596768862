"""Audio files in and out: reading (any rate, mono or stereo), atomic writing, and
track folders in the MUSDB18-HQ layout.

Mono input is duplicated to both channels (the models are stereo). Files with more
than two channels are refused. Other sample rates are resampled to 44.1 kHz with
soxr (VHQ) unless ``resample=False``, which refuses them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import N_CHANNELS, SAMPLE_RATE, STEMS
from rtsep.errors import AudioError, DatasetError
from rtsep.io.files import atomic_path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file held before conversion."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    resampled: bool
    mono_duplicated: bool


def read_audio(path, *, sample_rate: int = SAMPLE_RATE, resample: bool = True):
    """Read an audio file as float32 stereo at ``sample_rate``.

    Parameters
    ----------
    path : str | Path
        WAV, FLAC or OGG (anything libsndfile reads).

    Returns
    -------
    x : np.ndarray [shape=(n_samples, 2), dtype=float32]
    info : AudioInfo

    Raises
    ------
    AudioError
        Missing, unreadable, empty, more than 2 channels, or another rate with
        ``resample=False``.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: cannot read audio ({exc}); supported: WAV, FLAC, OGG") from None
    if x.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples")
    channels = x.shape[1]
    if channels > N_CHANNELS:
        raise AudioError(f"{path}: {channels} channels; rtsep takes mono or stereo")
    mono = channels == 1
    if mono:
        x = np.repeat(x, 2, axis=1)
    resampled = sr != sample_rate
    if resampled:
        if not resample:
            raise AudioError(f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz "
                             "(allow resampling or convert the file)")
        import soxr

        x = soxr.resample(x, sr, sample_rate, quality="VHQ").astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"{path}: {bad} samples are NaN or infinite")
    info = AudioInfo(path, int(sr), channels, int(x.shape[0]), resampled, mono)
    return np.ascontiguousarray(x, np.float32), info


def write_audio_atomic(path, x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                       subtype: str = "FLOAT") -> Path:
    """Write audio to ``path`` through a temporary file in the same folder, then rename.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples, n_channels), dtype=float32]
    subtype : str
        soundfile subtype; 32-bit float WAV by default, so nothing is clipped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{path}: unsupported output format; use .wav, .flac or .ogg")
    if fmt != "WAV" and subtype == "FLOAT":
        subtype = {"FLAC": "PCM_24", "OGG": "VORBIS"}[fmt]
    with atomic_path(path) as tmp:
        sf.write(tmp, x, sample_rate, format=fmt, subtype=subtype)
    return path


def find_stem_file(folder: Path, name: str) -> Path | None:
    """The file ``folder/name.(wav|flac)`` if there is one."""
    for ext in (".wav", ".flac"):
        p = folder / f"{name}{ext}"
        if p.exists():
            return p
    return None


def is_track_folder(folder: Path) -> bool:
    """True when ``folder`` holds all four stems."""
    return folder.is_dir() and all(find_stem_file(folder, s) for s in STEMS)


def read_track(folder, *, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Read a track folder in the MUSDB18-HQ layout.

    Returns
    -------
    dict
        ``{stem: np.ndarray [shape=(n, 2), float32]}`` for the four stems and
        ``"mixture"`` (the file when present and of the same length, else the sum).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    out = {}
    for stem in STEMS:
        p = find_stem_file(folder, stem)
        if p is None:
            raise DatasetError(f"{folder}: missing {stem}.wav or {stem}.flac "
                               "(expected the MUSDB18-HQ layout: vocals, drums, bass, other)")
        out[stem], _ = read_audio(p, sample_rate=sample_rate)
    lengths = {s: v.shape[0] for s, v in out.items()}
    n = min(lengths.values())
    if max(lengths.values()) - n > 0:
        if max(lengths.values()) - n > sample_rate // 10:
            raise DatasetError(f"{folder}: stems differ in length: {lengths}")
        out = {s: v[:n] for s, v in out.items()}
    mix_path = find_stem_file(folder, "mixture")
    mix = None
    if mix_path is not None:
        mix, _ = read_audio(mix_path, sample_rate=sample_rate)
        mix = mix[:n] if mix.shape[0] >= n else None
    out["mixture"] = mix if mix is not None else np.sum([out[s] for s in STEMS], axis=0)
    return out


def list_tracks(dataset) -> list[Path]:
    """Track folders of a dataset, sorted by name; the dataset itself if it is one.

    Raises DatasetError for a missing or empty dataset.
    """
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise DatasetError(f"{dataset}: no such folder")
    if is_track_folder(dataset):
        return [dataset]
    # Hidden folders are skipped: they are temporary folders of interrupted writers.
    tracks = sorted(p for p in dataset.iterdir() if not p.name.startswith(".") and is_track_folder(p))
    if not tracks:
        raise DatasetError(f"{dataset}: no track folders with vocals, drums, bass and other "
                           "(.wav or .flac) found (MUSDB18-HQ layout)")
    return tracks
