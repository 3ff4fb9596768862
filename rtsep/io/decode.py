"""Audio files read in blocks, whatever their format: memory does not grow with length.

:func:`open_audio` opens a file for reading block by block as float32 stereo at 44.1
kHz (:class:`AudioSource`):

- files libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...) through soundfile;
- anything else FFmpeg decodes (m4a/AAC, Opus, WMA, AIFF in other containers, the
  first audio stream of a video file) through PyAV, which links FFmpeg's libraries;
  files with more than two channels go this way too and are downmixed to stereo with
  FFmpeg's standard matrix.

Mono is duplicated to both channels. Another sample rate is resampled to 44.1 kHz in
blocks with soxr (``soxr.ResampleStream``, VHQ, the quality of
:func:`rtsep.io.audio.read_audio`) unless ``resample=False``, which refuses it. A
block with NaN or infinite samples raises :class:`~rtsep.errors.AudioError` naming
the time. Nothing here holds more than a block and the decoder's own buffers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import N_CHANNELS, SAMPLE_RATE
from rtsep.errors import AudioError

BLOCK_SAMPLES = 65536
"""Samples per block :meth:`AudioSource.blocks` yields by default (1.5 s at 44.1 kHz)."""


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a file holds, before conversion.

    Attributes
    ----------
    path : Path
    backend : str
        ``"libsndfile"`` or ``"ffmpeg"``.
    format : str
        The container or format as the backend names it (``"WAV"``, ``"mov,mp4,m4a,..."``).
    sample_rate, channels : int
        Of the file (of its first audio stream).
    seconds : float or None
        Duration, when the file says (None: unknown, e.g. a stream without an index).
    """

    path: Path
    backend: str
    format: str
    sample_rate: int
    channels: int
    seconds: float | None

    @property
    def notes(self) -> list[str]:
        """The conversions reading applies, in words (empty when none)."""
        out = []
        if self.channels == 1:
            out.append("mono: duplicated to both channels")
        elif self.channels > N_CHANNELS:
            out.append(f"{self.channels} channels: downmixed to stereo")
        if self.sample_rate != SAMPLE_RATE:
            out.append(f"resampled {self.sample_rate} Hz -> {SAMPLE_RATE} Hz")
        return out


class AudioSource:
    """An open audio file, read in blocks as float32 stereo (at 44.1 kHz by default).

    Use :func:`open_audio`; close it (or use it as a context manager) when done.

    Attributes
    ----------
    info : SourceInfo
    sample_rate : int
        The blocks' rate.
    samples : int or None
        Length at that rate when the file says (for progress; the blocks are the truth).
    """

    def __init__(self, info: SourceInfo, blocks_fn, close_fn, sample_rate: int = SAMPLE_RATE):
        self.info = info
        self.sample_rate = int(sample_rate)
        self._blocks_fn = blocks_fn
        self._close_fn = close_fn
        self.samples = None if info.seconds is None else int(round(info.seconds * sample_rate))

    def blocks(self, n: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
        """The file's audio from the start, in blocks of about ``n`` samples.

        Yields
        ------
        np.ndarray [shape=(m, 2), dtype=float32], m >= 1
        """
        done = 0
        for raw in self._blocks_fn(n):
            x = _stereo(raw)
            if not np.isfinite(x).all():
                at = done + int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
                raise AudioError(f"{self.info.path}: NaN or infinite samples at "
                                 f"{at / self.sample_rate:.2f} s (sample {at})")
            done += x.shape[0]
            if x.shape[0]:
                yield x
        if done == 0:
            raise AudioError(f"{self.info.path}: the file holds no samples")

    def close(self) -> None:
        self._close_fn()

    def __enter__(self) -> "AudioSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stereo(x: np.ndarray) -> np.ndarray:
    """Float32 (n, 2) from a decoded block (n, 1 or 2)."""
    if x.shape[1] == 1:
        x = np.repeat(x, N_CHANNELS, axis=1)
    return np.ascontiguousarray(x, np.float32)


def open_audio(path, *, resample: bool = True, sample_rate: int = SAMPLE_RATE) -> AudioSource:
    """Open ``path`` for reading in blocks (module docstring).

    Parameters
    ----------
    path : str or os.PathLike
    resample : bool
        False: refuse a file whose rate is not ``sample_rate``.
    sample_rate : int
        The rate of the blocks (44.1 kHz: the models').

    Returns
    -------
    AudioSource

    Raises
    ------
    AudioError
        Missing, a folder, not audio, no audio stream, unreadable, or another rate
        with ``resample=False``.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        f = None
    if f is not None and f.channels > N_CHANNELS:
        f.close()  # FFmpeg downmixes
        f = None
    if f is not None:
        info = SourceInfo(path, "libsndfile", f.format, int(f.samplerate), int(f.channels),
                          f.frames / f.samplerate if f.frames > 0 else None)
        raw = lambda n: f.blocks(blocksize=n, dtype="float32", always_2d=True)  # noqa: E731
        close = f.close
    else:
        info, raw, close = _open_ffmpeg(path)
    if info.sample_rate != sample_rate:
        if not resample:
            close()
            raise AudioError(f"{path}: sample rate {info.sample_rate} Hz, expected {sample_rate} Hz "
                             "(allow resampling or convert the file)")
        raw = _resampled(raw, info, sample_rate)
    return AudioSource(info, raw, close, sample_rate)


def _resampled(raw, info: SourceInfo, rate: int):
    """``raw`` blocks resampled to ``rate`` in a stream (soxr VHQ)."""
    import soxr

    def blocks(n):
        channels = 1 if info.channels == 1 else N_CHANNELS
        rs = soxr.ResampleStream(info.sample_rate, rate, channels, dtype="float32",
                                 quality="VHQ")
        for x in raw(n):
            yield rs.resample_chunk(np.ascontiguousarray(x, np.float32), last=False)
        yield rs.resample_chunk(np.zeros((0, channels), np.float32), last=True)

    return blocks


def _open_ffmpeg(path: Path):
    """(SourceInfo, blocks(n), close) for ``path`` through PyAV (FFmpeg's libraries)."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: cannot read audio: neither libsndfile nor FFmpeg reads it "
                         f"({exc})") from None
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise AudioError(f"{path}: holds no audio stream (only: {', '.join(kinds)})")
    stream = container.streams.audio[0]
    rate, channels = int(stream.codec_context.sample_rate), int(stream.codec_context.channels)
    if rate <= 0 or channels <= 0:
        container.close()
        raise AudioError(f"{path}: its audio stream has no sample rate or channels")
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        seconds = None
    info = SourceInfo(path, "ffmpeg", container.format.name, rate, channels, seconds)
    layout = "mono" if channels == 1 else "stereo"  # more than 2: FFmpeg's downmix

    def blocks(n):
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        width = 1 if channels == 1 else N_CHANNELS
        pending, held = [], 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1, width))
                    held += pending[-1].shape[0]
                if held >= n:
                    yield np.concatenate(pending)
                    pending, held = [], 0
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1, width))
        except av.FFmpegError as exc:
            raise AudioError(f"{path}: decoding failed ({exc})") from None
        if pending:
            yield np.concatenate(pending)

    return info, blocks, container.close


__all__ = ["BLOCK_SAMPLES", "AudioSource", "SourceInfo", "open_audio"]
