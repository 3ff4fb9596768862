"""Tests of rtsep.training.loop and ``rtsep train``: tiny real models on tiny synthetic songs.

Tolerances: the resumed run's weights are compared with the uninterrupted run's at
1e-5 absolute (the data stream and the CPU kernels are deterministic; the runs were
bitwise equal when written). The overfitting test asks for a 5-fold fall of the
loss in 60 steps (measured: 16.0-fold with ``l1``, 16.4-fold with ``psa``).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from rtsep.constants import STEMS
from rtsep.training.data import AugmentConfig
from rtsep.training.excerpts import EXCERPT_SAMPLES
from rtsep.errors import ConfigError
from rtsep.training.checkpoints import list_checkpoints
from rtsep.training.config import TrainConfig
from rtsep.training.loop import train
from stems import synth_stems, write_track  # tests/stems.py




def make_dataset_folder(root: Path, n_tracks: int, n_samples: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for k in range(n_tracks):
        write_track(root / f"song{k}", synth_stems(rng, n_samples))
    return root


def h5_tensors(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def tiny_config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), arch="unet", size="tiny", steps=6, batch_size=2,
                lr=3e-3, warmup_steps=2, val_fraction=0.0, checkpoint_every=0, log_every=2)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("loss", ["l1", "psa"])
def test_tiny_model_overfits_one_short_song(tmp_path, loss):
    data = make_dataset_folder(tmp_path / "one", 1, EXCERPT_SAMPLES + 2048)
    losses = []
    cfg = tiny_config(data, tmp_path / "out", steps=60, batch_size=1, lr=1e-2, warmup_steps=0,
                      min_lr_ratio=1.0, augment=AugmentConfig.none(), loss=loss)
    out = train(cfg, on_step=lambda step, loss: losses.append(loss))
    assert len(losses) == 60
    first, last = losses[0], float(np.mean(losses[-5:]))
    assert first / last >= 5.0, f"{loss}: loss fell only from {first:.4f} to {last:.4f}"
    # no validation tracks (a single song): the final model is the artifact
    from rtsep.runtime.artifact import load_artifact
    art = load_artifact(out)
    assert "not measured during training" in art.card_text
    assert [s for s, _ in list_checkpoints(out)] == [60]


def test_resume_continues_at_the_same_step_and_matches(tmp_path):
    data = make_dataset_folder(tmp_path / "ds", 2, EXCERPT_SAMPLES + 20_000)

    ref = train(tiny_config(data, tmp_path / "ref"))

    cfg = tiny_config(data, tmp_path / "cut")
    seen = []

    def interrupt(step, loss):
        seen.append(step)
        if step == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises in the loop

    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=interrupt)
    assert [s for s, _ in list_checkpoints(cfg.out)] == [3]  # saved on the way out
    state = json.loads((list_checkpoints(cfg.out)[-1][1] / "state.json").read_text())
    assert state["step"] == 3 and state["data_stream"]["next_example"] == 6

    resumed_steps = []
    train(cfg, resume=True, on_step=lambda s, l: resumed_steps.append(s))
    assert resumed_steps == [4, 5, 6]  # continues at the same step

    want = h5_tensors(list_checkpoints(ref)[-1][1] / "model.weights.h5")
    got = h5_tensors(list_checkpoints(cfg.out)[-1][1] / "model.weights.h5")
    assert want.keys() == got.keys() and len(want) > 5
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5, err_msg=k)
    # the resumed steps really trained: the weights moved on from the step-3 checkpoint
    at3 = h5_tensors(list_checkpoints(cfg.out)[0][1] / "model.weights.h5")
    assert max(np.abs(at3[k] - got[k]).max() for k in got) > 1e-4

    # a fresh run into a folder with checkpoints is refused, and so is a changed resume
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg)
    with pytest.raises(ConfigError, match="batch_size"):
        train(tiny_config(data, tmp_path / "cut", batch_size=1), resume=True)


def test_init_from_starts_at_the_given_models_weights(tmp_path):
    from rtsep.runtime.artifact import load_artifact
    from rtsep.cli.main import main

    data = make_dataset_folder(tmp_path / "ds", 2, EXCERPT_SAMPLES + 10_000)
    base = train(tiny_config(data, tmp_path / "base"))

    def trainable(art):  # batch-norm statistics move in any training step, whatever the lr
        return [v.numpy() for v in art.model.trainable_weights]

    want = trainable(load_artifact(base))

    # one step at lr 1e-9 leaves the weights where they started (Adam moves each by ~lr)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "ft"), "--init-from", str(base),
            "--steps", "1", "--batch-size", "2", "--lr", "1e-9", "--warmup-steps", "0",
            "--val-fraction", "0", "--checkpoint-every", "0", "--no-progress"]
    assert main(argv) == 0  # no --arch: the config comes from the model
    ft = load_artifact(tmp_path / "ft")
    assert ft.config == load_artifact(base).config
    got = trainable(ft)
    assert len(got) == len(want) > 5
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
    assert "fine-tuned" in ft.card_text and str(base) in ft.card_text
    saved = TrainConfig.from_json_file(tmp_path / "ft" / "train_config.json")
    assert saved.init_from == str(base) and "--config" not in saved.command  # as typed

    # the same run without --init-from starts elsewhere (the check above can fail)
    fresh = train(tiny_config(data, tmp_path / "fresh", steps=1, lr=1e-9, warmup_steps=0))
    moved = trainable(load_artifact(fresh))
    assert max(float(np.abs(m - w).max()) for m, w in zip(moved, want)) > 1e-4

    with pytest.raises(ConfigError, match="init-from"):  # another architecture
        train(tiny_config(data, tmp_path / "other", arch="hybrid", init_from=str(base)))


def test_cli_train_writes_loadable_artifact(tmp_path):
    from rtsep.runtime.artifact import load_artifact
    from rtsep.cli.main import main
    from rtsep.runtime.compiled import ModelRuntime

    data = make_dataset_folder(tmp_path / "ds", 2, EXCERPT_SAMPLES + 10_000)
    out = tmp_path / "models" / "mini"
    argv = ["train", "--data", str(data), "--arch", "unet", "--size", "tiny", "--out", str(out),
            "--steps", "4", "--batch-size", "2", "--val-every", "0", "--val-fraction", "0.5",
            "--val-excerpts", "1", "--val-seconds", "1.5", "--checkpoint-every", "2",
            "--strategy", "mirrored", "--no-progress"]
    assert main(argv) == 0

    art = load_artifact(out)
    rt = ModelRuntime.from_model(art.model, art.config, batch_size=1, warmup_calls=0)
    mag = np.random.default_rng(0).uniform(0, 5, (1, 1024, 192, 2)).astype(np.float32)
    est = rt(mag)
    assert est.shape == (1, 4, 1024, 192, 2) and np.all(est >= 0)
    card = art.card_text
    assert str(data) in card and "1 training tracks" in card and "1 validation tracks" in card
    assert "steps of batch 2" in card and "L1" in card and "rtsep train --data" in card
    assert all(f"- {s}:" in card for s in STEMS)  # validation SDR per stem
    assert art.info["training"]["train_config"]["strategy"] == "mirrored"
    saved = TrainConfig.from_json_file(out / "train_config.json")
    assert saved.steps == 4 and saved.batch_size == 2 and saved.strategy == "mirrored"
    assert [s for s, _ in list_checkpoints(out)] == [2, 4]
    state = json.loads((list_checkpoints(out)[-1][1] / "state.json").read_text())
    assert state["best_step"] == 4 and set(state["best_sdr"]) == {*STEMS, "mean"}  # validated, then saved

    import tensorflow as tf
    tags = set()
    for ev_file in (out / "logs").glob("events.out.tfevents.*"):
        for rec in tf.data.TFRecordDataset(str(ev_file)):
            ev = tf.compat.v1.Event.FromString(rec.numpy())
            tags.update(v.tag for v in ev.summary.value)
    assert {"train/loss", "train/lr", "train/examples_per_s", "val/sdr_vocals"} <= tags

    # resume with more steps continues; a fresh run into the same folder is refused (exit 2)
    assert main([*argv[:argv.index("--steps")], "--steps", "5", *argv[argv.index("--batch-size"):],
                 "--resume"]) == 0
    assert list_checkpoints(out)[-1][0] == 5
    assert main(argv) == 2


def test_cli_bad_options_exit_2(tmp_path, capsys):
    from rtsep.cli.main import main

    data = make_dataset_folder(tmp_path / "ds", 1, 5000)
    cfg_file = tmp_path / "hybrid.json"
    cfg_file.write_text(json.dumps({"arch": "hybrid"}))
    assert main(["train", "--data", str(data), "--arch", "unet", "--config", str(cfg_file),
                 "--out", str(tmp_path / "o")]) == 2
    assert "describes a hybrid model" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "--arch" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nope"), "--arch", "unet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--arch", "unet", "--out", str(tmp_path / "o"),
                 "--lr", "-1"]) == 2
    assert "lr" in capsys.readouterr().err


def test_average_writes_the_mean_of_the_checkpoints_weights(tmp_path, capsys):
    """``rtsep train --keep-checkpoints 3`` keeps three; ``rtsep average`` writes an
    artifact whose every float tensor is their mean (float64 sum, cast back); a step
    without a checkpoint is refused and writes nothing."""
    from rtsep.cli.main import main
    from rtsep.runtime.artifact import load_artifact

    data = make_dataset_folder(tmp_path / "ds", 2, EXCERPT_SAMPLES + 10_000)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--arch", "unet", "--size", "tiny", "--out", str(run),
                 "--steps", "6", "--batch-size", "2", "--lr", "3e-3", "--warmup-steps", "0",
                 "--val-every", "0", "--val-fraction", "0", "--checkpoint-every", "2",
                 "--keep-checkpoints", "3", "--no-progress"]) == 0
    ckpts = dict(list_checkpoints(run))
    assert sorted(ckpts) == [2, 4, 6]
    out = tmp_path / "avg"
    assert main(["average", str(run), "--steps", "2", "6", "--out", str(out)]) == 0
    got = h5_tensors(out / "model.weights.h5")
    a, b = (h5_tensors(ckpts[s] / "model.weights.h5") for s in (2, 6))
    moved = 0
    for name, w in got.items():
        if np.issubdtype(w.dtype, np.floating):
            want = ((a[name].astype(np.float64) + b[name]) / 2).astype(w.dtype)
            np.testing.assert_array_equal(w, want, err_msg=name)
            moved += int(not np.array_equal(a[name], b[name]))
    assert moved > 0  # the run moved some weights between the steps: the mean is not either one
    art = load_artifact(out)
    assert art.info["training"]["weight_average"]["checkpoints"] == [2, 6]
    assert "rtsep average" in art.card_text
    capsys.readouterr()
    assert main(["average", str(run), "--steps", "4", "5", "--out", str(tmp_path / "x")]) == 2
    assert "no checkpoint at step 5" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
