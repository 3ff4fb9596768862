"""Tracks with partial labels: generated vocals over REAL instrumental music.

``rtsep synth --kind accompaniment`` writes, per track, ``vocals.wav`` (a singer of
:mod:`~rtsep.training.synth.vocals`, real recorded voices as in full songs, with the
vocal chain and room), ``accompaniment.wav`` (an excerpt of a real instrumental
recording from the Debian game-music packages) and ``mixture.wav``, their exact
integer sum. Drums, bass and other inside the accompaniment are unknown: the manifest
says ``"stems_known": ["vocals", "accompaniment"]``.

The melody is sung in the excerpt's key (estimated from its chroma); its tempo is not
matched. Files that hold a voice are excluded by the vocal check
(:mod:`~rtsep.training.synth.vocalcheck`). Packages are held out (``--held-out``,
:data:`HELD_OUT_DEFAULT` by default): training tracks never use them; ``--split
held-out`` writes tracks from them alone, for measuring vocal leakage.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf
import soxr

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import ConfigError, DatasetError
from rtsep.training.synth import effects, mixing, sources, vocals
from rtsep.training.synth.arrangement import compose_song

HELD_OUT_DEFAULT = ("supertux-data", "hedgewars-data")
"""Accompaniment packages kept out of training unless ``--held-out`` says otherwise: two
packages of other composers and styles (chiptune/electronic; orchestral/world/rock), so
leakage is measured on music that no training track drew from."""
MUSIC_DEFAULT = ("wesnoth-1.16-music", "warzone2100-music", "singularity-music", "hyperrogue-music",
                 "asc-music")
"""The packages the train split draws from unless ``--music`` says otherwise: those of the
first survey, from which every training set of the model cards so far was made (so a seed
gives the same tracks whatever else is installed); ``--music all`` draws from every
accompaniment package that is not held out, those of the later surveys included."""
MIN_FILE_S = 30.0
EDGE_S = 4.0
ACC_FILES = ("vocals", "accompaniment", "mixture")
STEMS_KNOWN = ("vocals", "accompaniment")
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class MusicFile:
    path: str
    package: str
    seconds: float


def packages() -> tuple[str, ...]:
    """Accompaniment packages known to the inventory, installed or not."""
    return tuple(p.name for p in sources.PACKAGES if p.kind == "accompaniment")


@functools.lru_cache(maxsize=1)
def catalogue() -> tuple[MusicFile, ...]:
    """Installed real instrumental recordings at least :data:`MIN_FILE_S` long."""
    out = []
    for pkg in packages():
        for path in sources.package_files(pkg):
            try:
                info = sf.info(path)
            except (RuntimeError, OSError):
                continue
            dur = info.frames / info.samplerate
            if dur >= MIN_FILE_S:
                out.append(MusicFile(path, pkg, float(dur)))
    return tuple(out)


def music_packages(split: str, held_out: tuple[str, ...],
                   music: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The packages a split draws from: "held-out", the ``held_out`` ones; "train",
    ``music`` (default :data:`MUSIC_DEFAULT` less the held-out ones; ``("all",)``: every
    accompaniment package that is not held out). Raises ConfigError for an unknown
    package, a ``music`` package that is held out, or ``music`` with the held-out split."""
    if split not in ("train", "held-out"):
        raise ConfigError(f"--split must be 'train' or 'held-out', got {split!r}")
    for opt, names in (("--held-out", held_out), ("--music", music or ())):
        unknown = [p for p in names if p not in packages() and not (opt == "--music" and p == "all")]
        if unknown:
            raise ConfigError(f"{opt} {', '.join(unknown)} is not an accompaniment package "
                              f"(known: {', '.join(packages())})")
    if split == "held-out":
        if music:
            raise ConfigError("--music chooses the train split's packages; the held-out split "
                              "draws from the --held-out ones")
        return tuple(held_out)
    if not music:
        return tuple(p for p in MUSIC_DEFAULT if p not in held_out)
    if "all" in music:
        return tuple(p for p in packages() if p not in held_out)
    both = [p for p in music if p in held_out]
    if both:
        raise ConfigError(f"--music {', '.join(both)} is held out (--held-out); a package "
                          "cannot be both")
    return tuple(dict.fromkeys(music))


def pool(split: str, held_out: tuple[str, ...], excluded: frozenset[str],
         music: tuple[str, ...] | None = None) -> tuple[MusicFile, ...]:
    """The files a split draws from (the packages of :func:`music_packages`), less the
    files the vocal check excluded, in the catalogue's order."""
    names = music_packages(split, held_out, music)
    files = [f for f in catalogue() if f.path not in excluded and f.package in names]
    if not files:
        raise DatasetError(f"no real instrumental music installed for split {split!r} (held out: "
                           f"{', '.join(held_out) or 'none'}); install the packages with "
                           "'bash bootstrap.sh data'")
    return tuple(files)


def read_excerpt(path: str, start_s: float, seconds: float) -> np.ndarray:
    """``seconds`` of a recording from ``start_s``, float32 (n, 2) at 44.1 kHz."""
    with sf.SoundFile(path) as fh:
        sr = fh.samplerate
        fh.seek(int(start_s * sr))
        x = fh.read(int(np.ceil(seconds * sr)) + 64, dtype="float32", always_2d=True)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    n = int(round(seconds * SAMPLE_RATE))
    if len(x) < n:
        x = np.pad(x, ((0, n - len(x)), (0, 0)))
    return np.ascontiguousarray(x[:n])


def estimate_key(x: np.ndarray) -> tuple[int, str]:
    """(root pitch class, "major"/"minor") from a chroma of x (n, 2) (Krumhansl profiles)."""
    mono = x.mean(axis=1)
    n_fft = 8192
    hop = 4096
    frames = max(1, (len(mono) - n_fft) // hop)
    chroma = np.zeros(12)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    ok = (freqs > 60) & (freqs < 2000)
    pc = (np.round(12 * np.log2(freqs[ok] / 440.0)).astype(int) + 9) % 12
    win = np.hanning(n_fft)
    for i in range(0, frames, 2):
        seg = mono[i * hop: i * hop + n_fft]
        if len(seg) < n_fft:
            break
        mag = np.abs(np.fft.rfft(seg * win))[ok]
        chroma += np.bincount(pc, weights=mag, minlength=12)
    best = (-2.0, 0, "major")
    for root in range(12):
        for mode, prof in (("major", MAJOR), ("minor", MINOR)):
            c = np.corrcoef(np.roll(prof, root), chroma)[0, 1] if chroma.any() else 0.0
            if c > best[0]:
                best = (c, root, mode)
    return best[1], best[2]


def track_name(seed: int, index: int, split: str) -> str:
    return f"acc{'-heldout' if split == 'held-out' else ''}-{seed}-{index:05d}"


def render_track(seed: int, index: int, seconds: float, files: tuple[MusicFile, ...],
                 resources, split: str = "train") -> tuple[dict, dict[str, np.ndarray]]:
    """One partially labelled track: (manifest entry, {"vocals", "accompaniment",
    "mixture"}: int16 (n, 2), mixture == vocals + accompaniment exactly).

    Depends only on (seed, index, seconds, split) and the installed packages.
    """
    import tempfile

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 7]))
    weights = np.array([f.seconds for f in files])
    mf = files[int(rng.choice(len(files), p=weights / weights.sum()))]
    span = max(0.0, mf.seconds - seconds - 2 * EDGE_S)
    start_s = round(EDGE_S + float(rng.uniform(0.0, span)), 3) if span > 0 else 0.0
    acc = read_excerpt(mf.path, start_s, seconds)
    root, mode = estimate_key(acc)
    # the singer and the melody of a composed song, moved into the excerpt's key
    song = compose_song(seed, index, seconds)
    shift = ((root - song.key_root + 6) % 12) - 6
    lines = tuple(replace(ln, notes=tuple(nt._replace(pitch=nt.pitch + shift) for nt in ln.notes))
                  for ln in song.vocal_lines)
    used = {mf.path}
    r_voc, r_mix = (np.random.default_rng(s) for s in
                    np.random.SeedSequence([int(seed), int(index), 8]).spawn(2))
    with tempfile.TemporaryDirectory(prefix="rtsep-acc-") as tmp:
        voices = vocals.render_vocals(lines, song.singer, seconds, resources, tmp, r_voc, used)
    n = int(round(seconds * SAMPLE_RATE))
    vox = np.zeros((n, 2), dtype=np.float32)
    for ln in lines:
        y = voices.get(ln.name)
        if y is None:
            continue
        xs = effects.pan_stereo(mixing.normalise(y.astype(np.float32)), ln.pan) * mixing.db(ln.gain_db)
        if ln.name != "lead":
            xs = effects.process(effects.part_chain(mixing.BACKING_FX), xs)
        vox += xs
    vox = effects.process(effects.vocal_chain(r_mix, song.mix.vocal_delay_s, song.mix.vocal_delay_mix), vox)
    vox = mixing.normalise(vox)
    ir = effects.make_ir(r_mix, song.mix.reverb_rt60_s, song.mix.reverb_predelay_s)
    vox = vox + effects.reverb(vox, ir) * mixing.db(song.mix.reverb_send_db["vocals"])
    vocal_db = float(rng.normal(0.0, 3.0))  # vocals relative to the accompaniment
    stems = {"vocals": mixing.normalise(vox) * mixing.db(vocal_db),
             "accompaniment": mixing.normalise(acc)}
    mix = stems["vocals"] + stems["accompaniment"]
    g = mixing.master_gain(mix, threshold_db=song.mix.master_threshold_db,
                           ratio=song.mix.master_ratio, release_s=song.mix.master_release_s)
    g = g * mixing.limiter_gain(mix * g[:, None], song.mix.limiter_db)
    stems = {k: v * g[:, None] for k, v in stems.items()}
    audio = mixing.to_grid(stems, song.mix.peak_dbfs)
    lic = sources.licence(mf.path, mf.package)[0]
    entry = {
        "name": track_name(seed, index, split), "kind": "accompaniment", "split": split,
        "seed": int(seed), "index": int(index), "seconds": float(seconds),
        "stems_known": list(STEMS_KNOWN),
        "accompaniment": {"path": mf.path, "package": mf.package, "licence": lic,
                          "start_s": start_s, "key": f"{root} {mode}"},
        "vocals": {"singer": song.singer.speaker or song.singer.voice,
                   "source": song.singer.source, "gender": song.singer.gender,
                   "transpose": int(shift), "level_db": round(vocal_db, 2)},
        "sources": sources.describe(used),
    }
    return entry, audio
