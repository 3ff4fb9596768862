"""Mixing: part levels and inserts, stem buses, the shared room, the master bus.

The master bus keeps the stems an exact decomposition of the mixture: its
compressor computes ONE gain curve from the mixture and applies it to every
stem, and the final peak normalisation scales every stem by the same factor.
Stems are then rounded to the 16-bit grid, and the mixture is their integer sum,
so ``mixture == vocals + drums + bass + other`` holds exactly in the files.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from rtsep.constants import SAMPLE_RATE, STEMS
from rtsep.errors import RtsepError
from rtsep.training.synth import effects, instruments
from rtsep.training.synth.score import PartFx, Song

REFERENCE_RMS_DB = -20.0
FULL_SCALE = 32768
BACKING_FX = PartFx(hpf_hz=180.0, lpf_hz=9000.0, comp_ratio=3.0, tilt_db=-1.0)
"""Backing and double vocals: thinner and more distant than the lead."""


class NonFiniteAudioError(RtsepError):
    """A track's stems hold NaN or infinite samples: a rendering stage failed, and
    the track would be written as silence. ``stems`` names the stems affected."""

    def __init__(self, message: str, stems: tuple[str, ...] = ()):
        super().__init__(message)
        self.stems = tuple(stems)

    def __reduce__(self):  # picklable with its stems (raised in worker processes)
        return type(self), (str(self), self.stems)


def active_rms(x: np.ndarray, *, frame: int = 2048, floor_db: float = 40.0) -> float:
    """RMS over the frames within ``floor_db`` of the loudest (ignores rests).

    x : float (n,) or (n, c)
    """
    x2 = np.asarray(x, dtype=np.float64)
    if x2.ndim == 2:
        x2 = x2.mean(axis=1) if x2.shape[1] else x2[:, 0]
    n = len(x2) // frame
    if n == 0:
        return float(np.sqrt(np.mean(x2 ** 2))) if len(x2) else 0.0
    e = np.mean(x2[: n * frame].reshape(n, frame) ** 2, axis=1)
    if e.max() <= 0:
        return 0.0
    keep = e > e.max() * 10 ** (-floor_db / 10)
    return float(np.sqrt(e[keep].mean()))


def normalise(x: np.ndarray, rms_db: float = REFERENCE_RMS_DB) -> np.ndarray:
    """Scale so the active RMS is ``rms_db`` dBFS (silence stays silence)."""
    r = active_rms(x)
    if r <= 1e-9:
        return x
    return (x * np.float32(10 ** (rms_db / 20) / r)).astype(np.float32)


def db(v: float) -> np.float32:
    return np.float32(10 ** (v / 20))


def master_gain(mix: np.ndarray, *, threshold_db: float, ratio: float, release_s: float) -> np.ndarray:
    """A linked compressor's gain curve computed from the mixture.

    The threshold is relative to the 95th percentile of the 10 ms RMS envelope.

    mix : float32 (n, 2) -> float32 (n,) linear gain <= 1
    """
    if ratio <= 1.0:
        return np.ones(len(mix), dtype=np.float32)
    p = np.max(mix.astype(np.float64) ** 2, axis=1)
    a = np.exp(-1.0 / (0.01 * SAMPLE_RATE))
    env = np.sqrt(np.maximum(signal.lfilter([1 - a], [1, -a], p), 1e-20))
    ref = np.percentile(env, 95)
    over_db = 20 * np.log10(env / (ref * 10 ** (threshold_db / 20)))
    gr_db = np.minimum(0.0, over_db * (1.0 / ratio - 1.0))
    r = np.exp(-1.0 / (release_s * SAMPLE_RATE))
    gr_db = signal.lfilter([1 - r], [1, -r], gr_db)
    return (10 ** (gr_db / 20)).astype(np.float32)


def limiter_gain(mix: np.ndarray, reduction_db: float, *, window_s: float = 0.003,
                 release_db_per_s: float = 40.0) -> np.ndarray:
    """A linked brick-wall limiter's gain curve: peaks above ``reduction_db`` below
    the loudest are held at that ceiling, with a 3 ms look-around and a linear
    release in dB.

    mix : float32 (n, 2) -> float32 (n,) linear gain <= 1
    """
    if reduction_db <= 0.0:
        return np.ones(len(mix), dtype=np.float32)
    level = np.max(np.abs(mix), axis=1).astype(np.float64)
    ceiling = level.max() * 10 ** (-reduction_db / 20)
    if ceiling <= 0:
        return np.ones(len(mix), dtype=np.float32)
    size = max(3, int(window_s * SAMPLE_RATE) | 1)
    peak = ndimage.maximum_filter1d(level, size=size)
    need_db = np.minimum(0.0, 20 * np.log10(ceiling / np.maximum(peak, 1e-12)))
    # the smoothed curve stays below what every sample needs: average of a min filter
    need_db = ndimage.minimum_filter1d(need_db, size=size)
    need_db = ndimage.uniform_filter1d(need_db, size=size)
    # slow release: g[t] = min over s <= t of need[s] + rate * (t - s)
    rate = release_db_per_s / SAMPLE_RATE
    t = np.arange(len(need_db)) * rate
    g_db = np.minimum(need_db, np.minimum.accumulate(need_db - t) + t)
    return (10 ** (g_db / 20)).astype(np.float32)


def to_grid(stems: dict[str, np.ndarray], peak_dbfs: float) -> dict[str, np.ndarray]:
    """Scale all stems by one factor so no stem and not the mixture peaks above
    ``peak_dbfs``, round them to 16-bit values, and sum them into the mixture.

    Parameters
    ----------
    stems : stem name -> float (n, 2), all the same shape (a song's four stems, or an
        accompaniment track's vocals and accompaniment)

    Returns
    -------
    dict stem -> int16 (n, 2), plus "mixture" int16 (n, 2) == the integer sum

    Raises
    ------
    NonFiniteAudioError : a stem holds NaN or inf (its peak, hence the scale, would
        be NaN and every sample would round to the same garbage value)
    """
    bad = {s: x for s, x in stems.items() if not np.isfinite(x).all()}
    if bad:
        counts = ", ".join(f"{s} ({int(np.isnan(x).sum())} NaN, {int(np.isinf(x).sum())} inf "
                           f"of {x.size} samples)" for s, x in bad.items())
        raise NonFiniteAudioError(
            f"non-finite samples in stem(s) {counts}: a rendering stage produced NaN or inf; "
            "the track cannot be written (it would be silence). Report the seed and song "
            "index so the stage can be fixed.", tuple(bad))
    mix = sum(stems[s].astype(np.float64) for s in stems)
    peak = max([float(np.abs(mix).max())] + [float(np.abs(stems[s]).max()) for s in stems])
    scale = 10 ** (peak_dbfs / 20) / peak if peak > 0 else 1.0
    out = {}
    total = np.zeros(mix.shape, dtype=np.int32)
    for s in stems:
        q = np.round(stems[s].astype(np.float64) * scale * FULL_SCALE)
        q = np.clip(q, -FULL_SCALE + 1, FULL_SCALE - 1).astype(np.int32)
        total += q
        out[s] = q.astype(np.int16)
    if np.abs(total).max() >= FULL_SCALE:  # cannot happen below -0.1 dBFS; be explicit
        raise AssertionError("mixture beyond full scale after rounding")
    out["mixture"] = total.astype(np.int16)
    return out


def _hall(song: Song, rng: np.random.Generator) -> np.ndarray | None:
    """The song's second shared reverb: the recorded great hall, or a long plate."""
    if song.mix.hall_kind == "greathall":
        halls = instruments.impulse_responses().get("hall", ())
        if halls:
            return instruments.load_ir(halls[0])
    if song.mix.hall_kind in ("plate", "greathall"):
        return effects.make_ir(rng, float(rng.uniform(1.6, 3.2)), float(rng.uniform(0.01, 0.05)))
    return None


def sidechain_gain(song: Song, n: int) -> np.ndarray:
    """Ducking under the kick: -sidechain_db at each kick, recovering exponentially.

    Returns float32 (n,) linear gain <= 1.
    """
    kicks = sorted(h.time_s for h in song.drum_hits if h.voice == "kick")
    duck_db = np.zeros(n)
    t = np.arange(n) / SAMPLE_RATE
    attack = int(0.004 * SAMPLE_RATE)
    for k, tk in enumerate(kicks):
        a = int(tk * SAMPLE_RATE)
        b = int(kicks[k + 1] * SAMPLE_RATE) if k + 1 < len(kicks) else n
        if a >= n:
            break
        seg = -song.mix.sidechain_db * np.exp(-(t[a:b] - tk) / song.mix.sidechain_release_s)
        ramp = min(attack, b - a)
        seg[:ramp] *= np.linspace(0.0, 1.0, ramp)
        duck_db[a:b] = np.minimum(duck_db[a:b], seg)
    return (10 ** (duck_db / 20)).astype(np.float32)


def _instrument(part, x: np.ndarray) -> np.ndarray:
    """One pitched part's audio through its insert chain, amp/cabinet response,
    Haas widening, pan and gain: float32 (n, 2)."""
    x = normalise(x)
    x = effects.process(effects.part_chain(part.fx), x)
    if part.fx.ir:  # a recorded amp/cabinet or guitar-tone response
        wet = instruments.convolve(x, instruments.load_ir(part.fx.ir))
        wet = normalise(wet, 20 * np.log10(max(active_rms(x), 1e-9)))
        x = (np.float32(part.fx.ir_mix) * wet + np.float32(1.0 - part.fx.ir_mix) * x)
    if part.fx.haas_s > 0:
        x = effects.haas(x, part.fx.haas_s, int(np.sign(part.pan) or 1))
    return effects.pan_stereo(x, part.pan) * db(part.gain_db)


def _drum_stem(song: Song, stems: dict[str, np.ndarray], sampled_drums: np.ndarray,
               loop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The drums stem: the GM kit (already in ``stems``) + recorded one-shots, the loop
    on top at the kit's level, through the drum bus."""
    drums = stems["drums"] + sampled_drums
    kit_rms = active_rms(drums)
    if song.kit.loop is not None and np.any(loop):
        lr = active_rms(loop)
        if lr > 0:
            target = kit_rms if kit_rms > 0 else 10 ** (REFERENCE_RMS_DB / 20)
            drums += loop * np.float32(target / lr) * db(song.kit.loop.gain_db)
    return effects.process(effects.drum_bus(rng), normalise(drums))


def _vocal_stem(song: Song, voices: dict[str, np.ndarray], vox: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """The vocals stem: every sung line panned, levelled (backing lines through their
    own inserts) and added to ``vox`` (float32 (n, 2), in place), then the vocal chain."""
    chain = effects.vocal_chain(rng, song.mix.vocal_delay_s, song.mix.vocal_delay_mix)
    for line in song.vocal_lines:
        y = voices.get(line.name)
        if y is None:
            continue
        y = normalise(y.astype(np.float32))
        xs = effects.pan_stereo(y, line.pan) * db(line.gain_db)
        if line.name != "lead":
            xs = effects.process(effects.part_chain(BACKING_FX), xs)
        vox += xs
    return effects.process(chain, vox)


def _with_reverb(x: np.ndarray, send_db: float, hall_send_db: float, room, room_ir: np.ndarray | None,
                 hall: np.ndarray | None) -> np.ndarray:
    """A stem plus its sends to the shared room (``room``, an algorithmic one, or its
    response ``room_ir``) and hall: the convolved sends as ONE response (one convolution)."""
    irs = []
    if send_db > -60 and room_ir is not None:
        irs.append(room_ir * db(send_db))
    if hall is not None and hall_send_db > -60:
        irs.append(hall * db(hall_send_db))
    wet = np.zeros_like(x)
    if send_db > -60 and room_ir is None:
        wet += effects.process(room, x) * db(send_db)
    if irs:
        m = max(len(i) for i in irs)
        total = np.zeros((m, 2), dtype=np.float32)
        for i in irs:
            total[: len(i)] += i
        wet += effects.reverb(x, total)
    return (x + wet).astype(np.float32)


def _levels_and_rooms(song: Song, stems: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Sidechain ducking, the other stem's width, stem levels and the shared room and
    hall, in place."""
    room, room_ir = None, None
    if song.mix.reverb_kind == "algorithmic":
        room = effects.algorithmic_room(rng, song.mix.reverb_rt60_s)
    else:
        room_ir = effects.make_ir(rng, song.mix.reverb_rt60_s, song.mix.reverb_predelay_s)
    hall = _hall(song, rng)
    if song.mix.sidechain_db > 0:
        duck = sidechain_gain(song, song.n_samples)
        for s in ("bass", "other"):
            stems[s] = stems[s] * duck[:, None]
    if song.mix.other_width != 1.0:
        stems["other"] = effects.width(stems["other"], song.mix.other_width)
    for s in STEMS:
        x = normalise(stems[s]) * db(song.mix.stem_gain_db[s])
        if not np.any(x):
            stems[s] = x.astype(np.float32)
            continue
        stems[s] = _with_reverb(x, song.mix.reverb_send_db[s], song.mix.hall_send_db.get(s, -99.0),
                                room, room_ir, hall)


def _master(song: Song, stems: dict[str, np.ndarray]) -> None:
    """The master bus: one compressor and limiter gain curve for every stem, in place."""
    mix = sum(stems[s] for s in STEMS)
    g = master_gain(mix, threshold_db=song.mix.master_threshold_db, ratio=song.mix.master_ratio,
                    release_s=song.mix.master_release_s)
    mix = mix * g[:, None]
    g = g * limiter_gain(mix, song.mix.limiter_db)
    for s in STEMS:
        stems[s] = stems[s] * g[:, None]


def mix_song(song: Song, gm: dict[str, np.ndarray], sampled_drums: np.ndarray,
             loop: np.ndarray, voices: dict[str, np.ndarray],
             rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Mix the rendered sources of a song into its stems.

    Parameters
    ----------
    gm : part name -> float32 (n, 2) (FluidSynth output)
    sampled_drums, loop : float32 (n, 2)
    voices : vocal line name -> float32 (n,) mono

    Returns
    -------
    dict stem -> int16 (n, 2) and "mixture" (see :func:`to_grid`)
    """
    n = song.n_samples
    stems = {s: np.zeros((n, 2), dtype=np.float32) for s in STEMS}
    for part in song.parts:
        x = gm.get(part.name)
        if x is None:
            continue
        # the GM kit keeps its own balance (bus processing in _drum_stem)
        stems[part.stem] += x if part.stem == "drums" else _instrument(part, x)
    stems["drums"] = _drum_stem(song, stems, sampled_drums, loop, rng)
    stems["vocals"] = _vocal_stem(song, voices, stems["vocals"], rng)
    _levels_and_rooms(song, stems, rng)
    _master(song, stems)
    return to_grid(stems, song.mix.peak_dbfs)

