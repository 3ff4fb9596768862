"""The streaming engine's options (:class:`StreamConfig`) and the latency they give."""

from __future__ import annotations

import dataclasses
from typing import Literal

from rtsep.constants import HOP, MODEL_FRAMES, N_FFT
from rtsep.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """Options of the streaming engine (the front end itself is fixed).

    Attributes
    ----------
    lookahead_frames : int
        Frames of future context the model sees beyond the frames it emits (0..191).
    model_hop_frames : int
        The model runs every this many new frames (1 = every frame).
    high_band : "average" | "zeros"
        How masks are extended to bins 1024..2048.
    mask_power : float
        Exponent applied to estimates before normalising them into masks.
    """

    lookahead_frames: int = 0
    model_hop_frames: int = 1
    high_band: Literal["average", "zeros"] = "average"
    mask_power: float = 1.0

    def __post_init__(self):
        if not isinstance(self.lookahead_frames, int) or self.lookahead_frames < 0:
            raise ConfigError(f"lookahead_frames must be an integer >= 0, got {self.lookahead_frames!r}")
        if not isinstance(self.model_hop_frames, int) or self.model_hop_frames < 1:
            raise ConfigError(f"model_hop_frames must be an integer >= 1, got {self.model_hop_frames!r}")
        if self.lookahead_frames + self.model_hop_frames > MODEL_FRAMES:
            raise ConfigError(
                f"lookahead_frames + model_hop_frames must be <= {MODEL_FRAMES} (the model window), "
                f"got {self.lookahead_frames} + {self.model_hop_frames}")
        if self.high_band not in ("average", "zeros"):
            raise ConfigError(f"high_band must be 'average' or 'zeros', got {self.high_band!r}")
        if not (self.mask_power > 0):
            raise ConfigError(f"mask_power must be > 0, got {self.mask_power!r}")

    @property
    def latency_samples(self) -> int:
        """Exact latency in samples: ``4095 + (lookahead + model_hop - 1) * 1024``."""
        return N_FFT - 1 + (self.lookahead_frames + self.model_hop_frames - 1) * HOP

    def emitted_window_index(self, k: int) -> int:
        """Index in the model window (0..191) of the ``k``-th frame a call emits."""
        return MODEL_FRAMES - self.lookahead_frames - self.model_hop_frames + k
