"""The seed's v0.1b hybrid: per-stem transformers, a parallel U-Net, an "other" U-Net.

Graph (batch B; F = 1024 bins, T = 192 frames, C = 2 channels). Inside, images
are *frames-major* (B, T, F, C), so a frame is a token by a free reshape:

1. ``x = InputNorm(mag)``: log1p, minus the per-example mean, per-bin affine.
2. Vocals and drums: two transformer stacks side by side (stem-batched, own
   weights). Each frame's 2 x 1024 values -> linear (the seed's 1024x1 conv, no
   activation) -> a ``d_model`` token + learned position embedding ->
   ``n_layers`` x [self-attention, cross-attention vocals<->drums after the
   layers listed in ``cross_layers``, feed-forward] -> layer norm -> linear back
   to 2 x 1024 logits per frame.
3. Bass: the same with ``bass_d_model`` tokens made of bins [0, bass_bins)
   only; its logits above ``bass_bins`` are a constant -30 (mask ~ 0).
4. A small U-Net over ``x`` gives vocals, drums and bass logits that are added to
   the transformers' (the mix: the transformer isolates, the U-Net adds local
   detail); sigmoid masks. With ``unet.output_stride`` 2 (the default) its
   logits are at half resolution and are added to every pixel of their 2x2
   block (a full-resolution transposed conv costs more than the whole U-Net).
5. Other: a U-Net fed ``x`` and the three masks (the separated stems are mask x
   mixture, so this is the stems' information, scale-free), plus a per-pixel
   linear term (1x1 conv) of the same inputs, predicts the "other" mask
   (sigmoid).
6. Estimates: mask x mag, (B, 4, F, T, C) in STEMS order.

Stereo: the two channels are not folded into the batch; a token holds both
channels' bins and its projection returns both channels' logits (half the
transformer cost of folding, and attention sees stereo cues).
"""

from __future__ import annotations

import keras

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.nn.config import HybridConfig
from rtsep.nn.layers import (AddUpsampled, ApplyMasksFramesMajor, BinSlice, InputNorm,
                             StemAttention, StemEmbed, StemFeedForward, StemsToChannels,
                             StemUnembed, SwapBinsFrames)
from rtsep.nn.unet import unet_logits


def _stack(tokens, n_layers: int, n_heads: int, ffn_dim: int, cross_layers, dropout: float,
           name: str):
    """``n_layers`` transformer layers over stem-batched tokens (B, S, T, d)."""
    for i in range(n_layers):
        tokens = StemAttention(n_heads, dropout=dropout, name=f"{name}_attn{i}")(tokens)
        if i in cross_layers:
            tokens = StemAttention(n_heads, cross=True, dropout=dropout, name=f"{name}_cross{i}")(tokens)
        tokens = StemFeedForward(ffn_dim, dropout, name=f"{name}_ffn{i}")(tokens)
    return tokens


def _add(full, maybe_half, name: str):
    """``full + maybe_half``, upsampling ``maybe_half`` 2x2 (nearest) if it is half-res."""
    if maybe_half.shape[1] == full.shape[1]:
        return keras.layers.Add(name=name)([full, maybe_half])
    return AddUpsampled(name=name)([full, maybe_half])


def build_hybrid(cfg: HybridConfig) -> keras.Model:
    """The ``hybrid`` architecture (see the module docstring).

    Input ``mag``: (batch, 1024, 192, 2) float32 magnitudes.
    Output: (batch, 4, 1024, 192, 2) float32 non-negative stem estimates.
    """
    mag = keras.Input((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), name="mag")
    mag_t = SwapBinsFrames(name="frames_major")(mag)              # (B, T, F, C)
    x = InputNorm(MODEL_BINS, bin_axis=2, name="input_norm")(mag_t)

    # Vocals (stem 0) and drums (stem 1), with cross-attention between them.
    t_vd = StemEmbed(2, cfg.d_model, name="vd_embed")(x)           # (B, 2, T, d)
    t_vd = _stack(t_vd, cfg.n_layers, cfg.n_heads, cfg.ffn_dim, cfg.cross_layers, cfg.dropout, "vd")
    l_vd = StemUnembed(MODEL_BINS, N_CHANNELS, name="vd_unembed")(t_vd)  # (B, 2, T, F*C)

    # Bass: low bins only, smaller tokens.
    x_low = BinSlice(0, cfg.bass_bins, axis=2, name="bass_bins")(x)
    t_b = StemEmbed(1, cfg.bass_d_model, name="bass_embed")(x_low)  # (B, 1, T, d_b)
    t_b = _stack(t_b, cfg.bass_n_layers, cfg.bass_n_heads, cfg.bass_ffn_dim, (), cfg.dropout, "bass")
    l_b = StemUnembed(cfg.bass_bins, N_CHANNELS, total_bins=MODEL_BINS, name="bass_unembed")(t_b)

    l_t = keras.layers.Concatenate(axis=1, name="vdb_logits")([l_vd, l_b])  # (B, 3, T, F*C)
    l_t = StemsToChannels(MODEL_BINS, N_CHANNELS, name="vdb_channels")(l_t)  # (B, T, F, 6)

    # Parallel U-Net: its logits are added to the transformers'.
    l_u = unet_logits(x, cfg.unet, 3 * N_CHANNELS, "par")           # (B, T, F, 6) or half-res
    m_vdb = keras.layers.Activation("sigmoid", name="vdb_masks")(_add(l_t, l_u, "vdb_mix"))

    # Other: from the input and the three separated stems: a U-Net plus a
    # per-pixel linear term (1x1 conv) of the same inputs.
    l_o = unet_logits([x, m_vdb], cfg.other_unet, N_CHANNELS, "other")
    l_pix = keras.layers.Add(name="other_pix")(
        [keras.layers.Conv2D(N_CHANNELS, 1, name="other_pix_x")(x),
         keras.layers.Conv2D(N_CHANNELS, 1, use_bias=False, name="other_pix_m")(m_vdb)])
    m_o = keras.layers.Activation("sigmoid", name="other_mask")(_add(l_pix, l_o, "other_mix"))
    masks = keras.layers.Concatenate(axis=-1, name="masks")([m_vdb, m_o])   # (B, T, F, 8)

    est = ApplyMasksFramesMajor(N_STEMS, name="stems")([masks, mag])
    return keras.Model(mag, est, name="rtsep_hybrid")
