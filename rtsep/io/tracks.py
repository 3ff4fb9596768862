"""Track folders in the MUSDB18-HQ layout: one folder per song holding ``vocals``,
``drums``, ``bass`` and ``other`` (and optionally ``mixture``) as ``.wav`` or ``.flac``.

Training also reads *accompaniment* tracks, whose stems are only partly known:
``vocals`` and ``accompaniment`` (everything else: drums, bass and other together),
as ``rtsep synth --kind accompaniment`` writes them (generated vocals over real
instrumental music). Functions take ``partial=True`` to accept them.

:func:`check_track` is the one layout checker: offline separation and evaluation
(:func:`read_track`) and the training data (:mod:`rtsep.training.tracks`) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import N_CHANNELS, SAMPLE_RATE, STEMS
from rtsep.errors import DatasetError
from rtsep.io.audio import read_audio

STEM_EXTENSIONS = (".wav", ".flac")
ACCOMPANIMENT_STEMS = ("vocals", "accompaniment")
"""The stems of an accompaniment track (kind ``"accompaniment"``), in this order."""
KINDS = {"full": STEMS, "accompaniment": ACCOMPANIMENT_STEMS}
"""Track kinds and their stem files."""
MAX_LENGTH_MISMATCH_S = 0.1
"""Stems of one track may differ in length by at most this; the shortest wins."""


@dataclass(frozen=True)
class TrackFiles:
    """A checked track folder, described without reading its audio.

    Attributes
    ----------
    folder : pathlib.Path
    stem_paths : tuple of pathlib.Path
        One file per stem, in :data:`rtsep.constants.STEMS` order (kind ``"full"``) or
        :data:`ACCOMPANIMENT_STEMS` order (kind ``"accompaniment"``).
    sample_rates : tuple of int
        Each stem file's sample rate (Hz).
    frames : tuple of int
        Each stem file's length in samples at its own rate.
    kind : str
        A key of :data:`KINDS`.
    """

    folder: Path
    stem_paths: tuple[Path, ...]
    sample_rates: tuple[int, ...]
    frames: tuple[int, ...]
    kind: str = "full"

    @property
    def n_samples(self) -> int:
        """Usable length: the shortest stem, in samples at its rate."""
        return min(self.frames)


def find_stem_file(folder: Path, name: str) -> Path | None:
    """The file ``folder/name.(wav|flac)`` if there is one."""
    for ext in STEM_EXTENSIONS:
        p = Path(folder) / f"{name}{ext}"
        if p.exists():
            return p
    return None


def track_kind(folder: Path, *, partial: bool = False) -> str | None:
    """``"full"`` when ``folder`` holds all four stems, ``"accompaniment"`` when it holds
    vocals and accompaniment (and ``partial``), else None (contents unchecked)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for kind, stems in KINDS.items():
        if (kind == "full" or partial) and all(find_stem_file(folder, s) for s in stems):
            return kind
    return None


def is_track_folder(folder: Path, *, partial: bool = False) -> bool:
    """True when ``folder`` holds all four stems (or, with ``partial``, vocals and
    accompaniment); their contents are unchecked."""
    return track_kind(folder, partial=partial) is not None


def check_track(folder, *, partial: bool = False) -> TrackFiles:
    """Check a track folder's layout and its stem files' headers (no audio is read).

    Parameters
    ----------
    folder : str or os.PathLike
    partial : bool
        Accept accompaniment tracks (vocals and accompaniment only) too.

    Returns
    -------
    TrackFiles

    Raises
    ------
    DatasetError
        Not a folder; a stem missing, unreadable, with more than two channels or no
        samples; stems differing in length by more than :data:`MAX_LENGTH_MISMATCH_S`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    kind = track_kind(folder, partial=partial) or "full"
    stems = KINDS[kind]
    paths, rates, frames = [], [], []
    for stem in stems:
        p = find_stem_file(folder, stem)
        if p is None:
            also = (" (or, for training, an accompaniment track: vocals and accompaniment)"
                    if partial else "")
            hint = (": an accompaniment track (vocals and accompaniment only) is for training; "
                    "this needs the four stems" if not partial and track_kind(folder, partial=True)
                    else f" (expected the MUSDB18-HQ layout: vocals, drums, bass, other{also})")
            raise DatasetError(f"{folder}: missing {stem}.wav or {stem}.flac{hint}")
        try:
            info = sf.info(str(p))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DatasetError(f"{p}: cannot read audio ({exc})") from None
        if info.channels not in (1, N_CHANNELS):
            raise DatasetError(f"{p}: {info.channels} channels; stems must be mono or stereo")
        if info.frames <= 0:
            raise DatasetError(f"{p}: the file holds no samples")
        paths.append(p)
        rates.append(int(info.samplerate))
        frames.append(int(info.frames))
    seconds = [n / sr for n, sr in zip(frames, rates)]
    if max(seconds) - min(seconds) > MAX_LENGTH_MISMATCH_S:
        raise DatasetError(f"{folder}: stems differ in length by more than "
                           f"{MAX_LENGTH_MISMATCH_S:g} s: {dict(zip(stems, frames))} samples")
    return TrackFiles(folder, tuple(paths), tuple(rates), tuple(frames), kind)


def read_track(folder, *, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Read a track folder (checked by :func:`check_track`) at ``sample_rate``.

    Parameters
    ----------
    folder : str or os.PathLike
    sample_rate : int
        Stems at another rate are resampled.

    Returns
    -------
    dict
        ``{stem: np.ndarray [shape=(n, 2), dtype=float32]}`` for the four stems and
        ``"mixture"`` (the file when present and at least as long, else the sum), all
        cut to the shortest stem.
    """
    files = check_track(folder)
    out = {stem: read_audio(p, sample_rate=sample_rate)[0]
           for stem, p in zip(STEMS, files.stem_paths)}
    n = min(v.shape[0] for v in out.values())
    out = {s: v[:n] for s, v in out.items()}
    mix_path = find_stem_file(files.folder, "mixture")
    mix = None
    if mix_path is not None:
        mix, _ = read_audio(mix_path, sample_rate=sample_rate)
        mix = mix[:n] if mix.shape[0] >= n else None
    out["mixture"] = mix if mix is not None else np.sum([out[s] for s in STEMS], axis=0)
    return out


def list_tracks(dataset, *, partial: bool = False) -> list[Path]:
    """Track folders of a dataset, sorted by name; the dataset itself if it is one.

    Parameters
    ----------
    dataset : str or os.PathLike
    partial : bool
        Include accompaniment tracks.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    DatasetError
        A missing folder, or one without track folders.
    """
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise DatasetError(f"{dataset}: no such folder")
    if is_track_folder(dataset, partial=partial):
        return [dataset]
    # Hidden folders are skipped: they are temporary folders of interrupted writers.
    tracks = sorted(p for p in dataset.iterdir()
                    if not p.name.startswith(".") and is_track_folder(p, partial=partial))
    if not tracks:
        raise DatasetError(f"{dataset}: no track folders with vocals, drums, bass and other "
                           "(.wav or .flac) found (MUSDB18-HQ layout)")
    return tracks
