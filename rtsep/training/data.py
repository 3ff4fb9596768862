"""Training data: random, augmented 192-frame excerpts of MUSDB18-HQ-style tracks.

A dataset is a folder of track folders, each holding ``vocals``, ``drums``, ``bass``
and ``other`` as ``.wav`` or ``.flac`` (a ``mixture`` file is ignored: the mixture
is the sum of the stems). Nothing is loaded whole: every example reads its excerpts
with soundfile's ``seek``/``read``, so the collection may be far larger than memory.

Partial labels
--------------
A dataset may also hold *accompaniment* tracks (:data:`rtsep.io.tracks.ACCOMPANIMENT_STEMS`:
``vocals`` and ``accompaniment``, the rest unknown): real instrumental music under
generated vocals. Their examples have ``full = 0``: their stems array holds the vocals
and the accompaniment in rows 0 and 1 (rows 2 and 3 zero), and the loss
(:mod:`rtsep.training.losses`) supervises the vocals and the *sum* of the other three
estimates only. ``partial_fraction`` sets the share of such examples (None: the
share of such tracks). Validation uses fully labelled tracks only.

One example
-----------
An excerpt of :data:`EXCERPT_SAMPLES` = 191 * 1024 + 4096 = 199,680 samples gives
exactly :data:`~rtsep.constants.MODEL_FRAMES` = 192 STFT frames with no padding.
Its magnitudes are computed by :func:`rtsep.model_magnitudes` and equal the
engine's magnitudes of the whole file at the corresponding frames: an excerpt
starting at sample ``s`` (a multiple of the hop) holds file frames
``s // HOP + 3 ... s // HOP + 194``.

Augmentations (all drawn from a generator seeded by ``(seed, example index)``, so
example ``i`` is the same whatever the number of workers or where training resumed):

- *remix*: with probability ``remix_prob`` a stem is taken from another random
  track, at its own random offset (otherwise from the example's track and offset);
- *gain*: every stem is scaled by a factor uniform in ``[gain_min, gain_max]``;
- *channel swap*: every stem's left/right are swapped with probability
  ``channel_swap_prob``.

The input ``x`` is the magnitude of the SUM of the augmented stems, ``X``; the
targets ``y`` are, per augmented stem ``S_j`` (see :data:`TARGETS`):

- ``"magnitude"``: ``|S_j|``;
- ``"phase_sensitive"``: ``Re(S_j conj(X)) / |X|``, the part of ``S_j`` along the
  mixture's phase. The engine's output for stem ``j`` is ``m_j X`` (a real mask
  times the mixture's complex STFT), whose error ``m_j X - S_j`` has the component
  ``m_j |X| - y_j`` along ``X`` and one across it that no real mask changes; so
  ``|m_j |X| - y_j|`` is the part of the stem's complex STFT error the model can
  reduce (the "phase-sensitive approximation" of Erdogan et al., 2015). These
  targets sum over stems to ``|X|`` and may be negative (a stem against the mix).

``x`` float32 (1024, 192, 2), ``y`` float32 (4, 1024, 192, 2).

Track order ("shuffling"): example ``i`` uses track ``perm_e[i % n]`` where
``perm_e`` is a fresh permutation of the training tracks for every pass
``e = i // n``: every track once per pass, in a different order each pass.

This module does not import TensorFlow: the ``tf.data`` pipeline over its examples
is :mod:`rtsep.training.pipeline`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.dsp.stft import stft, to_model_layout
from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_FFT, N_STEMS, SAMPLE_RATE
from rtsep.errors import ConfigError, DatasetError
from rtsep.io.jsonio import check_fields
from rtsep.io.tracks import check_track, is_track_folder, list_tracks

EXCERPT_SAMPLES = (MODEL_FRAMES - 1) * HOP + N_FFT
"""Samples of one training excerpt: 191 * 1024 + 4096 = 199,680 (192 full frames)."""

FRAME_OFFSET = N_FFT // HOP - 1
""":func:`rtsep.model_magnitudes` of an excerpt starts with this many frames that
reach before the excerpt (zero-padded); frame ``FRAME_OFFSET + k`` is the excerpt's
``k``-th full frame."""

# ----------------------------------------------------------------------------------
# Tracks
# ----------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------
# Excerpts and magnitudes
# ----------------------------------------------------------------------------------

def read_excerpt(path: str | Path, start: int, n_samples: int) -> np.ndarray:
    """Samples ``[start, start + n_samples)`` of a file, zeros where it has none.

    Reads only those samples (seek + read). Mono is duplicated to both channels.

    Returns
    -------
    np.ndarray [shape=(n_samples, 2), dtype=float32]
    """
    out = np.zeros((n_samples, N_CHANNELS), dtype=np.float32)
    lo = max(0, int(start))
    hi = int(start) + n_samples
    try:
        with sf.SoundFile(str(path)) as f:
            hi = min(hi, f.frames)
            if hi <= lo:
                return out
            f.seek(lo)
            data = f.read(hi - lo, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DatasetError(f"{path}: cannot read samples {lo}..{hi} ({exc})") from None
    got = data.shape[0]
    dst = lo - int(start)
    out[dst:dst + got] = data if data.shape[1] == N_CHANNELS else data[:, :1]
    return out


TARGETS = ("magnitude", "phase_sensitive")
"""Training targets an :class:`ExampleSampler` can make (module docstring)."""


def excerpt_spectra(x: np.ndarray) -> np.ndarray:
    """The complex STFT of one excerpt at the model's bins and frames.

    Parameters
    ----------
    x : np.ndarray [shape=(EXCERPT_SAMPLES, 2), dtype=float32]

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, MODEL_FRAMES, 2), dtype=complex64]
        Its magnitude is :func:`excerpt_magnitudes` of ``x``.
    """
    if x.shape != (EXCERPT_SAMPLES, N_CHANNELS):
        raise ValueError(f"expected an excerpt of shape {(EXCERPT_SAMPLES, N_CHANNELS)}, got {x.shape}")
    spec = stft(np.asarray(x, dtype=np.float32))          # (C, F, N_BINS)
    spec = spec[:, FRAME_OFFSET:FRAME_OFFSET + MODEL_FRAMES, :MODEL_BINS]
    return to_model_layout(spec).astype(np.complex64)


def excerpt_magnitudes(x: np.ndarray) -> np.ndarray:
    """The model-input magnitudes of one excerpt (its 192 full frames).

    Parameters
    ----------
    x : np.ndarray [shape=(EXCERPT_SAMPLES, 2), dtype=float32]

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, MODEL_FRAMES, 2), dtype=float32]
        Frames ``FRAME_OFFSET .. FRAME_OFFSET + 191`` of
        ``rtsep.dsp.stft.model_magnitudes(x)``: the engine's magnitudes of these samples.
    """
    return np.abs(excerpt_spectra(x))


# ----------------------------------------------------------------------------------
# Augmentation and examples
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations of the training examples (see the module docstring).

    Attributes
    ----------
    gain_min, gain_max : float
        Per-stem gain range (linear factor).
    channel_swap_prob : float
        Probability to swap a stem's left and right channels.
    remix_prob : float
        Probability that a stem comes from another random track.
    """

    gain_min: float = 0.25
    gain_max: float = 1.25
    channel_swap_prob: float = 0.5
    remix_prob: float = 0.5

    def __post_init__(self) -> None:
        if not (0.0 < self.gain_min <= self.gain_max):
            raise ConfigError(f"augment: need 0 < gain_min <= gain_max, got "
                              f"gain_min={self.gain_min}, gain_max={self.gain_max}")
        for name in ("channel_swap_prob", "remix_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"augment: {name} must be in [0, 1], got {v}")

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation: unit gains, no swaps, no remixing."""
        return cls(gain_min=1.0, gain_max=1.0, channel_swap_prob=0.0, remix_prob=0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        check_fields(d, cls, "augment")
        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"augment.{k}: expected a number, got {v!r}")
        return cls(**{k: float(v) for k, v in d.items()})


@dataclass(frozen=True)
class ExcerptPlan:
    """Where the stems of one example come from and how they are altered.

    Attributes
    ----------
    tracks : tuple of int
        Index into the sampler's track list, per stem.
    starts : tuple of int
        First sample of each stem's excerpt.
    gains : tuple of float
        Linear gain per stem.
    swaps : tuple of bool
        Whether each stem's channels are swapped.
    full : bool
        Four known stems; else (an accompaniment example) two: vocals and the
        accompaniment, each the row of that name in its track's ``stem_paths``.
    """

    tracks: tuple[int, ...]
    starts: tuple[int, ...]
    gains: tuple[float, ...]
    swaps: tuple[bool, ...]
    full: bool = True


class ExampleSampler:
    """Deterministic, random-access source of training examples.

    Example ``i`` depends only on ``(tracks, augment, seed, i)``, so training that
    resumes at step ``s`` with batch size ``B`` simply continues at example ``s * B``.
    Safe to call from several threads at once.

    Parameters
    ----------
    tracks : list[Track]
        The training tracks (at least one).
    augment : AugmentConfig
    seed : int
    target : str
        One of :data:`TARGETS`: what ``y`` holds (module docstring).
    partial_fraction : float, optional
        Share of accompaniment examples (drawn per example); None: each example's
        kind is its track's, tracks taken in turn (module docstring).
    """

    def __init__(self, tracks: list[Track], augment: AugmentConfig | None = None, *, seed: int = 0,
                 target: str = "magnitude", partial_fraction: float | None = None):
        if not tracks:
            raise DatasetError("no training tracks: the dataset (after the validation split) is empty")
        if target not in TARGETS:
            raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
        self.tracks = list(tracks)
        self.augment = augment if augment is not None else AugmentConfig()
        self.seed = int(seed)
        self.target = target
        self._full = [i for i, t in enumerate(self.tracks) if t.full]
        self._partial = [i for i, t in enumerate(self.tracks) if not t.full]
        if partial_fraction is not None:
            if not 0.0 <= partial_fraction <= 1.0:
                raise ConfigError(f"partial_fraction must be in [0, 1], got {partial_fraction}")
            if partial_fraction > 0 and not self._partial:
                raise DatasetError("partial_fraction > 0 but the dataset has no accompaniment "
                                   "tracks (vocals + accompaniment)")
            if partial_fraction < 1 and not self._full:
                raise DatasetError("partial_fraction < 1 but the dataset has no fully labelled "
                                   "tracks (vocals, drums, bass, other)")
        self.partial_fraction = partial_fraction

    def _random_start(self, rng: np.random.Generator, track: Track) -> int:
        room = track.n_samples - EXCERPT_SAMPLES
        return int(rng.integers(0, room + 1)) if room > 0 else 0

    def _track_of(self, index: int, pool: list[int] | None = None, key: int = 0) -> int:
        """Track of example ``index``: every track of ``pool`` (default: all) once per pass."""
        pool = range(len(self.tracks)) if pool is None else pool
        n = len(pool)
        epoch, pos = divmod(index, n)
        perm = np.random.default_rng([self.seed, 0x7EAC + key, epoch]).permutation(n)
        return int(pool[int(perm[pos])])

    def _base_track(self, index: int) -> int:
        if self.partial_fraction is None:
            return self._track_of(index)
        partial = np.random.default_rng([self.seed, 0xACC, int(index)]).random() < self.partial_fraction
        return self._track_of(index, self._partial if partial else self._full, 1 + int(partial))

    def plan(self, index: int) -> ExcerptPlan:
        """The random choices of example ``index`` (no audio read)."""
        if index < 0:
            raise ValueError(f"example index must be >= 0, got {index}")
        a = self.augment
        rng = np.random.default_rng([self.seed, int(index)])
        base = self._base_track(index)
        full = self.tracks[base].full
        base_start = self._random_start(rng, self.tracks[base])
        tracks, starts, gains, swaps = [], [], [], []
        for j in range(N_STEMS if full else 2):
            # a full example remixes among full tracks; an accompaniment example takes its
            # vocals (row 0 in every track) from any track, its accompaniment from its own
            if full:
                pool = self._full
            else:
                pool = range(len(self.tracks)) if j == 0 else None
            if pool and a.remix_prob > 0 and rng.random() < a.remix_prob:
                t = int(pool[int(rng.integers(len(pool)))])
                s = self._random_start(rng, self.tracks[t])
            else:
                t, s = base, base_start
            tracks.append(t)
            starts.append(s)
            gains.append(float(rng.uniform(a.gain_min, a.gain_max)))
            swaps.append(bool(a.channel_swap_prob > 0 and rng.random() < a.channel_swap_prob))
        return ExcerptPlan(tuple(tracks), tuple(starts), tuple(gains), tuple(swaps), full)

    def stems(self, index: int) -> tuple[np.ndarray, bool]:
        """The augmented stem excerpts of example ``index``.

        Returns
        -------
        stems : np.ndarray [shape=(4, EXCERPT_SAMPLES, 2), dtype=float32]
            In STEMS order; for an accompaniment example vocals, accompaniment, zeros.
        full : bool
            Every stem known (module docstring).
        """
        p = self.plan(index)
        out = np.zeros((N_STEMS, EXCERPT_SAMPLES, N_CHANNELS), dtype=np.float32)
        for j in range(len(p.tracks)):
            x = read_excerpt(self.tracks[p.tracks[j]].stem_paths[j], p.starts[j], EXCERPT_SAMPLES)
            if p.swaps[j]:
                x = x[:, ::-1]
            np.multiply(x, np.float32(p.gains[j]), out=out[j])
        return out, p.full

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """Example ``index``: mixture magnitudes, the sampler's targets, and whether
        every stem is known.

        Returns
        -------
        x : np.ndarray [shape=(1024, 192, 2), dtype=float32]
            Magnitudes of the sum of the augmented stems.
        y : np.ndarray [shape=(4, 1024, 192, 2), dtype=float32]
            The target of each augmented stem, in STEMS order (``self.target``); for
            an accompaniment example: vocals, accompaniment, zeros.
        full : np.float32
            1 for a fully labelled example, 0 for an accompaniment example.
        """
        s, full = self.stems(index)
        x, y = examples_from_stems(s, target=self.target)
        return x, y, np.float32(full)


def examples_from_stems(stems: np.ndarray, *, target: str = "magnitude") -> tuple[np.ndarray, np.ndarray]:
    """Input magnitudes and targets of one excerpt's stems.

    Parameters
    ----------
    stems : np.ndarray [shape=(4, EXCERPT_SAMPLES, 2), dtype=float32]
    target : str
        ``"magnitude"`` or ``"phase_sensitive"`` (module docstring).

    Returns
    -------
    x : np.ndarray [shape=(1024, 192, 2), dtype=float32] — |STFT| of the stems' sum.
    y : np.ndarray [shape=(4, 1024, 192, 2), dtype=float32] — |STFT| of each stem, or
        its phase-sensitive target ``Re(S_j conj(X)) / |X|`` (0 where ``X`` is 0).
    """
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
    mix = excerpt_spectra(stems.sum(axis=0, dtype=np.float32))
    x = np.abs(mix)
    y = np.empty((N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), dtype=np.float32)
    if target == "phase_sensitive":
        # unit phasors of the mixture (0 where it is silent)
        phase = np.divide(np.conj(mix), x, out=np.zeros_like(mix), where=x > 0)
    for j in range(N_STEMS):
        spec = excerpt_spectra(stems[j])
        y[j] = np.abs(spec) if target == "magnitude" else (spec * phase).real
    return x, y


# ----------------------------------------------------------------------------------
# Validation excerpts
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidationExcerpt:
    """A fixed excerpt of a validation track, held in memory.

    Attributes
    ----------
    track : str
        The track name.
    start : int
        First sample in the track.
    stems : np.ndarray [shape=(4, n, 2), dtype=float32]
        The stems in STEMS order (no augmentation).
    """

    track: str
    start: int
    stems: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems: np.ndarray [shape=(n, 2), dtype=float32]."""
        return self.stems.sum(axis=0, dtype=np.float32)


def validation_excerpts(tracks: list[Track], *, n_excerpts: int = 4, seconds: float = 10.0
                        ) -> list[ValidationExcerpt]:
    """Up to ``n_excerpts`` fixed excerpts of ``seconds`` each, spread over ``tracks``.

    Deterministic: excerpt ``k`` comes from track ``k % len(tracks)``; the excerpts of
    one track are spaced evenly through it (the middle for a single one). A track
    shorter than ``seconds`` is taken whole. Fewer excerpts than asked are returned
    when there are fewer tracks*positions than that (never the same excerpt twice).
    """
    if not tracks or n_excerpts <= 0:
        return []
    if seconds <= 0:
        raise ConfigError(f"validation excerpt length must be > 0 s, got {seconds}")
    want = int(round(seconds * SAMPLE_RATE))
    per_track: dict[int, int] = {}
    for k in range(n_excerpts):
        per_track[k % len(tracks)] = per_track.get(k % len(tracks), 0) + 1
    out = []
    for ti, count in sorted(per_track.items()):
        t = tracks[ti]
        n = min(want, t.n_samples)
        room = t.n_samples - n
        count = 1 if room == 0 else count
        for c in range(count):
            start = int(room * (c + 1) / (count + 1)) if room > 0 else 0
            start = min(room, start)
            stems = np.stack([read_excerpt(p, start, n) for p in t.stem_paths])
            out.append(ValidationExcerpt(track=t.name, start=start, stems=stems))
    return out


__all__ = [
    "EXCERPT_SAMPLES", "FRAME_OFFSET", "Track", "find_tracks", "split_tracks", "dataset_hours",
    "read_excerpt", "TARGETS", "excerpt_spectra", "excerpt_magnitudes", "AugmentConfig", "ExcerptPlan",
    "ExampleSampler", "examples_from_stems", "ValidationExcerpt",
    "validation_excerpts",
]
