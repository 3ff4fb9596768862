"""Training examples: random, augmented 192-frame excerpts of a dataset's tracks.

The tracks are listed by :mod:`rtsep.training.tracks`; every example reads its
excerpts in place (:mod:`rtsep.training.excerpts`: :data:`~rtsep.training.excerpts.EXCERPT_SAMPLES`
samples, 192 full STFT frames).

Partial labels
--------------
A dataset may also hold *accompaniment* tracks (:data:`rtsep.io.tracks.ACCOMPANIMENT_STEMS`:
``vocals`` and ``accompaniment``, the rest unknown): real instrumental music under
generated vocals. Their examples have ``full = 0``: their stems array holds the vocals
and the accompaniment in rows 0 and 1 (rows 2 and 3 zero), and the loss
(:mod:`rtsep.training.losses`) supervises the vocals and the *sum* of the other three
estimates only. ``partial_fraction`` sets the share of such examples (None: the
share of such tracks). Validation uses fully labelled tracks only.

Augmentations (all drawn from a generator seeded by ``(seed, example index)``, so
example ``i`` is the same whatever the number of workers or where training resumed):

- *remix*: with probability ``remix_prob`` a stem is taken from another random
  track, at its own random offset (otherwise from the example's track and offset);
- *gain*: every stem is scaled by a factor uniform in ``[gain_min, gain_max]``;
- *channel swap*: every stem's left/right are swapped with probability
  ``channel_swap_prob``;
- *silence* (source dropout): every stem is left out (gain 0) with probability
  ``silence_prob``, never all of an example's known stems: songs have instrumental
  intros and breaks, and a model that always heard vocals leaks the band into its
  vocals output where there are none (``rtsep eval --vocal-leakage``). An
  accompaniment example with its vocals left out is real instrumental music whose
  vocals target is silence.
- *instrumental* (accompaniment examples only): with probability ``instrumental_prob``
  the vocals are left out, so the example is the real instrumental music alone and the
  vocals target is silence (the case vocal leakage measures), drawn from a generator of
  its own so that 0 keeps the random stream of runs made before the option existed.

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

import numpy as np

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.errors import ConfigError, DatasetError
from rtsep.io.jsonio import check_fields
from rtsep.training.excerpts import EXCERPT_SAMPLES, excerpt_spectra, read_excerpt
from rtsep.training.tracks import Track

TARGETS = ("magnitude", "phase_sensitive")
"""Training targets an :class:`ExampleSampler` can make (module docstring)."""


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
    silence_prob : float
        Probability that a stem is left out (gain 0); 0 keeps the random stream of
        runs made before this option existed.
    instrumental_prob : float
        Probability that an accompaniment example leaves its vocals out (the music
        alone, vocals target silence), on top of ``silence_prob``.
    """

    gain_min: float = 0.25
    gain_max: float = 1.25
    channel_swap_prob: float = 0.5
    remix_prob: float = 0.5
    silence_prob: float = 0.0
    instrumental_prob: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 < self.gain_min <= self.gain_max):
            raise ConfigError(f"augment: need 0 < gain_min <= gain_max, got "
                              f"gain_min={self.gain_min}, gain_max={self.gain_max}")
        for name in ("channel_swap_prob", "remix_prob", "silence_prob", "instrumental_prob"):
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
        Linear gain per stem (0: the stem is left out).
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
        silent = np.zeros(len(gains), dtype=bool)
        if a.silence_prob > 0:
            silent = rng.random(len(gains)) < a.silence_prob
            silent[int(rng.integers(len(gains)))] &= not silent.all()  # one stem always sounds
        if not full and a.instrumental_prob > 0 and \
                np.random.default_rng([self.seed, 0x1257, int(index)]).random() < a.instrumental_prob:
            silent[:2] = (True, False)  # the music alone
        gains = [0.0 if s else g for g, s in zip(gains, silent)]
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
            if p.gains[j] == 0.0:
                continue  # left out (silence augmentation)
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


__all__ = ["TARGETS", "AugmentConfig", "ExcerptPlan", "ExampleSampler", "examples_from_stems"]
