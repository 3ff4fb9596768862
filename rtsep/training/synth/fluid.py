"""General MIDI parts rendered with the FluidSynth command line, deterministically.

All parts of a song go into ONE MIDI file, one after another in time ("time
multiplexed"): part ``k`` plays in the segment starting at ``k * segment_s``, and
every segment ends with all-sound-off and a controller reset. One FluidSynth call
then renders the whole song (the 148 MB soundfont is loaded once), and the output
is cut back into parts. Segments last a multiple of 0.64 s = 28,224 samples, which
is a whole number of both MIDI milliseconds (the player's clock) and FluidSynth's
64-sample blocks, so every part sees the same timing grid.

Determinism: reverb and chorus are off, the soundfont is loaded fully before the
render (dynamic sample loading is NOT deterministic), and the output is 32-bit
float (no dither).
"""

from __future__ import annotations

import math
import os

import mido
import numpy as np
import soundfile as sf

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import RtsepError
from rtsep.training.synth.score import Part
from rtsep.training.synth.resources import Resources, run_tool

SEGMENT_QUANTUM_S = 0.64
TICKS_PER_BEAT = 1000
TEMPO_US = 1_000_000  # one beat per second: one tick per millisecond
GAIN = 0.25
TAIL_S = 0.6


class RenderError(RtsepError):
    """FluidSynth failed to render a song."""


def segment_seconds(seconds: float) -> float:
    """Length of one part's segment: the song plus a release tail, quantised."""
    return math.ceil((seconds + TAIL_S) / SEGMENT_QUANTUM_S) * SEGMENT_QUANTUM_S


def build_midi(parts: list[Part], seconds: float, *, drum_channel: int = 9) -> mido.MidiFile:
    """The time-multiplexed MIDI file for ``parts`` (see the module docstring)."""
    seg_ms = int(round(segment_seconds(seconds) * 1000))
    song_ms = int(round(seconds * 1000))
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0))
    meta.append(mido.MetaMessage("end_of_track", time=len(parts) * seg_ms))
    mid.tracks.append(meta)
    melodic = [c for c in range(16) if c != 9]
    for k, part in enumerate(parts):
        ch = drum_channel if part.stem == "drums" else melodic[k % len(melodic)]
        base = k * seg_ms
        events: list[tuple[int, int, mido.Message]] = []  # (tick, order, msg)

        def at(t_ms: int, order: int, msg: mido.Message) -> None:
            events.append((base + max(0, min(t_ms, seg_ms - 2)), order, msg))

        at(0, 0, mido.Message("control_change", channel=ch, control=121, value=0))
        at(0, 1, mido.Message("program_change", channel=ch, program=part.program))
        at(0, 2, mido.Message("control_change", channel=ch, control=7, value=100))
        at(0, 3, mido.Message("control_change", channel=ch, control=10, value=64))
        at(0, 4, mido.Message("control_change", channel=ch, control=11, value=127))
        for t_s, value in part.pedal:
            at(int(round(t_s * 1000)) + 1, 5, mido.Message("control_change", channel=ch, control=64, value=value))
        for n in part.notes:
            t0 = int(round(n.start_s * 1000)) + 1
            t1 = max(t0 + 5, int(round((n.start_s + n.dur_s) * 1000)) + 1)
            if t0 > song_ms:
                continue
            pitch = int(np.clip(n.pitch, 0, 127))
            at(t0, 7, mido.Message("note_on", channel=ch, note=pitch, velocity=int(n.velocity)))
            at(min(t1, song_ms + 200), 6, mido.Message("note_off", channel=ch, note=pitch, velocity=0))
            if part.modwheel and n.dur_s > 0.35:  # vibrato that grows on held notes
                for j, frac in enumerate((0.3, 0.5, 0.7, 0.9)):
                    tm = t0 + int(frac * (t1 - t0))
                    at(tm, 5, mido.Message("control_change", channel=ch, control=1, value=20 + 15 * j))
                at(t1, 5, mido.Message("control_change", channel=ch, control=1, value=0))
        end = song_ms + int(TAIL_S * 1000) - 100
        at(end, 8, mido.Message("control_change", channel=ch, control=64, value=0))
        at(end, 9, mido.Message("control_change", channel=ch, control=120, value=0))
        at(end, 9, mido.Message("control_change", channel=ch, control=123, value=0))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack()
        now = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    return mid


def render_parts(parts: list[Part], seconds: float, resources: Resources, workdir: str,
                 *, gain: float = GAIN, soundfont: str | None = None,
                 drum_channel: int = 9) -> dict[str, np.ndarray]:
    """Render every part with one FluidSynth call, with ``soundfont`` (default: the
    resources' GM soundfont). ``drum_channel`` 0 plays a drum part with bank 0
    program 0 (the AVL kits) instead of the GM percussion channel.

    Returns
    -------
    dict part name -> float32 (n_samples, 2), n_samples = round(seconds * 44100)
    """
    n = int(round(seconds * SAMPLE_RATE))
    if not parts:
        return {}
    seg = int(round(segment_seconds(seconds) * SAMPLE_RATE))
    midi_path = os.path.join(workdir, "parts.mid")
    wav_path = os.path.join(workdir, "parts.wav")
    build_midi(parts, seconds, drum_channel=drum_channel).save(midi_path)
    cmd = [resources.fluidsynth, "-ni", "-q", "-R", "0", "-C", "0", "-O", "float", "-T", "wav",
           "-o", "synth.dynamic-sample-loading=0", "-o", "synth.cpu-cores=1",
           "-r", str(SAMPLE_RATE), "-g", str(gain), "-F", wav_path, soundfont or resources.soundfont,
           midi_path]
    run_tool(cmd, wav_path, timeout_s=600, error=RenderError, what="fluidsynth")
    audio, sr = sf.read(wav_path, dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        raise RenderError(f"fluidsynth wrote {sr} Hz instead of {SAMPLE_RATE} Hz")
    out = {}
    for k, part in enumerate(parts):
        x = np.zeros((n, 2), dtype=np.float32)
        chunk = audio[k * seg: k * seg + n]
        x[: len(chunk)] = chunk[:, :2]
        out[part.name] = x
    return out
