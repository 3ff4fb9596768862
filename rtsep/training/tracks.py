"""The tracks of a training dataset folder, described without reading their audio.

A dataset is a folder of track folders, each holding ``vocals``, ``drums``, ``bass``
and ``other`` as ``.wav`` or ``.flac`` (a ``mixture`` file is ignored: the mixture
is the sum of the stems), or an *accompaniment* track
(:data:`rtsep.io.tracks.ACCOMPANIMENT_STEMS`: ``vocals`` and ``accompaniment``, the
rest unknown; see :mod:`rtsep.training.data`). :func:`find_tracks` lists them,
:func:`split_tracks` splits them into training and validation tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import ConfigError, DatasetError
from rtsep.io.tracks import check_track, is_track_folder, list_tracks


@dataclass(frozen=True)
class Track:
    """One track folder, described without reading its audio.

    Attributes
    ----------
    name : str
        The folder name.
    stem_paths : tuple of pathlib.Path
        One file per stem, in :data:`rtsep.constants.STEMS` order.
    n_samples : int
        Usable length (the shortest stem), in samples at 44.1 kHz.
    kind : str
        ``"full"`` (four stems) or ``"accompaniment"`` (``stem_paths`` are vocals and
        accompaniment).
    """

    name: str
    stem_paths: tuple[Path, ...]
    n_samples: int
    kind: str = "full"

    @property
    def full(self) -> bool:
        """Every stem known."""
        return self.kind == "full"

    @property
    def duration_s(self) -> float:
        """Usable length in seconds."""
        return self.n_samples / SAMPLE_RATE


def find_tracks(root: str | Path) -> list[Track]:
    """The tracks of a dataset folder, sorted by name.

    ``root`` may be one track folder, a folder of track folders, or a MUSDB18-HQ root
    with ``train/`` and ``test/`` (then only ``train/`` is used). Accompaniment tracks
    (module docstring) are included.

    Raises
    ------
    DatasetError
        Missing or empty folder, a stem at another sample rate than 44.1 kHz, with more
        than two channels, unreadable, or stems of one track differing in length.
    """
    root = Path(root)
    if (root / "train").is_dir() and not is_track_folder(root, partial=True) and not any(
            is_track_folder(p, partial=True) for p in root.iterdir()):
        root = root / "train"
    folders = list_tracks(root, partial=True)
    return [_describe_track(f) for f in folders]


def _describe_track(folder: Path) -> Track:
    files = check_track(folder, partial=True)
    for p, rate in zip(files.stem_paths, files.sample_rates):
        if rate != SAMPLE_RATE:
            raise DatasetError(
                f"{p}: sample rate {rate} Hz; training reads excerpts in place and "
                f"needs {SAMPLE_RATE} Hz files (convert first, e.g. `sox in.wav -r {SAMPLE_RATE} out.wav`)")
    return Track(name=folder.name, stem_paths=files.stem_paths, n_samples=files.n_samples,
                 kind=files.kind)


def split_tracks(tracks: list[Track], *, val_fraction: float, seed: int
                 ) -> tuple[list[Track], list[Track]]:
    """Split tracks into (train, validation), by track, deterministically.

    The split depends only on the set of track names, ``val_fraction`` and ``seed``
    (not on the order of ``tracks``). With two tracks or more and ``val_fraction > 0``
    at least one track is validated and at least one trained on; a single track is
    only trained on. Only fully labelled tracks are validated (the split is over them);
    accompaniment tracks all go to training.

    Returns
    -------
    train, val : list[Track], each sorted by name; disjoint, together all tracks.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    names = [t.name for t in tracks]
    if len(set(names)) != len(names):
        raise DatasetError(f"track names are not unique: {sorted(names)}")
    ordered = sorted((t for t in tracks if t.full), key=lambda t: t.name)
    partial = [t for t in tracks if not t.full]
    n = len(ordered)
    n_val = 0
    if n >= 2 and val_fraction > 0:
        n_val = min(n - 1, max(1, round(val_fraction * n)))
    perm = np.random.default_rng([int(seed), 0x5EED5]).permutation(n)
    val_idx = set(perm[:n_val].tolist())
    train = sorted([t for i, t in enumerate(ordered) if i not in val_idx] + partial,
                   key=lambda t: t.name)
    val = [t for i, t in enumerate(ordered) if i in val_idx]
    return train, val


def dataset_hours(tracks: list[Track]) -> float:
    """Total duration of ``tracks`` in hours."""
    return sum(t.n_samples for t in tracks) / SAMPLE_RATE / 3600.0


__all__ = ["Track", "find_tracks", "split_tracks", "dataset_hours"]
