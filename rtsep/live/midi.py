"""JACK MIDI control of the live outputs: Control Change to gain, notes or CCs to mute/solo.

The client's ``midi_in`` port is read by the native process callback, which copies
short messages into a ring (:mod:`rtsep.live.jack.callback`); :class:`MidiInput`, a
thread of the client, takes them from there and applies a :class:`MidiMap` through
:meth:`rtsep.live.client.LiveSeparator.set_control`.

A map is a JSON file::

    {"cc":   {"1:0": ["vocals", "gain"], "48": ["vocals", "mute"], ...},
     "note": {"36": ["drums", "solo"], ...}}

Keys are ``"CHANNEL:NUMBER"`` (channel 1-16) or ``"NUMBER"`` (any channel); values
``[output, control]``. A CC mapped to ``gain`` sets the gain from its value (0: off;
1..127: -60 dB .. +3 dB, linear in dB, 0 dB at 121); a CC mapped to ``mute`` or
``solo`` toggles it when the value goes to 64 or more (a button press), a note
toggles it on note-on. :data:`DEFAULT_MAP` fits an 8-fader controller in its factory
CC mode (Korg nanoKONTROL2: faders CC 0-7, S buttons 32-39, M buttons 48-55): faders 1-7
are the gains of vocals, drums, bass, other, instrumental, main and mix, the S buttons
solo and the M buttons mute the same outputs.
"""

from __future__ import annotations

import json
import threading

import numpy as np

from rtsep.errors import ConfigError
from rtsep.live.mixer import LIVE_OUTPUTS, MIN_DB

FADER_MIN_DB, FADER_MAX_DB = -60.0, 3.0
"""Gain of CC value 1 and 127 (0 is silence)."""

DEFAULT_MAP = {
    "cc": {**{str(i): [name, "gain"] for i, name in enumerate(LIVE_OUTPUTS)},
           **{str(32 + i): [name, "solo"] for i, name in enumerate(LIVE_OUTPUTS)},
           **{str(48 + i): [name, "mute"] for i, name in enumerate(LIVE_OUTPUTS)}},
    "note": {},
}


def cc_to_db(value: int) -> float:
    """A fader's CC value (0-127) as a gain in dB (0: silence)."""
    if value <= 0:
        return MIN_DB
    return FADER_MIN_DB + (FADER_MAX_DB - FADER_MIN_DB) * (min(value, 127) - 1) / 126


class MidiMap:
    """Which MIDI message drives which control (module docstring).

    Parameters
    ----------
    table : dict
        ``{"cc": {key: [output, control]}, "note": {...}}``.
    """

    def __init__(self, table: dict):
        self.cc, self.note = {}, {}
        if not isinstance(table, dict) or set(table) - {"cc", "note"}:
            raise ConfigError("a MIDI map is a JSON object with \"cc\" and/or \"note\"")
        for kind, into in (("cc", self.cc), ("note", self.note)):
            for key, target in (table.get(kind) or {}).items():
                into[_parse_key(kind, key)] = _parse_target(kind, key, target)

    @classmethod
    def from_file(cls, path) -> "MidiMap":
        try:
            with open(path) as f:
                return cls(json.load(f))
        except OSError as exc:
            raise ConfigError(f"cannot read the MIDI map {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the MIDI map {path} is not JSON: {exc}") from None

    def _find(self, table: dict, channel: int, number: int):
        return table.get((channel, number)) or table.get((None, number))

    def apply(self, message: int, sep) -> bool:
        """Apply one packed message (``status | data1 << 8 | data2 << 16``) to ``sep``'s
        controls; returns whether it was mapped."""
        status, d1, d2 = message & 0xFF, (message >> 8) & 0x7F, (message >> 16) & 0x7F
        kind, channel = status & 0xF0, (status & 0x0F) + 1
        if kind == 0xB0:
            target = self._find(self.cc, channel, d1)
            if target is None:
                return False
            output, control = target
            if control == "gain":
                sep.set_control(output, "gain", cc_to_db(d2))
            elif d2 >= 64:
                sep.set_control(output, control, not sep.control(output)[control])
            return True
        if kind == 0x90 and d2 > 0:  # note-on (velocity 0 is a note-off)
            target = self._find(self.note, channel, d1)
            if target is None:
                return False
            output, control = target
            sep.set_control(output, control, not sep.control(output)[control])
            return True
        return False


def _parse_key(kind: str, key: str):
    ch, sep, num = str(key).rpartition(":")
    try:
        channel = int(ch) if sep else None
        number = int(num)
    except ValueError:
        raise ConfigError(f"MIDI map {kind} key {key!r}: use NUMBER or CHANNEL:NUMBER") from None
    if not 0 <= number <= 127 or (channel is not None and not 1 <= channel <= 16):
        raise ConfigError(f"MIDI map {kind} key {key!r}: number 0-127, channel 1-16")
    return channel, number


def _parse_target(kind: str, key: str, target):
    if (not isinstance(target, list) or len(target) != 2 or target[0] not in LIVE_OUTPUTS
            or target[1] not in ("gain", "mute", "solo")):
        raise ConfigError(f"MIDI map {kind} {key!r}: expected [OUTPUT, gain|mute|solo] with "
                          f"OUTPUT one of {', '.join(LIVE_OUTPUTS)}, got {target!r}")
    if kind == "note" and target[1] == "gain":
        raise ConfigError(f"MIDI map note {key!r}: a note toggles mute or solo, not gain")
    return tuple(target)


class MidiInput:
    """A thread that takes messages from the callback's MIDI ring and applies a map.

    Parameters
    ----------
    ring : np.ndarray [shape=(MIDI_RING,), dtype=int64]
        Filled by the native callback.
    sep : LiveSeparator
    midi_map : MidiMap

    Attributes
    ----------
    applied, ignored : int
        Messages mapped to a control, and the others.
    """

    POLL_S = 0.005

    def __init__(self, ring: np.ndarray, sep, midi_map: MidiMap):
        from rtsep.live.jack.callback import MIDI_CAPACITY, MIDI_HEADER, MIDI_R, MIDI_W

        self.ring, self.sep, self.map = ring, sep, midi_map
        self._cap, self._hdr, self._r, self._w = MIDI_CAPACITY, MIDI_HEADER, MIDI_R, MIDI_W
        self.applied = self.ignored = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtsep-midi", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ring = self.ring
        while not self._stop.wait(self.POLL_S):
            r, w = int(ring[self._r]), int(ring[self._w])
            while r < w:
                msg = int(ring[self._hdr + r % self._cap])
                r += 1
                ring[self._r] = r
                try:
                    ok = self.map.apply(msg, self.sep)
                except (RuntimeError, ValueError):  # stopping
                    ok = False
                if ok:
                    self.applied += 1
                else:
                    self.ignored += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)


__all__ = ["DEFAULT_MAP", "MidiInput", "MidiMap", "cc_to_db"]
