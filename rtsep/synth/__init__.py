"""Synthetic multitrack songs for training: ``rtsep synth``.

Stages, one module each (imports go down this list, never up):

- :mod:`~rtsep.synth.resources` — the Debian tools and data it needs
- :mod:`~rtsep.synth.theory`, :mod:`~rtsep.synth.styles`, :mod:`~rtsep.synth.lyrics`
  — music theory, style table, words
- :mod:`~rtsep.synth.grooves`, :mod:`~rtsep.synth.parts` — drum hits and notes
- :mod:`~rtsep.synth.arrangement` — a whole song's composition (:func:`compose_song`)
- :mod:`~rtsep.synth.fluid` — General MIDI parts via the FluidSynth CLI
- :mod:`~rtsep.synth.samples` — recorded sonic-pi drums and loops
- :mod:`~rtsep.synth.vocals` — the singer (espeak-ng + WORLD)
- :mod:`~rtsep.synth.effects`, :mod:`~rtsep.synth.mixing` — inserts, room, master
- :mod:`~rtsep.synth.song` — :func:`render_song`
- :mod:`~rtsep.synth.dataset` — :func:`generate_dataset` (folders, manifest, workers)

Public API (imported lazily, so ``import rtsep.synth`` stays cheap)::

    generate_dataset(out_dir, tracks, seconds=30.0, seed=0, workers=1, progress=True) -> manifest
    render_song(seed, index, seconds) -> {"vocals"|"drums"|"bass"|"other"|"mixture": float32 (n, 2)}
    compose_song(seed, index, seconds) -> Song   (no audio; Song.manifest() describes it)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "generate_dataset": "rtsep.synth.dataset",
    "render_song": "rtsep.synth.song",
    "render_song_int16": "rtsep.synth.song",
    "compose_song": "rtsep.synth.arrangement",
    "Song": "rtsep.synth.arrangement",
    "MissingToolError": "rtsep.synth.resources",
    "find_resources": "rtsep.synth.resources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rtsep.synth' has no attribute {name!r}")
