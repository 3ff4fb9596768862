"""Synthetic multitrack songs for training, from real recorded sources: ``rtsep synth``.

Stages, one module each (imports go down this list, never up):

- :mod:`~rtsep.training.synth.resources` — the Debian tools it needs
- :mod:`~rtsep.training.synth.sources` — the Debian packages of recordings, their files
  and licences (the source inventory)
- :mod:`~rtsep.training.synth.theory`, :mod:`~rtsep.training.synth.styles`, :mod:`~rtsep.training.synth.lyrics`
  — music theory, style table, words
- :mod:`~rtsep.training.synth.grooves`, :mod:`~rtsep.training.synth.parts` — drum hits and notes
- :mod:`~rtsep.training.synth.score` — a composed song as data (:class:`Song`: sections, parts,
  singer, sung lines, mix settings)
- :mod:`~rtsep.training.synth.voice_parts` — the singer and the sung lines of a song
- :mod:`~rtsep.training.synth.arrangement` — a whole song's composition (:func:`compose_song`)
- :mod:`~rtsep.training.synth.sourcing` — which recordings play it (kits, soundfont,
  strums, amp responses, choirs, reverbs, sidechain)
- :mod:`~rtsep.training.synth.fluid` — General MIDI parts (and the AVL kits) via the FluidSynth CLI
- :mod:`~rtsep.training.synth.samples` — recorded sonic-pi drums and loops
- :mod:`~rtsep.training.synth.drumkits` — Hydrogen kits: velocity layers, round robin
- :mod:`~rtsep.training.synth.instruments` — guitar strums, amp/cabinet responses, choir
- :mod:`~rtsep.training.synth.world` — WORLD analysis of spoken syllables (the frames the singer sings)
- :mod:`~rtsep.training.synth.espeak` — the words espeak-ng speaks for the singer
- :mod:`~rtsep.training.synth.voicebank` — recorded speakers cut into syllables
- :mod:`~rtsep.training.synth.vocals` — the singer (recorded syllables or espeak-ng, + WORLD)
- :mod:`~rtsep.training.synth.effects`, :mod:`~rtsep.training.synth.mixing` — inserts, rooms, buses
- :mod:`~rtsep.training.synth.song` — :func:`render_song`
- :mod:`~rtsep.training.synth.accompaniment`, :mod:`~rtsep.training.synth.vocalcheck` —
  partially labelled tracks: generated vocals over real instrumental music
- :mod:`~rtsep.training.synth.dataset` — :func:`generate_dataset` (folders, manifest, workers)

Public API (imported lazily, so ``import rtsep.training.synth`` stays cheap)::

    generate_dataset(out_dir, tracks, seconds=30.0, seed=0, workers=1, progress=None) -> manifest
    render_song(seed, index, seconds) -> {"vocals"|"drums"|"bass"|"other"|"mixture": float32 (n, 2)}
    compose_song(seed, index, seconds) -> Song   (no audio; Song.manifest() describes it)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "generate_dataset": "rtsep.training.synth.dataset",
    "render_song": "rtsep.training.synth.song",
    "render_song_int16": "rtsep.training.synth.song",
    "compose_song": "rtsep.training.synth.arrangement",
    "Song": "rtsep.training.synth.score",
    "MissingToolError": "rtsep.training.synth.resources",
    "find_resources": "rtsep.training.synth.resources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rtsep.training.synth' has no attribute {name!r}")
