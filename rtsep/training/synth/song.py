"""One song, end to end: compose, render every source, mix.

:func:`render_song` is the function a worker runs; its output depends only on
``(seed, index, seconds)`` and the installed resources.
"""

from __future__ import annotations

import tempfile

import numpy as np

from rtsep.constants import STEMS
from rtsep.errors import ConfigError
from rtsep.training.synth import drumkits, fluid, instruments, mixing, samples, sourcing, vocals
from rtsep.training.synth.arrangement import MAX_SECONDS, MIN_SECONDS, compose_song
from rtsep.training.synth.score import Song
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
                      resources: Resources | None = None,
                      used: set | None = None,
                      without: tuple[str, ...] = ()) -> tuple[Song, dict[str, np.ndarray]]:
    """Render song ``index`` of the run with ``seed``, on the 16-bit grid (``without``:
    groups of real sources left out, see :func:`compose_song`).

    Returns
    -------
    song : the composition (its ``manifest()`` describes it)
    audio : dict "vocals", "drums", "bass", "other", "mixture" -> int16 (n, 2),
        n = round(seconds * 44100); mixture is exactly the integer sum of the stems

    The recorded files the song used are added to ``used`` (a set), when given.
    """
    check_song_args(seed, index, seconds)
    res = resources or find_resources()
    song = compose_song(seed, index, float(seconds), without)
    used = used if used is not None else set()
    # render-time randomness (reverb noise, breaths, air...) from its own stream
    render_ss = np.random.SeedSequence([int(seed), int(index), 1])
    r_voc, r_mix, r_real = (np.random.default_rng(s) for s in render_ss.spawn(3))
    n = song.n_samples
    font = (sourcing.musescore_font() if song.gm_font == "musescore" else None) or res.soundfont
    gm_parts = [p for p in song.parts if p.source == "gm"]
    with tempfile.TemporaryDirectory(prefix="rtsep-synth-") as tmp:
        rendered = fluid.render_parts(gm_parts, song.seconds, res, tmp, soundfont=font)
        if gm_parts:
            used.add(font)
        for part in song.parts:
            if part.source == "avl":
                sf2 = song.real_kit.split(":", 1)[1]
                rendered.update(fluid.render_parts([part], song.seconds, res, tmp, soundfont=sf2,
                                                   drum_channel=0))
                used.add(sf2)
        voices = vocals.render_vocals(song.vocal_lines, song.singer, song.seconds, res, tmp, r_voc,
                                      used)
    for part in song.parts:
        if part.source == "strums":
            rendered[part.name] = instruments.render_strums(strum_events(song, part), n, r_real, used)
        elif part.source == "ambi_choir":
            path = instruments.ambi_choir_path()
            rendered[part.name] = instruments.render_pitched_sample(
                path, instruments.AMBI_CHOIR_PITCH, part.notes, n, used)
        if part.fx.ir:
            used.add(part.fx.ir)
    if song.real_kit.startswith("hydrogen:"):
        drums = drumkits.render_hydrogen(song.real_kit.split(":", 1)[1], dict(song.kit_choice),
                                         {v: kv.pan for v, kv in song.kit.voices.items()},
                                         song.drum_hits, n, r_real, used)
    else:
        drums = samples.render_sampled_drums(song.kit, song.drum_hits, n, used)
    loop = np.zeros((n, 2), dtype=np.float32)
    if song.kit.loop is not None:
        loop = samples.render_loop(song.kit.loop, song.loop_bars, song.grid.time,
                                   song.grid.beats_per_bar, song.grid.beat_s, n, used)
    audio = mixing.mix_song(song, rendered, drums, loop, voices, r_mix)
    return song, audio


def strum_events(song: Song, part) -> list[tuple[float, int, str, str, int]]:
    """A strum part's notes grouped into strums: (time_s, chord root pitch class,
    quality, direction, velocity). Notes starting within 60 ms of each other are one
    strum; rising pitches are a down stroke."""
    events = []
    group: list = []
    for note in sorted(part.notes, key=lambda x: x.start_s) + [None]:
        if group and (note is None or note.start_s - group[0].start_s > 0.06):
            t = group[0].start_s
            chord = song.harmony.chord_at(t / song.grid.bar_s)
            rising = len(group) < 2 or group[-1].pitch >= group[0].pitch
            events.append((t, chord.root, instruments.chord_quality(chord.intervals),
                           "down" if rising else "up", max(x.velocity for x in group)))
            group = []
        if note is not None:
            group.append(note)
    return events


def render_song(seed: int, index: int, seconds: float, *,
                resources: Resources | None = None,
                without: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Render one song's stems and mixture.

    Parameters
    ----------
    seed : run seed (non-negative int)
    index : song number within the run (non-negative int)
    seconds : length in seconds (2 .. 600)
    without : groups of real sources left out (:func:`compose_song`)

    Returns
    -------
    dict "vocals", "drums", "bass", "other", "mixture" -> float32 (n, 2) at 44.1 kHz,
    n = round(seconds * 44100). Values are multiples of 1/32768 (16-bit exact), so
    the mixture equals the float32 sum of the four stems exactly, and nothing
    peaks above -1 dBFS (plus at most 2/32768 of rounding).
    """
    _, audio = render_song_int16(seed, index, seconds, resources=resources, without=without)
    scale = np.float32(1.0 / mixing.FULL_SCALE)
    return {k: audio[k].astype(np.float32) * scale for k in STEMS + ("mixture",)}
