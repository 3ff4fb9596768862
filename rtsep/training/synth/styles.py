"""Song styles: the choices that make a song hang together.

A style biases every random choice of a song (tempo, meter, swing, grooves, drum
sources, bass programs and patterns, accompaniment roles and instruments, effects)
so that songs are coherent, while the whole table gives variety. Instrument numbers
are General MIDI programs (0-based); voice-like patches (choir aahs, voice oohs,
synth voice, voice lead, choir pad) are never used for accompaniment, so "voice"
only ever comes from the vocals stem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GM_NAMES: dict[int, str] = {
    0: "acoustic grand piano", 1: "bright piano", 2: "electric grand", 3: "honky-tonk piano",
    4: "rhodes piano", 5: "chorused piano", 6: "harpsichord", 7: "clavinet", 8: "celesta",
    10: "music box", 11: "vibraphone", 12: "marimba", 13: "xylophone", 16: "drawbar organ",
    17: "percussive organ", 18: "rock organ", 19: "church organ", 21: "accordion",
    22: "harmonica", 24: "nylon guitar", 25: "steel guitar", 26: "jazz guitar",
    27: "clean guitar", 28: "muted guitar", 29: "overdriven guitar", 30: "distortion guitar",
    32: "acoustic bass", 33: "fingered bass", 34: "picked bass", 35: "fretless bass",
    36: "slap bass 1", 37: "slap bass 2", 38: "synth bass 1", 39: "synth bass 2",
    40: "violin", 42: "cello", 45: "pizzicato strings", 46: "harp", 48: "string ensemble",
    49: "slow strings", 50: "synth strings 1", 51: "synth strings 2", 56: "trumpet",
    57: "trombone", 59: "muted trumpet", 60: "french horn", 61: "brass section",
    62: "synth brass 1", 63: "synth brass 2", 64: "soprano sax", 65: "alto sax",
    66: "tenor sax", 68: "oboe", 71: "clarinet", 73: "flute", 75: "pan flute",
    80: "square lead", 81: "saw lead", 84: "charang", 87: "bass and lead", 88: "new age pad",
    89: "warm pad", 90: "polysynth pad", 92: "bowed pad", 93: "metallic pad", 94: "halo pad",
    95: "sweep pad", 98: "crystal", 99: "atmosphere", 105: "banjo", 107: "koto",
    108: "kalimba", 110: "fiddle",
}
"""Names of the General MIDI programs the styles use (for manifests)."""

VOICE_LIKE_PROGRAMS = frozenset({52, 53, 54, 85, 91})
"""GM programs that sound like singing: never used outside the vocals stem."""

BASS_PATTERNS = ("root8", "root4", "rootfifth", "octave", "walking", "funk", "reggae",
                 "long", "pump", "syncopated")

ROLES = ("comp", "strum", "power", "arp", "pad", "stabs", "lead", "skank")


@dataclass(frozen=True)
class Style:
    """One style's ranges and pools (see the module docstring)."""

    name: str
    weight: float
    tempo: tuple[float, float]
    grooves: tuple[str, ...]
    gm_kits: tuple[int, ...]
    bass_programs: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    roles: tuple[str, ...]
    instruments: dict[str, tuple[int, ...]] = field(default_factory=dict)
    modes: tuple[str, ...] = ("major", "minor")
    meters: tuple[int, ...] = (4,)
    swing: tuple[float, float] = (0.0, 0.0)
    swing_unit: int = 16
    sample_drums: float = 0.4
    loops: float = 0.0
    distortion: float = 0.0
    reverb_s: tuple[float, float] = (0.4, 1.8)


# Default instrument pools per accompaniment role (styles override some).
ROLE_INSTRUMENTS: dict[str, tuple[int, ...]] = {
    "comp": (0, 1, 2, 4, 5, 16, 17, 18, 26, 27, 7, 21, 3),
    "strum": (24, 25, 25, 26, 27),
    "power": (29, 30, 27),
    "arp": (0, 4, 6, 11, 12, 46, 24, 25, 81, 98, 8, 10, 13, 108, 45, 107, 105),
    "pad": (48, 49, 50, 51, 88, 89, 90, 94, 95, 16, 19, 61, 92, 99),
    "stabs": (61, 62, 63, 56, 57, 81, 90, 48, 17),
    "lead": (65, 66, 64, 56, 73, 71, 80, 81, 29, 30, 40, 22, 68, 84, 59, 75),
    "skank": (27, 26, 16, 17, 4),
}

STYLES: tuple[Style, ...] = (
    Style("rock", 3.0, (88, 160), ("rock", "rock2", "halftime", "rock16"), (0, 8, 16),
          (33, 34, 33, 34, 35, 32), ("root8", "root8", "rootfifth", "octave", "syncopated"),
          ("power", "comp", "lead", "pad", "arp"),
          {"comp": (0, 18, 16, 27, 29), "lead": (29, 30, 81, 65, 18)},
          modes=("major", "minor", "mixolydian"), sample_drums=0.35, distortion=0.7,
          reverb_s=(0.5, 1.8)),
    Style("punk", 1.0, (140, 170), ("punk", "rock", "rock2"), (0, 16, 8),
          (34, 33, 34), ("root8",), ("power", "power", "comp", "lead"),
          {"comp": (29, 30, 18)}, modes=("major", "minor"), sample_drums=0.3,
          distortion=0.9, reverb_s=(0.3, 1.0)),
    Style("pop", 3.0, (80, 132), ("pop", "fourfloor", "rock", "halftime", "poprnb"),
          (0, 8, 24, 25), (33, 38, 39, 34, 35), ("root8", "root4", "octave", "syncopated", "pump"),
          ("comp", "pad", "arp", "strum", "stabs", "lead"), sample_drums=0.5, loops=0.1,
          reverb_s=(0.6, 2.2)),
    Style("ballad", 1.5, (70, 92), ("ballad", "halftime", "ballad"), (0, 8, 40),
          (33, 35, 32), ("long", "root4", "rootfifth"), ("comp", "pad", "arp", "strum", "lead"),
          {"comp": (0, 0, 1, 4, 2, 24, 25), "lead": (40, 73, 65, 42, 68)},
          sample_drums=0.3, reverb_s=(1.2, 2.8)),
    Style("funk", 1.5, (88, 120), ("funk", "funk2", "poprnb"), (0, 8, 16),
          (36, 37, 33, 38), ("funk", "syncopated", "octave"),
          ("comp", "stabs", "skank", "lead", "pad"),
          {"comp": (7, 4, 28, 27, 17), "skank": (28, 27, 7)}, modes=("dorian", "mixolydian", "minor"),
          swing=(0.0, 0.08), sample_drums=0.4, reverb_s=(0.3, 1.2)),
    Style("electronic", 2.0, (110, 140), ("fourfloor", "fourfloor", "electro", "poprnb"),
          (24, 25, 0), (38, 39, 87, 38), ("pump", "octave", "root8", "syncopated"),
          ("pad", "arp", "stabs", "lead", "comp"),
          {"comp": (90, 4, 81, 62), "lead": (80, 81, 84, 87, 62)}, modes=("minor", "major", "dorian"),
          sample_drums=0.75, loops=0.15, reverb_s=(0.8, 2.5)),
    Style("dnb", 0.7, (160, 170), ("dnb", "breaks"), (24, 25, 0), (38, 39, 33),
          ("long", "syncopated"), ("pad", "arp", "stabs", "lead"), modes=("minor", "dorian"),
          sample_drums=0.8, loops=0.7, reverb_s=(0.8, 2.5)),
    Style("hiphop", 1.5, (76, 100), ("hiphop", "hiphop2", "halftime"), (0, 25, 24),
          (38, 33, 39, 35), ("long", "syncopated", "root4"), ("comp", "pad", "arp", "stabs", "lead"),
          {"comp": (4, 0, 5, 11, 27)}, modes=("minor", "dorian"), swing=(0.0, 0.12),
          sample_drums=0.85, loops=0.25, reverb_s=(0.4, 1.5)),
    Style("folk", 1.5, (84, 140), ("folk", "rock", "ballad", "train"), (0, 8, 40),
          (32, 33, 35), ("rootfifth", "root4", "walking"), ("strum", "arp", "lead", "comp", "pad"),
          {"arp": (24, 25, 105, 46, 12, 0), "lead": (110, 22, 73, 40, 21, 75), "comp": (21, 0, 25)},
          modes=("major", "mixolydian", "minor"), meters=(4, 4, 3), sample_drums=0.3,
          reverb_s=(0.6, 2.0)),
    Style("jazz", 1.0, (96, 170), ("swing", "swing", "ballad"), (32, 40, 0),
          (32, 33, 35), ("walking",), ("comp", "lead", "pad", "stabs"),
          {"comp": (0, 4, 26, 11), "lead": (65, 66, 56, 59, 73, 71, 57), "stabs": (61, 56, 57, 65)},
          modes=("major", "dorian", "minor"), meters=(4, 4, 3), swing=(0.12, 0.17), swing_unit=8,
          sample_drums=0.15, reverb_s=(0.6, 2.0)),
    Style("acoustic", 1.5, (70, 132), ("folk", "ballad", "pop", "halftime"), (0, 8, 40),
          (32, 33, 35), ("root4", "rootfifth", "long", "root8"),
          ("strum", "strum", "arp", "comp", "pad", "lead"),
          {"arp": (24, 25, 46, 0, 105), "comp": (0, 24, 25, 21), "lead": (40, 73, 22, 71, 110),
           "pad": (48, 49, 42)}, modes=("major", "minor", "mixolydian"), meters=(4, 4, 3),
          sample_drums=0.1, reverb_s=(0.8, 2.4)),
    Style("reggae", 0.8, (70, 96), ("onedrop", "onedrop", "rock"), (0, 8),
          (33, 34, 38), ("reggae", "syncopated"), ("skank", "comp", "pad", "lead", "stabs"),
          {"comp": (16, 17, 4, 0)}, modes=("major", "minor"), swing=(0.0, 0.1),
          sample_drums=0.35, reverb_s=(0.6, 2.0)),
)


def style_by_name(name: str) -> Style:
    for style in STYLES:
        if style.name == name:
            return style
    raise KeyError(name)
