"""Real drum kits: Hydrogen kits (XML + recorded samples) with velocity layers and
round robin, and the AVL kits (SF2, rendered by FluidSynth, see :mod:`fluid`).

A Hydrogen kit (``drumkit.xml`` from ``hydrogen-data`` / ``hydrogen-drumkits``) lists
instruments, each with layers (a sample per velocity range). Instruments are mapped
to the generator's drum voices by name (``kick``, ``snare``, ``chh`` …); a hit picks
the layers whose range holds its velocity and, when several do (or neighbouring ones
are close), cycles through them (round robin), so repeated hits never repeat one
recording exactly.
"""

from __future__ import annotations

import functools
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from rtsep.constants import SAMPLE_RATE
from rtsep.training.synth import grooves, sources

KITS_ROOT = "/usr/share/hydrogen/data/drumkits"
ACOUSTIC_KITS = ("GMRockKit", "The Black Pearl 1.0", "ForzeeStereo", "Millo_MultiLayered2",
                 "Millo_MultiLayered3", "ColomboAcousticDrumkit", "rumpf_kit_z01_h2",
                 "BJA_Pacific", "Millo-Drums_v.1")
ELECTRONIC_KITS = ("TR808EmulationKit", "HardElectro1", "ElectricEmpireKit", "VariBreaks",
                   "Audiophob")
AVL_KITS = ("Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2")
NEEDED = ("kick", "snare", "chh")

FALLBACK = {"phh": ("chh",), "ohh": ("chh",), "ride": ("chh", "crash"), "bell": ("ride", "chh"),
            "stick": ("snare",), "clap": ("snare",), "crash": ("ride", "ohh"),
            "tom_hi": ("tom_mid", "tom_lo"), "tom_mid": ("tom_hi", "tom_lo"),
            "tom_lo": ("tom_mid", "tom_hi"), "perc": ("stick", "chh")}
"""A voice the kit lacks is played by the first of these it has."""


@dataclass(frozen=True)
class Layer:
    path: str
    vmin: float
    vmax: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    name: str
    voice: str
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class HydrogenKit:
    name: str
    package: str
    acoustic: bool
    instruments: tuple[Instrument, ...]

    def voices(self) -> dict[str, tuple[Instrument, ...]]:
        out: dict[str, list[Instrument]] = {}
        for ins in self.instruments:
            out.setdefault(ins.voice, []).append(ins)
        return {k: tuple(v) for k, v in out.items()}


def voice_of(name: str) -> str | None:
    """The drum voice a Hydrogen instrument name plays (None: not a kit voice)."""
    n = name.lower()
    has = lambda *w: any(re.search(rf"(^|[^a-z]){x}", n) for x in w)  # noqa: E731
    if has("roll", "swish", "choke", "flink", "zap", "fx", "click"):
        return None
    if has("kick", "bass drum", "bassdrum", "bd"):
        return "kick"
    if has("stick", "rim click"):
        return "stick"
    if has("rimshot"):
        return None
    if has("snare"):
        return "snare"
    if has("clap"):
        return "clap"
    if has("hh", "hat", "hi-hat", "hihat"):
        if has("pedal", "pd"):
            return "phh"
        if has("open", "op", "semi"):
            return "ohh"
        return "chh"
    if has("ride") and has("bell", "cup"):
        return "bell"
    if has("ride"):
        return "ride"
    if has("crash", "splash", "cymbal"):
        return "crash"
    if has("tom"):
        if has("floor", "low", "lo", "16"):
            return "tom_lo"
        if has("hi", "high", "12", "1"):
            return "tom_hi"
        return "tom_mid"
    if has("cowbell", "tambourine", "shaker", "maraca", "clave", "conga", "bongo", "woodblock",
           "cajon"):
        return "perc"
    return None


def _text(el, tag: str, default: str = "") -> str:
    for child in el:
        if child.tag.split("}")[-1] == tag:
            return (child.text or "").strip()
    return default


def _children(el, tag: str):
    return [c for c in el.iter() if c.tag.split("}")[-1] == tag]


def parse_kit(folder: str, package: str) -> HydrogenKit | None:
    """Read one Hydrogen kit folder (None if unusable)."""
    path = os.path.join(folder, "drumkit.xml")
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    name = os.path.basename(folder)
    files = set(sources.package_files(package))
    instruments = []
    for ins in _children(root, "instrument"):
        iname = _text(ins, "name")
        voice = voice_of(iname)
        if voice is None:
            continue
        layers = []
        for lay in _children(ins, "layer"):
            f = os.path.join(folder, _text(lay, "filename"))
            if f in files:
                layers.append(Layer(f, float(_text(lay, "min", "0")), float(_text(lay, "max", "1")),
                                    float(_text(lay, "gain", "1"))))
        if not layers:  # the old format: one file per instrument
            f = os.path.join(folder, _text(ins, "filename"))
            if _text(ins, "filename") and f in files:
                layers.append(Layer(f, 0.0, 1.0, 1.0))
        if layers:
            instruments.append(Instrument(iname, voice, tuple(sorted(layers, key=lambda x: x.vmin))))
    kit = HydrogenKit(name, package, name in ACOUSTIC_KITS, tuple(instruments))
    have = kit.voices()
    if not all(v in have for v in NEEDED):
        return None
    return kit


@functools.lru_cache(maxsize=1)
def hydrogen_kits() -> tuple[HydrogenKit, ...]:
    """Installed, usable Hydrogen drum kits (acoustic and electronic), sorted by name."""
    kits = []
    for pkg in ("hydrogen-data", "hydrogen-drumkits"):
        folders = sorted({os.path.dirname(f) for f in sources.package_files(pkg)})
        for folder in folders:
            if os.path.basename(folder) in ACOUSTIC_KITS + ELECTRONIC_KITS:
                kit = parse_kit(folder, pkg)
                if kit is not None:
                    kits.append(kit)
    return tuple(sorted(kits, key=lambda k: k.name))


def kit_by_name(name: str) -> HydrogenKit:
    for k in hydrogen_kits():
        if k.name == name:
            return k
    raise KeyError(name)


@functools.lru_cache(maxsize=1)
def avl_kits() -> tuple[str, ...]:
    """Paths of the installed AVL drum soundfonts."""
    return tuple(f for f in sources.package_files("avldrums.lv2-soundfont")
                 if os.path.basename(f) in AVL_KITS and f.startswith("/usr/share/sounds/sf2"))


@functools.lru_cache(maxsize=1024)
def load_hit(path: str) -> np.ndarray:
    """A drum sample as float32 (n, 2) at 44.1 kHz (cached; do not modify)."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    x = np.ascontiguousarray(x)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=1024)
def _peak(path: str) -> float:
    return max(float(np.abs(load_hit(path)).max()), 1e-6)


def _pan_gains(pan: float) -> np.ndarray:
    angle = (pan + 1.0) * np.pi / 4.0
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(np.sqrt(2.0))


def render_hydrogen(kit_name: str, choice: dict[str, int], pans: dict[str, float],
                    hits: tuple[grooves.DrumHit, ...], n_samples: int,
                    rng: np.random.Generator, used: set | None = None) -> np.ndarray:
    """Play ``hits`` on a Hydrogen kit.

    choice : voice -> index of the kit's instrument for that voice (several kicks …)
    pans : voice -> pan -1..1

    Returns float32 (n_samples, 2).
    """
    kit = kit_by_name(kit_name)
    voices = kit.voices()
    out = np.zeros((n_samples, 2), dtype=np.float32)
    rr: dict[str, int] = {}
    hat_times = np.array([h.time_s for h in hits if h.voice in ("chh", "phh")])
    for h in hits:
        voice = h.voice
        if voice not in voices:
            voice = next((v for v in FALLBACK.get(voice, ()) if v in voices), None)
            if voice is None:
                continue
        cands = voices[voice]
        ins = cands[choice.get(voice, 0) % len(cands)]
        v = h.velocity / 127.0
        fit = [k for k, lay in enumerate(ins.layers) if lay.vmin - 1e-6 <= v <= lay.vmax + 1e-6]
        if not fit:
            fit = [int(np.argmin([min(abs(v - lay.vmin), abs(v - lay.vmax)) for lay in ins.layers]))]
        # round robin over the fitting layers and, now and then, a neighbour
        if len(fit) == 1 and len(ins.layers) > 1 and rng.random() < 0.3:
            k = fit[0] + int(rng.choice([-1, 1]))
            fit = [min(max(k, 0), len(ins.layers) - 1)]
        key = f"{voice}"
        k = fit[rr.get(key, 0) % len(fit)]
        rr[key] = rr.get(key, 0) + 1
        lay = ins.layers[k]
        x = load_hit(lay.path)
        if used is not None:
            used.add(lay.path)
        start = int(round(h.time_s * SAMPLE_RATE))
        if start >= n_samples:
            continue
        length = min(len(x), n_samples - start)
        if voice == "ohh" and len(hat_times):  # a closed hat chokes the open one
            later = hat_times[hat_times > h.time_s + 0.01]
            if len(later):
                length = min(length, int(round((later[0] - h.time_s) * SAMPLE_RATE)) + 441)
        loudest = max(_peak(la.path) for la in ins.layers)
        gain = (grooves.SAMPLE_PEAK.get(h.voice, 0.08) / loudest * lay.gain
                * (0.35 + 0.65 * v) * 10 ** (rng.normal(0.0, 0.6) / 20))
        seg = x[:length] * (_pan_gains(pans.get(h.voice, 0.0)) * np.float32(gain))
        if length < len(x):
            fade = min(441, length)
            seg[length - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        out[start:start + length] += seg
    return out
