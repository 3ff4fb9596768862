"""rtsep.nn: configs, architectures at the tiny preset, custom layers against numpy references."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.errors import ConfigError
from rtsep.nn.config import ARCHS, HybridConfig, ModelConfig, UNetConfig

keras = pytest.importorskip("keras")

from rtsep.nn import build_model, count_params  # noqa: E402
from rtsep.nn import layers as L  # noqa: E402

IN_SHAPE = (MODEL_BINS, MODEL_FRAMES, N_CHANNELS)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def tiny_models():
    keras.utils.set_random_seed(0)
    return {arch: build_model(ModelConfig.preset(arch, "tiny")) for arch in ARCHS}


def _mag(rng, batch=2):
    """Music-like magnitudes: mostly small, some large (float32, (batch, 1024, 192, 2))."""
    return (rng.exponential(1.0, (batch, *IN_SHAPE)) ** 2 * 5).astype(np.float32)


# --- configs ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", ["default", "tiny"])
def test_preset_round_trips_through_dict_and_json(arch, size, tmp_path):
    cfg = ModelConfig.preset(arch, size)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert ModelConfig.from_json_file(path) == cfg
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


def test_missing_fields_take_defaults():
    assert ModelConfig.from_dict({"arch": "hybrid"}) == ModelConfig.preset("hybrid")
    cfg = ModelConfig.from_dict({"arch": "hybrid", "net": {"n_layers": 3, "unet": {"kernel_size": 5}}})
    assert cfg.net.n_layers == 3 and cfg.net.unet.kernel_size == 5
    assert cfg.net.unet.filters == UNetConfig().filters  # a nested dict starts from UNetConfig()


@pytest.mark.parametrize("bad, words", [
    ({"arch": "hybrid", "colour": 1}, "unknown key"),
    ({"arch": "hybrid", "net": {"d_modle": 64}}, "d_modle"),
    ({"arch": "hybrid", "net": {"unet": {"filterz": [4]}}}, "filterz"),
    ({"arch": "unet", "net": {"n_layers": 2}}, "n_layers"),
    ({"arch": "d4net"}, "unknown architecture"),
    ({"net": {}}, "missing key 'arch'"),
    ({"arch": "hybrid", "net": {"d_model": "384"}}, "integer"),
    ({"arch": "hybrid", "net": {"d_model": 100, "n_heads": 3}}, "divisible"),
    ({"arch": "hybrid", "net": {"cross_layers": []}}, "at least one"),
    ({"arch": "hybrid", "net": {"cross_layers": [5]}}, "cross_layers"),
    ({"arch": "hybrid", "net": {"bass_bins": 2048}}, "bass_bins"),
    ({"arch": "unet", "net": {"filters": [4, 8, 16, 32, 64, 128, 256],
                              "skip_filters": [0, 0, 0, 0, 0, 0, 0]}}, "1..6 levels"),
    ({"arch": "unet", "net": {"batch_norm": 1}}, "true/false"),
    ({"arch": "unet", "net": {"output_stride": 3}}, "output_stride"),
    (["arch", "unet"], "JSON object"),
])
def test_bad_config_dicts_raise_config_error(bad, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        ModelConfig.from_dict(bad)


def test_config_checks_sub_config_type_and_replace():
    with pytest.raises(ConfigError, match="HybridConfig"):
        ModelConfig(arch="hybrid", net=UNetConfig())
    cfg = ModelConfig.preset("hybrid").replace(n_layers=3, cross_layers=(0, 2))
    assert cfg.net.n_layers == 3 and isinstance(cfg.net, HybridConfig)
    with pytest.raises(ConfigError, match="unknown field"):
        ModelConfig.preset("hybrid").replace(layers=3)
    with pytest.raises(ConfigError, match="unknown preset size"):
        ModelConfig.preset("unet", "huge")


def test_from_json_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ModelConfig.from_json_file(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        ModelConfig.from_json_file(bad)


# --- architectures -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_models_map_magnitudes_to_stem_estimates(arch, tiny_models, rng):
    model = tiny_models[arch]
    assert 1_000 <= count_params(model) <= 100_000
    mag = _mag(rng)
    est = np.asarray(model(mag, training=False))
    assert est.shape == (2, N_STEMS, *IN_SHAPE) and est.dtype == np.float32
    assert np.isfinite(est).all() and est.min() >= 0.0
    # every estimate is a mask in [0, 1] times the mixture (tolerance: float32 rounding)
    assert (est <= mag[:, None] * (1 + 1e-5) + 1e-6).all()


def test_unet_stems_sum_to_the_mixture(tiny_models, rng):
    mag = _mag(rng)
    est = np.asarray(tiny_models["unet"](mag, training=False))
    np.testing.assert_allclose(est.sum(axis=1), mag, rtol=1e-5, atol=1e-5)


def test_hybrid_bass_is_zero_above_bass_bins(tiny_models, rng):
    nb = ModelConfig.preset("hybrid", "tiny").net.bass_bins
    mag = _mag(rng, 1)
    est = np.asarray(tiny_models["hybrid"](mag, training=False))
    # logits there are -30: mask sigmoid(-30 + U-Net term) < 1e-9 for any sane U-Net term
    assert np.abs(est[:, 2, nb:]).max() <= 1e-6 * mag.max()
    assert est[:, 2, :nb].max() > 1e-3 * mag.max()


@pytest.mark.parametrize("arch", ARCHS)
def test_model_rebuilds_from_its_keras_config(arch, tiny_models, rng):
    """Every custom layer is registered and its get_config is complete."""
    model = tiny_models[arch]
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    mag = _mag(rng, 1)
    np.testing.assert_allclose(np.asarray(clone(mag)), np.asarray(model(mag)), rtol=0, atol=1e-6)


def test_default_sizes_are_as_documented():
    """The default hybrid is the size whose latency was measured (README/benchmarks)."""
    n = count_params(build_model(ModelConfig.preset("hybrid")))
    assert 2_500_000 <= n <= 4_500_000


def test_a_few_training_steps_reduce_the_loss(rng):
    """Gradients reach the weights: 8 Adam steps on one example cut an L1 loss."""
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig.preset("hybrid", "tiny"))
    mag = _mag(rng, 1)
    target = np.stack([mag * w for w in (0.6, 0.2, 0.0, 0.2)], axis=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mae")
    first = model.evaluate(mag, target, verbose=0)
    model.fit(mag, target, epochs=8, batch_size=1, verbose=0)
    assert model.evaluate(mag, target, verbose=0) < 0.9 * first


def test_networks_use_keras_ops_only():
    """No TensorFlow inside the network code (the same model must run on JAX)."""
    src = Path(__file__).resolve().parent.parent / "rtsep" / "nn"
    for path in src.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax)\b", text, re.M), path
        assert "tf." not in text, path


# --- layers against numpy references -------------------------------------------------------


def _run(layer, *inputs):
    out = layer(list(inputs) if len(inputs) > 1 else inputs[0])
    return [np.asarray(o) for o in out] if isinstance(out, list) else np.asarray(out)


def test_add_upsampled_is_nearest_upsampling(rng):
    full = rng.normal(size=(2, 6, 8, 3)).astype(np.float32)
    half = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    ref = full + np.repeat(np.repeat(half, 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(_run(L.AddUpsampled(), full, half), ref, atol=1e-6)


def test_stem_embed_is_a_linear_map_of_each_frame(rng):
    x = rng.normal(size=(2, 5, 8, 2)).astype(np.float32)  # (batch, frames, bins, ch)
    layer = L.StemEmbed(2, 3)
    y = _run(layer, x)
    kernel, bias, pos = (np.asarray(w) for w in (layer.kernel, layer.bias, layer.position))
    ref = ((x.reshape(2, 5, 16) @ kernel + bias).reshape(2, 5, 2, 3) + pos).transpose(0, 2, 1, 3)
    assert y.shape == (2, 2, 5, 3)  # (batch, stems, frames, d)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_stems_to_channels_and_apply_masks_layouts(rng):
    t, f, c, s = 3, 4, 2, 2
    x = rng.normal(size=(1, s, t, f * c)).astype(np.float32)
    y = _run(L.StemsToChannels(f, c), x)
    assert y.shape == (1, t, f, s * c)
    for stem in range(s):
        for ch in range(c):
            np.testing.assert_array_equal(y[0, :, :, stem * c + ch], x[0, stem].reshape(t, f, c)[:, :, ch])
    masks = rng.uniform(size=(1, t, f, s * c)).astype(np.float32)  # frames-major
    mag = rng.uniform(size=(1, f, t, c)).astype(np.float32)        # model input layout
    est = _run(L.ApplyMasksFramesMajor(s), masks, mag)
    assert est.shape == (1, s, f, t, c)
    for stem in range(s):
        ref = masks[0, :, :, stem * c:(stem + 1) * c].transpose(1, 0, 2) * mag[0]
        np.testing.assert_allclose(est[0, stem], ref, atol=1e-7)


def test_stem_softmax_masks_sum_to_mixture(rng):
    logits = rng.normal(size=(1, 4, 3, 2 * 4)).astype(np.float32)
    mag = rng.uniform(size=(1, 4, 3, 2)).astype(np.float32)
    est = _run(L.StemSoftmaxMasks(4), logits, mag)
    assert est.shape == (1, 4, 4, 3, 2)
    np.testing.assert_allclose(est.sum(axis=1), mag, atol=1e-6)
    e = np.exp(logits.reshape(1, 4, 3, 2, 4))
    ref = (e / e.sum(-1, keepdims=True) * mag[..., None]).transpose(0, 4, 1, 2, 3)
    np.testing.assert_allclose(est, ref, atol=1e-6)


def _attention_ref(q_in, kv_in, layer, s):
    """Single-stem multi-head attention in numpy, "much less efficiently"."""
    w = {k: np.asarray(getattr(layer, k)) for k in ("gamma", "beta", "w_q", "b_q", "w_kv", "b_kv",
                                                     "w_o", "b_o")}

    def ln(v, stem):
        m, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
        return (v - m) / np.sqrt(var + 1e-5) * w["gamma"][stem] + w["beta"][stem]

    d = q_in.shape[-1]
    nh, dh = layer.n_heads, d // layer.n_heads
    hq = ln(q_in, s)
    src_stem = 1 - s if layer.cross else s
    hkv = ln(kv_in, src_stem)
    q = hq @ w["w_q"][s] + w["b_q"][s]
    kv = hkv @ w["w_kv"][s] + w["b_kv"][s]
    k, v = kv[:, :d], kv[:, d:]
    out = np.zeros_like(q)
    for h in range(nh):
        sl = slice(h * dh, (h + 1) * dh)
        sc = q[:, sl] @ k[:, sl].T / np.sqrt(dh)
        p = np.exp(sc - sc.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out[:, sl] = p @ v[:, sl]
    return q_in + out @ w["w_o"][s] + w["b_o"][s]


@pytest.mark.parametrize("cross", [False, True])
def test_stem_attention_matches_reference(cross, rng):
    x = rng.normal(size=(1, 2, 6, 8)).astype(np.float32)  # (batch, S, frames, d)
    layer = L.StemAttention(2, cross=cross)
    y = _run(layer, x)
    for s in range(2):
        other = x[0, 1 - s] if cross else x[0, s]
        np.testing.assert_allclose(y[0, s], _attention_ref(x[0, s], other, layer, s),
                                   rtol=1e-4, atol=1e-4)


def test_cross_attention_links_the_two_stacks_and_self_attention_does_not(rng):
    x = rng.normal(size=(1, 2, 6, 8)).astype(np.float32)
    x2 = x.copy()
    x2[:, 1] += rng.normal(size=(1, 6, 8)).astype(np.float32)  # change only the drums stack
    for cross, linked in ((True, True), (False, False)):
        layer = L.StemAttention(2, cross=cross)
        d0 = np.abs(_run(layer, x)[:, 0] - _run(layer, x2)[:, 0]).max()
        assert (d0 > 1e-3) if linked else (d0 < 1e-6)


def test_input_norm_removes_the_mean_and_is_finite_on_silence(rng):
    layer = L.InputNorm(4, bin_axis=1)
    y = _run(layer, np.zeros((1, 4, 3, 2), np.float32))
    np.testing.assert_array_equal(y, 0.0)
    x = rng.uniform(0, 100, (2, 4, 3, 2)).astype(np.float32)
    y = _run(layer, x)
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y, np.log1p(x) - np.log1p(x).mean(axis=(1, 2, 3), keepdims=True), atol=1e-5)
