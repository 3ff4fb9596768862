"""A composed song as data: its sections, parts, singer, sung lines and mix settings.

:class:`Song` holds every note, drum hit and sung word with its time in seconds, plus
the settings the renderers and the mixer use; :func:`~rtsep.training.synth.arrangement.compose_song`
makes one, and ``Song.manifest()`` describes it. No audio here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from rtsep.training.synth import grooves
from rtsep.training.synth.parts import Harmony, Note
from rtsep.training.synth.styles import GM_NAMES
from rtsep.training.synth.theory import NOTE_NAMES, Grid


class VocalNote(NamedTuple):
    """A sung note: seconds, MIDI pitch, the word (``""`` continues the previous
    word's vowel: a melisma), loudness 0..1, and whether a phrase starts here."""

    start_s: float
    dur_s: float
    pitch: int
    word: str
    loudness: float
    phrase_start: bool


@dataclass(frozen=True)
class Section:
    """A span of bars with the stems that play in it (the others rest)."""

    name: str
    start_bar: int
    n_bars: int
    stems: tuple[str, ...]
    intensity: int


@dataclass(frozen=True)
class PartFx:
    """Insert effects of one instrument part (0 disables a value)."""

    hpf_hz: float = 0.0
    lpf_hz: float = 0.0
    drive_db: float = 0.0
    chorus: float = 0.0
    delay_s: float = 0.0
    delay_mix: float = 0.0
    comp_ratio: float = 1.0
    tilt_db: float = 0.0
    haas_s: float = 0.0
    ir: str = ""  # a recorded amp/cabinet or guitar-tone response (guitarix)
    ir_mix: float = 1.0  # 1: through the response only; less: in parallel with the dry part


@dataclass(frozen=True)
class Part:
    """One General MIDI part (bass, an accompaniment part, or the GM drums)."""

    name: str
    stem: str
    role: str
    program: int
    notes: tuple[Note, ...]
    pedal: tuple[tuple[float, int], ...] = ()
    modwheel: bool = False
    pan: float = 0.0
    gain_db: float = 0.0
    fx: PartFx = PartFx()
    source: str = "gm"  # "gm" (FluidSynth), "strums" (real guitar strums), "avl" (AVL kit),
    # "ambi_choir" (sonic-pi's sung vowel); GM choir parts are "gm" in the vocals stem


@dataclass(frozen=True)
class Singer:
    """Who sings and how: espeak-ng voice, formant shift, vibrato, etc."""

    voice: str
    gender: str
    formant_shift: float
    vibrato_hz: float
    vibrato_cents: float
    vibrato_delay_s: float
    portamento_s: float
    scoop_prob: float
    breathiness: float
    drift_cents: float
    speed_wpm: int
    espeak_pitch: int
    breaths: bool
    hf_corner_hz: float
    hf_slope_db_oct: float
    hf_aperiodicity: float
    hf_bumps: tuple[tuple[float, float, float], ...]
    source: str = "espeak"  # "espeak" or "real" (a recorded speaker's syllables)
    speaker: str = ""  # voicebank key of the recorded speaker
    voice_sr: int = 22050  # the rate the singer is analysed and synthesised at
    speech_f0_hz: float = 0.0  # the speaker's median speaking pitch (measured)


@dataclass(frozen=True)
class VocalLine:
    """One sung line: the lead, a double, or a backing voice."""

    name: str
    notes: tuple[VocalNote, ...]
    pan: float
    gain_db: float
    detune_cents: float = 0.0
    shift_s: float = 0.0
    formant_offset: float = 0.0


@dataclass(frozen=True)
class MixSettings:
    """Levels, space and master processing of a song."""

    stem_gain_db: dict[str, float]
    reverb_rt60_s: float
    reverb_predelay_s: float
    reverb_send_db: dict[str, float]
    vocal_delay_s: float
    vocal_delay_mix: float
    master_threshold_db: float
    master_ratio: float
    master_release_s: float
    limiter_db: float
    peak_dbfs: float
    reverb_kind: str = "convolution"
    hall_kind: str = "none"  # a second shared reverb: "greathall" (recorded), "plate", "none"
    hall_send_db: dict[str, float] = field(default_factory=dict)
    sidechain_db: float = 0.0  # bass and other duck under the kick by this much
    sidechain_release_s: float = 0.15
    other_width: float = 1.0  # stereo width of the other stem (mid/side)


@dataclass(frozen=True)
class Song:
    """Everything needed to render one song (see the module docstring)."""

    seed: int
    index: int
    seconds: float
    style: str
    grid: Grid
    key_root: int
    mode: str
    sections: tuple[Section, ...]
    harmony: Harmony
    progressions: dict[str, str]
    groove: str
    kit: grooves.Kit
    drum_hits: tuple[grooves.DrumHit, ...]
    loop_bars: tuple[tuple[int, int], ...]
    parts: tuple[Part, ...]
    singer: Singer
    vocal_lines: tuple[VocalLine, ...]
    mix: MixSettings
    extra: dict = field(default_factory=dict)
    gm_font: str = "fluidr3"  # "fluidr3" or "musescore" (the General MIDI soundfont)
    real_kit: str = ""  # "hydrogen:<kit>", "avl:<sf2 path>" or "" (GM / sonic-pi drums)
    kit_choice: tuple[tuple[str, int], ...] = ()  # voice -> instrument index in the kit
    without: tuple[str, ...] = ()  # groups of real sources left out (sourcing.ABLATIONS)

    @property
    def name(self) -> str:
        return song_name(self.seed, self.index)

    @property
    def n_samples(self) -> int:
        return int(round(self.seconds * 44100))

    def section_times(self) -> list[tuple[str, float, float, tuple[str, ...]]]:
        """(name, start_s, end_s, active stems) per section, clipped to the song."""
        out = []
        for s in self.sections:
            t0 = self.grid.time(s.start_bar)
            t1 = min(self.grid.time(s.start_bar + s.n_bars), self.seconds)
            if t0 < self.seconds:
                out.append((s.name, t0, t1, s.stems))
        return out

    def manifest(self) -> dict:
        """A JSON-able description of the song's parameters."""
        r = lambda v, n=3: round(float(v), n)  # noqa: E731
        return {
            "name": self.name,
            "seed": self.seed,
            "index": self.index,
            "seconds": self.seconds,
            "style": self.style,
            "tempo_bpm": r(self.grid.tempo_bpm, 2),
            "beats_per_bar": self.grid.beats_per_bar,
            "swing": r(self.grid.swing),
            "key": f"{NOTE_NAMES[self.key_root]} {self.mode}",
            "progressions": self.progressions,
            "form": [
                {"section": n, "start_s": r(a), "end_s": r(b), "stems": list(st)}
                for n, a, b, st in self.section_times()
            ],
            "drums": {"groove": self.groove, **self.kit.to_dict(), "real_kit": self.real_kit,
                      "hits": len(self.drum_hits)},
            "gm_font": self.gm_font,
            "parts": [
                {"name": p.name, "stem": p.stem, "role": p.role, "program": p.program,
                 "instrument": GM_NAMES.get(p.program, f"program {p.program}") if p.stem != "drums"
                 else f"GM drum kit {p.program}", "notes": len(p.notes), "pan": r(p.pan, 2),
                 "gain_db": r(p.gain_db, 2), "drive_db": r(p.fx.drive_db, 1), "source": p.source,
                 "ir": p.fx.ir}
                for p in self.parts
            ],
            "vocals": {
                "singer": {k: (r(v) if isinstance(v, float) else
                               [[r(x, 1) for x in b] for b in v] if k == "hf_bumps" else v)
                           for k, v in self.singer.__dict__.items()},
                "lines": [{"name": ln.name, "notes": len(ln.notes), "pan": r(ln.pan, 2),
                           "gain_db": r(ln.gain_db, 2)} for ln in self.vocal_lines],
                "words": sorted({n.word for ln in self.vocal_lines for n in ln.notes if n.word}),
            },
            "mix": {
                "stem_gain_db": {k: r(v, 2) for k, v in self.mix.stem_gain_db.items()},
                "reverb_rt60_s": r(self.mix.reverb_rt60_s),
                "reverb_send_db": {k: r(v, 2) for k, v in self.mix.reverb_send_db.items()},
                "master_ratio": r(self.mix.master_ratio, 2),
                "master_threshold_db": r(self.mix.master_threshold_db, 2),
                "limiter_db": r(self.mix.limiter_db, 2),
                "reverb_kind": self.mix.reverb_kind,
                "hall_kind": self.mix.hall_kind,
                "hall_send_db": {k: r(v, 2) for k, v in self.mix.hall_send_db.items()},
                "sidechain_db": r(self.mix.sidechain_db, 2),
                "other_width": r(self.mix.other_width, 2),
                "peak_dbfs": r(self.mix.peak_dbfs, 2),
            },
        } | ({"without": list(self.without)} if self.without else {})


def song_name(seed: int, index: int) -> str:
    """Folder name of song ``index`` of a run with ``seed``."""
    return f"synth-{seed}-{index:05d}"
