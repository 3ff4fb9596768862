"""Model artifacts on disk: ``models/NAME/`` = weights + config.json + MODEL_CARD.md.

Layout of an artifact folder::

    config.json        {"format": "rtsep-model", "format_version": 1,
                        "model": {"arch": ..., "net": {...}},   # ModelConfig.to_dict()
                        "weights_file": "model.weights.h5",
                        "weights_sha256": "<hex>", "params": <int>,
                        "model_sha256": "<hex>",   # of the canonical "model" JSON
                        "keras_version": ..., "rtsep_version": ...,
                        "training": {...}}                       # free-form, optional
    model.weights.h5   Keras weights only (HDF5 tensors; no code, no graph)
    MODEL_CARD.md      architecture, parameter count, training data, steps,
                       measured SDR and the command that measured it

Loading never deserialises code: the model is rebuilt from ``config.json`` by
:func:`rtsep.nn.build_model` and only tensors are read from the weights file
(Keras' weights-only loading). A corrupt, truncated, tampered or mismatched
artifact raises :class:`rtsep.errors.ModelError` naming the file and the fault.

Importing this module does not import Keras.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rtsep
from rtsep.errors import ConfigError, ModelError
from rtsep.io.files import atomic_path
from rtsep.nn.config import ModelConfig

FORMAT = "rtsep-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
MODELS_DIR_ENV = "RTSEP_MODELS_DIR"
"""Environment variable that replaces ``<repo root>/models`` for name look-ups."""

_CONFIG_KEYS = {"format", "format_version", "model", "model_sha256", "weights_file",
                "weights_sha256", "params", "keras_version", "rtsep_version", "training"}
_REQUIRED_KEYS = {"format", "format_version", "model", "model_sha256", "weights_file",
                  "weights_sha256", "params"}


@dataclass(frozen=True)
class Artifact:
    """A loaded model artifact.

    Attributes
    ----------
    model : keras.Model
        Weights loaded; input (batch, 1024, 192, 2) float32 magnitudes, output
        (batch, 4, 1024, 192, 2) estimates.
    config : rtsep.nn.ModelConfig
        The architecture config it was rebuilt from.
    card_text : str
        MODEL_CARD.md's text ("" if the file is absent).
    path : pathlib.Path
        The artifact folder.
    info : dict
        The rest of config.json (params, weights_sha256, training, versions).
    """

    model: Any
    config: ModelConfig
    card_text: str
    path: Path
    info: dict = field(default_factory=dict)

    @property
    def params(self) -> int:
        """Parameter count stored in (and checked against) config.json."""
        return int(self.info["params"])


def repo_models_dir() -> Path:
    """``$RTSEP_MODELS_DIR`` if set, else ``<repo root>/models``."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(rtsep.__file__).resolve().parent.parent / "models"


def resolve_model_path(spec: str | os.PathLike) -> Path:
    """Turn a model spec into an artifact folder.

    Parameters
    ----------
    spec : str or os.PathLike
        An existing artifact folder (or its config.json), or a NAME looked up as
        ``<models dir>/NAME`` (see :func:`repo_models_dir`).

    Returns
    -------
    pathlib.Path
        The folder (not yet checked: :func:`load_artifact` does that).

    Raises
    ------
    ModelError
        Nothing found; the message names every place looked in and the models
        available there.
    """
    spec_str = os.fspath(spec)
    if not spec_str:
        raise ModelError("empty model name; give a model NAME (e.g. 'default') or a folder path")
    p = Path(spec_str).expanduser()
    if p.is_dir():
        return p
    if p.is_file() and p.name == CONFIG_FILE:
        return p.parent
    looked = [str(p.resolve())]
    models_dir = repo_models_dir()
    is_name = (os.sep not in spec_str and "/" not in spec_str and spec_str not in (".", ".."))
    if is_name:
        cand = models_dir / spec_str
        if cand.is_dir():
            return cand
        looked.append(str(cand))
    available = []
    if models_dir.is_dir():
        available = sorted(q.name for q in models_dir.iterdir() if (q / CONFIG_FILE).is_file())
    hint = (f"models available in {models_dir}: {', '.join(available)}" if available
            else f"no models in {models_dir}")
    raise ModelError(
        f"model {spec_str!r} not found (looked in: {'; '.join(looked)}); {hint}. "
        f"Give an artifact folder, or a NAME under the models folder "
        f"(set ${MODELS_DIR_ENV} to use another models folder)")


def artifact_arch(spec: str | os.PathLike) -> str | None:
    """The architecture an artifact names in its config.json, read without loading it.

    Parameters
    ----------
    spec : str or os.PathLike
        As for :func:`resolve_model_path`.

    Returns
    -------
    str or None
        ``config["model"]["arch"]``; None when the artifact cannot be found or read
        (:func:`load_artifact` then says why, with the full checks).
    """
    try:
        meta = json.loads((resolve_model_path(spec) / CONFIG_FILE).read_text(encoding="utf-8"))
        arch = meta["model"]["arch"]
    except (ModelError, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return arch if isinstance(arch, str) else None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_config_sha256(model_dict: dict) -> str:
    """Hex sha256 of the canonical JSON (sorted keys, no spaces) of a model config dict."""
    text = json.dumps(model_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_artifact(out_dir: str | os.PathLike, model, config: ModelConfig, *,
                  card: dict | None = None, training: dict | None = None) -> Path:
    """Write ``model`` as an artifact folder, atomically.

    Everything is written to a temporary folder beside ``out_dir`` which is then
    renamed into place (:func:`rtsep.io.files.atomic_path`); an existing artifact at
    ``out_dir`` is replaced (a non-empty folder that is not an artifact is refused).

    Parameters
    ----------
    out_dir : str or os.PathLike
        The artifact folder to create, e.g. ``models/default``.
    model : keras.Model
        A built Keras model of ``config`` (e.g. from :func:`rtsep.nn.build_model`).
    config : rtsep.nn.ModelConfig
        Its architecture config.
    card : dict, optional
        Model-card entries, rendered as MODEL_CARD.md sections, e.g.
        ``{"training data": "...", "steps": 12000, "sdr": {"vocals": 5.1, ...},
        "sdr command": "rtsep eval ..."}``; values may be str, numbers, lists or dicts
        (rendered as bullet lists).
    training : dict, optional
        Free-form JSON-able dict stored under ``"training"`` in config.json (e.g. the
        training config), not used by the loader.

    Returns
    -------
    pathlib.Path
        The artifact folder.

    Raises
    ------
    ModelError
        The model does not match ``config`` or ``out_dir`` is unusable.
    """
    from rtsep.nn import count_params

    if not isinstance(config, ModelConfig):
        raise ModelError(f"save_artifact needs a rtsep.nn.ModelConfig, got {type(config).__name__}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"cannot write model artifact to {str(out)!r}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / CONFIG_FILE).is_file():
        raise ModelError(f"refusing to replace {str(out)!r}: it is a non-empty folder without "
                         f"{CONFIG_FILE} (not a model artifact); choose another folder")
    _check_io_shapes(model, f"model given to save_artifact for {str(out)!r}")
    params = count_params(model)
    expected = _expected_params(config)
    if expected is not None and params != expected:
        raise ModelError(f"model has {params} parameters but config ({config.arch}) builds "
                         f"{expected}; pass the config the model was built from")
    if training is not None:
        try:
            json.dumps(training)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"training metadata is not JSON-serialisable: {exc}") from None

    with atomic_path(out, folder=True, mode=0o755) as tmp:
        weights = tmp / WEIGHTS_FILE
        with warnings.catch_warnings():  # Keras 3.15 + numpy 2.4 warn once per variable
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy",
                                    category=DeprecationWarning)
            model.save_weights(str(weights))
        meta: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": config.to_dict(),
            "model_sha256": model_config_sha256(config.to_dict()),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": sha256_file(weights),
            "params": params,
            "keras_version": _keras_version(),
            "rtsep_version": rtsep.__version__,
        }
        if training is not None:
            meta["training"] = training
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_FILE).write_text(render_card(out.name, config, params, card), encoding="utf-8")
    return out


def load_artifact(path_or_spec: str | os.PathLike) -> Artifact:
    """Load an artifact folder (or NAME, see :func:`resolve_model_path`).

    Checks, in order: config.json is a readable object with exactly the known
    keys; the architecture config validates and its sha256 matches the one
    recorded at saving (an edited config is refused); the weights file exists and its
    sha256 matches; the rebuilt model's parameter count matches; every weight
    tensor in the file matches the model's variables by name and shape.

    Parameters
    ----------
    path_or_spec : str or os.PathLike

    Returns
    -------
    Artifact

    Raises
    ------
    ModelError
        For any failed check, naming the file and what to do.
    """
    path = resolve_model_path(path_or_spec)
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelError(f"{str(path)!r} is not a model artifact: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{str(cfg_path)!r} is not valid JSON ({exc}); the artifact is corrupt: "
                         f"re-save or re-train it") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{str(cfg_path)!r} must hold a JSON object, got {type(meta).__name__}")
    unknown = sorted(set(meta) - _CONFIG_KEYS)
    missing = sorted(_REQUIRED_KEYS - set(meta))
    if unknown or missing:
        raise ModelError(f"{str(cfg_path)!r}: unknown key(s) {unknown}, missing key(s) {missing}; "
                         f"allowed keys: {sorted(_CONFIG_KEYS)}")
    if meta["format"] != FORMAT or meta["format_version"] != FORMAT_VERSION:
        raise ModelError(f"{str(cfg_path)!r}: format {meta['format']!r} version "
                         f"{meta['format_version']!r} is not {FORMAT!r} version {FORMAT_VERSION}")
    try:
        config = ModelConfig.from_dict(meta["model"])
    except ConfigError as exc:
        raise ModelError(f"{str(cfg_path)!r}: invalid model config: {exc}") from None
    if model_config_sha256(meta["model"]) != meta["model_sha256"]:
        raise ModelError(f"{str(cfg_path)!r}: the \"model\" config was edited after saving (its sha256 "
                         f"no longer matches model_sha256); the weights were trained for the original "
                         f"config: restore it, or re-save the artifact with save_artifact")
    wname = meta["weights_file"]
    if not isinstance(wname, str) or Path(wname).name != wname or not wname.endswith(".weights.h5"):
        raise ModelError(f"{str(cfg_path)!r}: weights_file must be a plain file name ending in "
                         f".weights.h5, got {wname!r}")
    weights = path / wname
    if not weights.is_file():
        raise ModelError(f"weights file {str(weights)!r} is missing; the artifact is incomplete")
    digest = sha256_file(weights)
    if digest != meta["weights_sha256"]:
        raise ModelError(f"weights file {str(weights)!r} is corrupt or was modified: sha256 {digest} "
                         f"!= {meta['weights_sha256']} recorded in {CONFIG_FILE}; re-save or re-train it")

    from rtsep.nn import build_model, count_params
    model = build_model(config)
    params = count_params(model)
    if params != meta["params"]:
        raise ModelError(f"{str(cfg_path)!r}: the config builds a model with {params} parameters but "
                         f"{meta['params']} are recorded; the config was edited or does not belong "
                         f"to these weights")
    _check_h5_shapes(weights, model)
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # noqa: BLE001 - any loader failure means a bad artifact
        raise ModelError(f"cannot load weights {str(weights)!r} into the {config.arch} model: "
                         f"{type(exc).__name__}: {exc}") from None
    card_path = path / CARD_FILE
    card_text = card_path.read_text(encoding="utf-8", errors="replace") if card_path.is_file() else ""
    info = {k: v for k, v in meta.items() if k != "model"}
    return Artifact(model=model, config=config, card_text=card_text, path=path, info=info)


def _check_h5_shapes(weights: Path, model) -> None:
    """Compare the HDF5 tensors with the model's variables (count and shapes)."""
    import h5py
    import numpy as np

    shapes: list[tuple[int, ...]] = []
    try:
        with h5py.File(weights, "r") as f:
            def visit(_name, obj):
                if isinstance(obj, h5py.Dataset):
                    shapes.append(tuple(int(s) for s in obj.shape))
            f.visititems(visit)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, ...
        raise ModelError(f"weights file {str(weights)!r} is not a readable HDF5 file ({exc}); "
                         f"it is corrupt or truncated") from None
    want = sorted(tuple(int(s) for s in w.shape) for w in model.weights)
    if sorted(shapes) != want:
        n_file = int(sum(np.prod(s) for s in shapes))
        raise ModelError(f"weights file {str(weights)!r} holds {len(shapes)} tensors ({n_file} values) "
                         f"but the model needs {len(want)} tensors ({int(sum(np.prod(s) for s in want))} "
                         f"values) of other shapes; the weights do not belong to this config")


def _check_io_shapes(model, what: str) -> None:
    try:
        in_shape = tuple(model.inputs[0].shape[1:])
        out_shape = tuple(model.outputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError):
        raise ModelError(f"{what} is not a built functional Keras model") from None
    want_in = ModelConfig.input_shape
    if in_shape != want_in or out_shape != (4, *want_in):
        raise ModelError(f"{what} maps {in_shape} -> {out_shape}; rtsep models map {want_in} -> "
                         f"{(4, *want_in)}")


def _expected_params(config: ModelConfig) -> int | None:
    """Parameter count of a freshly built ``config`` model (None if Keras fails)."""
    from rtsep.nn import build_model, count_params
    return count_params(build_model(config))


def _keras_version() -> str:
    import keras
    return keras.__version__


def render_card(name: str, config: ModelConfig, params: int, card: dict | None) -> str:
    """MODEL_CARD.md text: a header with architecture and size, then ``card``'s sections.

    Sections the trainer should fill: "training data", "steps", "sdr" (dict stem
    -> median SDR in dB) and "sdr command"; missing ones are listed as
    "not recorded".
    """
    card = dict(card or {})
    lines = [f"# Model card: {name}", "",
             "## Architecture", "",
             f"- arch: `{config.arch}`",
             f"- parameters: {params:,}",
             f"- config: `{json.dumps(config.to_dict()['net'], separators=(',', ':'))}`",
             "- input: magnitudes (batch, 1024 bins, 192 frames, 2 channels), 4096-point STFT, hop 1024",
             "- output: (batch, 4 stems [vocals, drums, bass, other], 1024, 192, 2) magnitude estimates",
             ""]
    titles = {"training data": "Training data", "steps": "Training steps",
              "sdr": "Measured SDR (median over tracks, dB)", "sdr command": "SDR measured with"}
    keys = list(titles) + [k for k in card if k not in titles]
    for key in keys:
        title = titles.get(key, f"{str(key)[:1].upper()}{str(key)[1:]}")
        lines += [f"## {title}", "", *_render_value(card.get(key, "not recorded")), ""]
    return "\n".join(lines)


def _render_value(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"- {k}: {v}" for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [f"- {v}" for v in value]
    text = str(value)
    if "\n" not in text and (text.startswith("rtsep ") or text.startswith("python ")):
        return [f"```\n{text}\n```"]
    return [text]
