"""Lyrics: one-syllable English words, one per sung note.

Words are sung by espeak-ng (see :mod:`rtsep.training.synth.vocals`), so the list favours
words with a clear vowel and a variety of onsets and codas (plosives, fricatives,
nasals, liquids, clusters), which gives the vocals stem its consonants.
"""

from __future__ import annotations

import numpy as np

WORDS: tuple[str, ...] = (
    "love", "night", "heart", "fire", "time", "way", "home", "day", "light", "dream",
    "run", "fall", "rain", "sky", "soul", "go", "know", "see", "free", "feel",
    "you", "me", "we", "all", "now", "down", "round", "sound", "town", "stay",
    "gone", "stone", "road", "cold", "gold", "hold", "old", "told", "blue", "true",
    "through", "new", "move", "prove", "lose", "choose", "dance", "chance", "stand", "hand",
    "land", "sand", "skin", "win", "in", "begin", "spin", "sing", "ring", "bring",
    "thing", "king", "wing", "sweet", "street", "feet", "beat", "heat", "bright", "fight",
    "right", "tight", "sleep", "deep", "keep", "weep", "fly", "high", "why", "cry",
    "die", "try", "lie", "by", "eyes", "rise", "skies", "wise", "face", "place",
    "space", "grace", "slow", "glow", "show", "flow", "snow", "low", "more", "door",
    "floor", "shore", "war", "star", "far", "car", "are", "heart", "dark", "spark",
    "wild", "child", "mind", "find", "kind", "blind", "wind", "sun", "one", "done",
    "young", "tongue", "sea", "be", "free", "tree", "three", "please", "breeze", "call",
    "wall", "small", "tall", "burn", "turn", "learn", "world", "girl", "boy", "joy",
    "cloud", "loud", "proud", "song", "long", "strong", "wrong", "time", "line", "mine",
    "shine", "fine", "sign", "wine", "ride", "side", "hide", "wide", "pride", "tide",
    "blood", "flood", "touch", "much", "lost", "cross", "cost", "hope", "rope", "smoke",
    "woke", "broke", "oh", "yeah", "hey", "la", "na", "whoa", "ooh", "ah",
)
"""The singer's vocabulary (repeats allowed: they weight common words)."""

FILLERS = ("oh", "yeah", "ooh", "ah", "hey", "whoa", "na", "la")
"""Non-words sung on long or melismatic notes."""

BACKING_VOWELS = ("ooh", "ah", "oh")
"""What backing singers hold."""


def song_vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """A song's word pool: ``size`` distinct words (a song reuses few words)."""
    pool = sorted(set(WORDS))
    idx = rng.choice(len(pool), size=min(size, len(pool)), replace=False)
    return [pool[int(i)] for i in idx]


def lyric_line(rng: np.random.Generator, n: int, vocab: list[str], *,
               long_last: bool = True) -> list[str]:
    """``n`` words for one phrase; the last (held) one is open-vowelled more often."""
    words = [vocab[int(rng.integers(len(vocab)))] for _ in range(n)]
    if long_last and n and rng.random() < 0.35:
        words[-1] = FILLERS[int(rng.integers(len(FILLERS)))]
    return words
