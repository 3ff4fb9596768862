"""Which recorded sources a composed song is played with (the composition's last step).

:func:`realise` takes a song composed with General MIDI parts, espeak-ng or recorded
voices, and sonic-pi drums, and decides — from its own random stream, so the notes
stay as they were — what real recordings play it, among those installed:

- the General MIDI soundfont: MuseScore General (when installed) or FluidR3;
- the drum kit: a Hydrogen kit (acoustic kits for band styles, electronic ones for
  electronic styles) or an AVL kit (SF2), instead of the GM kit / sonic-pi one-shots;
- strum parts: real guitar strums; distorted guitars (and some basses) through a
  recorded amp/cabinet response, clean guitars through a guitar-tone response;
- backing vocals: a choir (the soundfont's choir aahs / voice oohs, or sonic-pi's
  ambi_choir) instead of re-sung backing lines, in some songs;
- the mix: a second shared reverb (a recorded hall or a plate), sidechain ducking
  under the kick (electronic, hip-hop, some pop), stereo width of the other stem.

Everything depends only on the song's seed and index and the installed packages.

``song.without`` names groups of these sources to leave out (:data:`ABLATIONS`: what
``rtsep synth --without`` measures, an ablation). Every draw is still made, so the
other groups are chosen as they would be with them (but see ``compose_song`` for
"voices"); the named group falls back to what the generator used before it had real
recordings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rtsep.training.synth import drumkits, instruments, sources
from rtsep.training.synth.parts import Note

ELECTRONIC_STYLES = ("electronic", "dnb", "hiphop")
REAL_KIT_P = 0.8
MUSESCORE_P = 0.6
REAL_STRUM_P = 0.75
CHOIR_P = 0.45
SIDECHAIN_P = {"electronic": 0.7, "dnb": 0.5, "hiphop": 0.4, "pop": 0.25}
GUITARS = (24, 25, 26, 27, 28, 29, 30)

ABLATIONS = {
    "voices": "sung by espeak-ng voices instead of recorded speakers; no recorded choir",
    "kits": "General MIDI / sonic-pi drums instead of Hydrogen and AVL kits",
    "instruments": "FluidR3 instead of MuseScore General; no recorded strums, amp or tone responses",
    "mixing": "no second shared reverb (recorded hall or plate), no sidechain, stereo width 1",
}
"""Groups of real sources a song can be made without (``--without``), each with what
replaces it."""


def check_without(groups) -> tuple[str, ...]:
    """The groups of :data:`ABLATIONS` named by ``groups`` (an iterable of names), sorted,
    each once. Raises :class:`~rtsep.errors.ConfigError` for any other name."""
    from rtsep.errors import ConfigError

    if isinstance(groups, str):
        groups = (groups,)
    names = tuple(sorted(set(groups)))
    bad = [g for g in names if g not in ABLATIONS]
    if bad:
        raise ConfigError(f"--without: unknown source group(s) {', '.join(map(repr, bad))}; "
                          f"choose from {', '.join(ABLATIONS)}")
    return names


def musescore_font() -> str | None:
    fs = [f for f in sources.package_files("musescore-general-soundfont-lossless")
          if f.endswith(".sf2")]
    return fs[0] if fs else None


def _kit(rng: np.random.Generator, style_name: str, kit):
    """(real_kit, kit with its voices' source set, kit_choice)."""
    hydro = drumkits.hydrogen_kits()
    avl = drumkits.avl_kits()
    if not (hydro or avl) or rng.random() >= REAL_KIT_P:
        return "", kit, ()
    electronic = style_name in ELECTRONIC_STYLES and rng.random() < 0.7
    if electronic:
        pool = [k for k in hydro if not k.acoustic] or list(hydro)
        options = [("hydrogen", k.name) for k in pool]
    else:
        options = [("hydrogen", k.name) for k in hydro if k.acoustic] + [("avl", p) for p in avl]
        options = options or [("hydrogen", k.name) for k in hydro]
    if not options:
        return "", kit, ()
    kind, name = options[int(rng.integers(len(options)))]
    voices = {v: replace(kv, source=kind) for v, kv in kit.voices.items()}
    choice: list[tuple[str, int]] = []
    if kind == "hydrogen":
        have = drumkits.kit_by_name(name).voices()
        choice = [(v, int(rng.integers(len(have[v])))) for v in sorted(have)]
    return f"{kind}:{name}", replace(kit, voices=voices, mode=kind), tuple(choice)


def _ir(rng: np.random.Generator, which: str) -> str:
    pool = instruments.impulse_responses().get(which, ())
    return pool[int(rng.integers(len(pool)))] if pool else ""


def _parts(rng: np.random.Generator, style_name: str, parts: list) -> list:
    out = []
    have_strums = bool(instruments.strums())
    p_strum = REAL_STRUM_P + (0.15 if style_name in ("folk", "acoustic", "ballad") else 0.0)
    for part in parts:
        fx = part.fx
        if part.role == "strum" and have_strums and rng.random() < p_strum:
            part = replace(part, source="strums", fx=replace(fx, drive_db=0.0, chorus=0.0))
        elif part.stem == "other" and fx.drive_db > 0 and rng.random() < 0.85:
            ir = _ir(rng, "amps")
            if ir:
                part = replace(part, fx=replace(fx, ir=ir, ir_mix=1.0, lpf_hz=0.0))
        elif part.stem == "other" and part.program in GUITARS and rng.random() < 0.4:
            ir = _ir(rng, "bands")
            if ir:
                part = replace(part, fx=replace(fx, ir=ir, ir_mix=float(rng.uniform(0.3, 0.8))))
        elif part.stem == "bass" and fx.drive_db > 0 and rng.random() < 0.5:
            ir = _ir(rng, "amps")
            if ir:
                part = replace(part, fx=replace(fx, ir=ir, ir_mix=float(rng.uniform(0.25, 0.5))))
        out.append(part)
    return out


def _choir(rng: np.random.Generator, lines: list):
    """Backing lines sung by a recorded choir instead, in some songs: (lines, parts)."""
    from rtsep.training.synth.score import Part, PartFx

    backing = [ln for ln in lines if ln.name.startswith("backing") and ln.notes]
    if not backing or rng.random() >= CHOIR_P:
        return lines, []
    ambi = instruments.ambi_choir_path()
    source = "ambi_choir" if ambi and rng.random() < 0.3 else "gm"
    program = int(rng.choice([52, 53]))
    parts = []
    for ln in backing:
        notes = tuple(Note(n.start_s, n.dur_s, n.pitch, int(rng.integers(70, 96))) for n in ln.notes)
        parts.append(Part(name=f"choir_{ln.name}", stem="vocals", role="choir", program=program,
                          notes=notes, pan=ln.pan, gain_db=ln.gain_db,
                          fx=PartFx(hpf_hz=float(rng.uniform(120, 250)), comp_ratio=2.0),
                          source=source))
    return [ln for ln in lines if ln not in backing], parts


def _mix(rng: np.random.Generator, style_name: str, mix):
    hall = instruments.impulse_responses().get("hall", ())
    r = rng.random()
    kind = "greathall" if hall and r < 0.4 else ("plate" if r < 0.7 else "none")
    sends = {}
    if kind != "none":
        sends = {"vocals": float(rng.uniform(-22, -10)), "other": float(rng.uniform(-26, -12)),
                 "drums": float(rng.uniform(-36, -20))}
    side = float(rng.uniform(3.0, 9.0)) if rng.random() < SIDECHAIN_P.get(style_name, 0.0) else 0.0
    return replace(mix, hall_kind=kind, hall_send_db=sends, sidechain_db=side,
                   sidechain_release_s=float(rng.uniform(0.08, 0.25)),
                   other_width=float(np.clip(rng.normal(1.05, 0.2), 0.6, 1.5)))


def realise(song):
    """The song played by real recordings, but for the groups in ``song.without`` (see
    the module docstring)."""
    rng = np.random.default_rng(np.random.SeedSequence([song.seed, song.index, 2]))
    font = "musescore" if musescore_font() and rng.random() < MUSESCORE_P else "fluidr3"
    real_kit, kit, choice = _kit(rng, song.style, song.kit)
    parts = _parts(rng, song.style, list(song.parts))
    lines, choir = _choir(rng, list(song.vocal_lines))
    without = song.without
    if "kits" in without:
        real_kit, kit, choice = "", song.kit, ()
    if "instruments" in without:
        font, parts = "fluidr3", list(song.parts)
    if "voices" in without:
        lines, choir = list(song.vocal_lines), []
    avl = []
    if real_kit.startswith("avl:"):
        notes = tuple(Note(h.time_s, 0.12, kit.voices[h.voice].gm_note, h.velocity)
                      for h in song.drum_hits)
        avl = [_avl_part(notes)]
    parts = [p for p in parts if not (real_kit and p.name == "drums_gm")] + avl + choir
    return replace(song, gm_font=font, real_kit=real_kit, kit=kit, kit_choice=choice,
                   parts=tuple(parts), vocal_lines=tuple(lines),
                   mix=song.mix if "mixing" in without else _mix(rng, song.style, song.mix))


def _avl_part(notes):
    from rtsep.training.synth.score import Part

    return Part(name="drums_avl", stem="drums", role="kit", program=0, notes=notes, source="avl")
