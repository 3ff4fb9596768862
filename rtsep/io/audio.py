"""Audio files in and out: whole files read (:func:`read_audio`, over the block reader
of :mod:`rtsep.io.decode`: any format, any rate, mono duplicated, more channels
downmixed) and atomic writing, whole or block by block (:class:`StemWriter`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import N_CHANNELS, OUTPUTS, SAMPLE_RATE
from rtsep.errors import AudioError, ConfigError
from rtsep.io.files import atomic_path

OUTPUT_SUBTYPES = {"wav": {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"},
                   "flac": {"16": "PCM_16", "24": "PCM_24"}}
"""Output format -> bits -> soundfile subtype (FLAC holds no floats)."""
DEFAULT_BITS = {"wav": "32f", "flac": "24"}
"""Bits of each output format when none are asked for (32-bit float WAV clips nothing)."""


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
    """Read a whole audio file as float32 stereo at ``sample_rate``
    (:func:`rtsep.io.decode.open_audio`'s blocks, joined).

    Parameters
    ----------
    path : str | Path
        Anything libsndfile or FFmpeg reads.

    Returns
    -------
    x : np.ndarray [shape=(n_samples, 2), dtype=float32]
    info : AudioInfo

    Raises
    ------
    AudioError
        Missing, unreadable, empty, NaN samples, or another rate with ``resample=False``.
    """
    from rtsep.io.decode import open_audio

    with open_audio(path, resample=resample, sample_rate=sample_rate) as src:
        x = np.concatenate(list(src.blocks()))
        src_info = src.info
    info = AudioInfo(src_info.path, src_info.sample_rate, src_info.channels, int(x.shape[0]),
                     src_info.sample_rate != sample_rate, src_info.channels == 1)
    return x, info


def write_audio_atomic(path, x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                       subtype: str = "FLOAT") -> Path:
    """Write audio to ``path`` through :func:`rtsep.io.files.atomic_path`.

    Parameters
    ----------
    path : str or os.PathLike
        ``.wav``, ``.flac`` or ``.ogg``; the folder is created if missing.
    x : np.ndarray [shape=(n_samples, n_channels), dtype=float32]
    sample_rate : int
    subtype : str
        soundfile subtype; 32-bit float WAV by default, so nothing is clipped
        (24-bit FLAC, Vorbis OGG).

    Returns
    -------
    pathlib.Path
        ``path``.
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


def output_subtype(fmt: str, bits: str | None = None) -> str:
    """The soundfile subtype of output format ``fmt`` (``wav``/``flac``) at ``bits``
    (``16``, ``24``, ``32f``; None: :data:`DEFAULT_BITS`). Raises ConfigError."""
    if fmt not in OUTPUT_SUBTYPES:
        raise ConfigError(f"output format {fmt!r}: use one of {sorted(OUTPUT_SUBTYPES)}")
    bits = DEFAULT_BITS[fmt] if bits is None else str(bits)
    if bits not in OUTPUT_SUBTYPES[fmt]:
        raise ConfigError(f"{fmt} outputs take --bits {' or '.join(OUTPUT_SUBTYPES[fmt])}, got {bits!r}")
    return OUTPUT_SUBTYPES[fmt][bits]


class StemWriter:
    """The five outputs written block by block: ``folder/{vocals,...,instrumental}.<fmt>``.

    Write into a temporary folder (:func:`rtsep.io.files.atomic_path` with
    ``folder=True``) so that a failure leaves nothing half-written. Integer formats
    clip to [-1, 1] and count the samples clipped (float WAV keeps everything).

    Parameters
    ----------
    folder : str or os.PathLike
        Created if missing.
    fmt : str
        ``"wav"`` or ``"flac"``.
    bits : str, optional
        ``"16"``, ``"24"`` or ``"32f"`` (:func:`output_subtype`).
    sample_rate : int

    Attributes
    ----------
    paths : list of Path
    samples : int
        Samples written per output so far.
    clipped : int
        Samples (over all outputs and channels) clipped so far.
    """

    def __init__(self, folder, fmt: str = "wav", bits: str | None = None,
                 sample_rate: int = SAMPLE_RATE):
        subtype = output_subtype(fmt, bits)
        self._clip = subtype != "FLOAT"
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"{name}.{fmt}" for name in OUTPUTS]
        self._files = []
        try:
            for path in self.paths:
                self._files.append(sf.SoundFile(str(path), "w", sample_rate, N_CHANNELS, subtype,
                                                format=fmt.upper()))
        except BaseException:
            self.close()
            raise
        self.samples = 0
        self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        """Append one block.

        Parameters
        ----------
        block : np.ndarray [shape=(5, n, 2), dtype=float32]
            The outputs in :data:`rtsep.constants.OUTPUTS` order.
        """
        if self._clip:
            over = np.abs(block) > 1.0
            n_over = int(np.count_nonzero(over))
            if n_over:
                self.clipped += n_over
                block = np.clip(block, -1.0, 1.0)
        for f, x in zip(self._files, block):
            f.write(x)
        self.samples += block.shape[1]

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self) -> "StemWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_stems(out_dir, separated: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[Path]:
    """Write ``out_dir/{vocals,drums,bass,other,instrumental}.wav``, each atomically.

    Parameters
    ----------
    out_dir : str or os.PathLike
    separated : np.ndarray [shape=(5, n_samples, 2), dtype=float32]
        The outputs in :data:`rtsep.constants.OUTPUTS` order.
    sample_rate : int

    Returns
    -------
    list of pathlib.Path
        The five files.
    """
    return [write_audio_atomic(Path(out_dir) / f"{name}.wav", separated[i], sample_rate)
            for i, name in enumerate(OUTPUTS)]
