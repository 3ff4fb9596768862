"""The seed's v0.1b hybrid: per-stem transformers, parallel U-Net, "other" U-Net.

Graph (shapes for batch B; bins x frames x channels = 1024 x 192 x 2):

- ``x = InputNorm(mag)``: log1p, per-example standardisation, per-bin affine.
- vocals, drums: ``x`` -> tokens (B, 192, 2048) -> linear (= the seed's 1024x1
  conv over both channels) -> (B, 192, d_model) + learned position embedding ->
  ``n_layers`` x [self-attention, (cross-attention vocals<->drums after the
  layers in ``cross_layers``), feed-forward] -> layer norm -> linear to
  (B, 192, 2048) -> logits (B, 1024, 192, 2).
- bass: the same over bins [0, bass_bins) with ``bass_d_model``; bass is zero
  above ``bass_bins``.
- a small U-Net over ``x`` gives vocals, drums and bass logits that are *added*
  to the transformer logits (the mix); masks are sigmoids, estimates are
  mask * mag.
- other: a U-Net fed ``x``, the log-compressed vocals, drums, bass estimates and
  their residual ``relu(mag - vocals - drums - bass)`` predicts the "other"
  mask (sigmoid) times ``mag``.

Output (B, 4, 1024, 192, 2) in STEMS order.
"""

from __future__ import annotations

import keras

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS
from rtsep.nn.config import HybridConfig
from rtsep.nn.layers import (BinSlice, ChannelSlice, CrossAttention, FeedForward, FramesToTokens, InputNorm,
                             LogCompress, PadBins, PositionEmbedding, Residual, SelfAttention,
                             SigmoidMask, StackStems, TokensToFrames)
from rtsep.nn.unet import unet_logits


def _embed(x, n_bins: int, d: int, name: str):
    """(B, n_bins, frames, 2) features -> (B, frames, d) tokens with positions."""
    t = FramesToTokens(name=f"{name}_tokens")(x)
    t = keras.layers.Dense(d, name=f"{name}_embed")(t)
    return PositionEmbedding(MODEL_FRAMES, name=f"{name}_pos")(t)


def _unembed(t, n_bins: int, name: str):
    """(B, frames, d) tokens -> (B, n_bins, frames, 2) logits."""
    t = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_final_norm")(t)
    t = keras.layers.Dense(n_bins * N_CHANNELS, name=f"{name}_unembed")(t)
    return TokensToFrames(n_bins, N_CHANNELS, name=f"{name}_frames")(t)


def build_hybrid(cfg: HybridConfig) -> keras.Model:
    """The ``hybrid`` architecture (see the module docstring).

    Input ``mag``: (batch, 1024, 192, 2) float32 magnitudes.
    Output: (batch, 4, 1024, 192, 2) float32 non-negative stem estimates.
    """
    mag = keras.Input((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), name="mag")
    x = InputNorm(MODEL_BINS, name="input_norm")(mag)

    # Vocals and drums: two stacks side by side, cross-attention between them.
    tv = _embed(x, MODEL_BINS, cfg.d_model, "vocals")
    td = _embed(x, MODEL_BINS, cfg.d_model, "drums")
    for i in range(cfg.n_layers):
        tv = SelfAttention(cfg.n_heads, cfg.dropout, name=f"vocals_attn{i}")(tv)
        td = SelfAttention(cfg.n_heads, cfg.dropout, name=f"drums_attn{i}")(td)
        if i in cfg.cross_layers:
            tv, td = CrossAttention(cfg.n_heads, cfg.dropout, name=f"cross{i}")([tv, td])
        tv = FeedForward(cfg.ffn_dim, cfg.dropout, name=f"vocals_ffn{i}")(tv)
        td = FeedForward(cfg.ffn_dim, cfg.dropout, name=f"drums_ffn{i}")(td)
    lv = _unembed(tv, MODEL_BINS, "vocals")
    ld = _unembed(td, MODEL_BINS, "drums")

    # Bass: low bins only, smaller tokens.
    x_low = BinSlice(0, cfg.bass_bins, name="bass_bins")(x)
    tb = _embed(x_low, cfg.bass_bins, cfg.bass_d_model, "bass")
    for i in range(cfg.bass_n_layers):
        tb = SelfAttention(cfg.bass_n_heads, cfg.dropout, name=f"bass_attn{i}")(tb)
        tb = FeedForward(cfg.bass_ffn_dim, cfg.dropout, name=f"bass_ffn{i}")(tb)
    lb = _unembed(tb, cfg.bass_bins, "bass")

    # Parallel U-Net: one trunk, vocals/drums/bass logits added to the transformers'.
    lu = unet_logits(x, cfg.unet, 3 * N_CHANNELS, "par")  # (B, 1024, 192, 6)
    lv = keras.layers.Add(name="vocals_mix")([lv, ChannelSlice(0, 2, name="par_vocals")(lu)])
    ld = keras.layers.Add(name="drums_mix")([ld, ChannelSlice(2, 4, name="par_drums")(lu)])
    lu_bass = BinSlice(0, cfg.bass_bins, name="par_bass_bins")(ChannelSlice(4, 6, name="par_bass")(lu))
    lb = keras.layers.Add(name="bass_mix")([lb, lu_bass])

    mag_low = BinSlice(0, cfg.bass_bins, name="mag_low")(mag)
    vocals = SigmoidMask(name="vocals_est")([lv, mag])
    drums = SigmoidMask(name="drums_est")([ld, mag])
    bass = PadBins(MODEL_BINS, name="bass_est")(SigmoidMask(name="bass_est_low")([lb, mag_low]))

    # Other: from the input, the three stems and what they leave over.
    rest = Residual(name="residual")([mag, vocals, drums, bass])
    feats = keras.layers.Concatenate(axis=-1, name="other_in")(
        [x] + [LogCompress(name=f"other_log_{n}")(s) for n, s in
               (("vocals", vocals), ("drums", drums), ("bass", bass), ("rest", rest))])
    lo = unet_logits(feats, cfg.other_unet, N_CHANNELS, "other")
    other = SigmoidMask(name="other_est")([lo, mag])

    est = StackStems(name="stems")([vocals, drums, bass, other])
    return keras.Model(mag, est, name="rtsep_hybrid")

