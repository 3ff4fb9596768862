"""One song, end to end: compose, render every source, mix.

:func:`render_song` is the function a worker runs; its output depends only on
``(seed, index, seconds)`` and the installed resources.
"""

from __future__ import annotations

import tempfile

import numpy as np

from rtsep.constants import STEMS
from rtsep.errors import ConfigError
from rtsep.training.synth import fluid, mixing, samples, vocals
from rtsep.training.synth.arrangement import MAX_SECONDS, MIN_SECONDS, Song, compose_song
from rtsep.training.synth.resources import Resources, find_resources


def check_song_args(seed: int, index: int, seconds: float) -> None:
    """Raise :class:`ConfigError` for arguments no song can be made from."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ConfigError(f"song index must be a non-negative integer, got {index!r}")
    if not isinstance(seconds, (int, float, np.floating, np.integer)) or not np.isfinite(seconds) \
            or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ConfigError(f"song length must be between {MIN_SECONDS:g} and {MAX_SECONDS:g} "
                          f"seconds, got {seconds!r}")


def render_song_int16(seed: int, index: int, seconds: float, *,
                      resources: Resources | None = None) -> tuple[Song, dict[str, np.ndarray]]:
    """Render song ``index`` of the run with ``seed``, on the 16-bit grid.

    Returns
    -------
    song : the composition (its ``manifest()`` describes it)
    audio : dict "vocals", "drums", "bass", "other", "mixture" -> int16 (n, 2),
        n = round(seconds * 44100); mixture is exactly the integer sum of the stems
    """
    check_song_args(seed, index, seconds)
    res = resources or find_resources()
    song = compose_song(seed, index, float(seconds))
    # render-time randomness (reverb noise, breaths, air...) from its own stream
    render_ss = np.random.SeedSequence([int(seed), int(index), 1])
    r_voc, r_mix = (np.random.default_rng(s) for s in render_ss.spawn(2))
    n = song.n_samples
    with tempfile.TemporaryDirectory(prefix="rtsep-synth-") as tmp:
        gm = fluid.render_parts(list(song.parts), song.seconds, res, tmp)
        voices = vocals.render_vocals(song.vocal_lines, song.singer, song.seconds, res, tmp, r_voc)
    drums = samples.render_sampled_drums(song.kit, song.drum_hits, n)
    loop = np.zeros((n, 2), dtype=np.float32)
    if song.kit.loop is not None:
        loop = samples.render_loop(song.kit.loop, song.loop_bars, song.grid.time,
                                   song.grid.beats_per_bar, song.grid.beat_s, n)
    audio = mixing.mix_song(song, gm, drums, loop, voices, r_mix)
    return song, audio


def render_song(seed: int, index: int, seconds: float, *,
                resources: Resources | None = None) -> dict[str, np.ndarray]:
    """Render one song's stems and mixture.

    Parameters
    ----------
    seed : run seed (non-negative int)
    index : song number within the run (non-negative int)
    seconds : length in seconds (2 .. 600)

    Returns
    -------
    dict "vocals", "drums", "bass", "other", "mixture" -> float32 (n, 2) at 44.1 kHz,
    n = round(seconds * 44100). Values are multiples of 1/32768 (16-bit exact), so
    the mixture equals the float32 sum of the four stems exactly, and nothing
    peaks above -1 dBFS (plus at most 2/32768 of rounding).
    """
    _, audio = render_song_int16(seed, index, seconds, resources=resources)
    scale = np.float32(1.0 / mixing.FULL_SCALE)
    return {k: audio[k].astype(np.float32) * scale for k in STEMS + ("mixture",)}
