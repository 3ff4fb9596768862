"""``rtsep train``: train a separation model on a MUSDB18-HQ-style folder."""

from __future__ import annotations

import shlex

from rtsep.nn.config import ARCHS

NAME = "train"
HELP = ("Train a model (unet, hybrid, stream_unet or stream_hybrid) on track folders with "
        "vocals/drums/bass/other stems (and accompaniment tracks: vocals + accompaniment); "
        "writes the artifact, checkpoints and TensorBoard logs to --out.")

DEFAULT_SILENCE_PROB = 0.1
"""``rtsep train``'s source dropout (AugmentConfig's own default, 0, keeps old runs' data)."""

# (flag, TrainConfig field, type, help). Unset options keep TrainConfig's defaults.
_OPTIONS = (
    ("--steps", "steps", int, "total optimiser steps (default 10000)"),
    ("--batch-size", "batch_size", int, "global batch, examples per step (default 4)"),
    ("--lr", "lr", float, "peak learning rate after warm-up (default 1e-3)"),
    ("--warmup-steps", "warmup_steps", int, "linear warm-up steps (default 200)"),
    ("--val-every", "val_every", int, "steps between validations; 0: only at the end (default 1000; 4 excerpts of 10 s cost ~45 s on 2 cores)"),
    ("--val-fraction", "val_fraction", float, "share of tracks held out for validation (default 0.1)"),
    ("--val-excerpts", "val_excerpts", int, "validation excerpts (default 4)"),
    ("--val-seconds", "val_seconds", float, "seconds per validation excerpt (default 10)"),
    ("--val-leakage", "val_leakage", str, "at every validation, also measure vocal leakage (the "
                                          "vocals output's energy, in dB of the music; lower is "
                                          "better) on fixed excerpts of the vocal-free music of "
                                          "this folder's tracks, e.g. a held-out set of 'rtsep synth "
                                          "--kind accompaniment --split held-out'; logged, the "
                                          "artifact is still chosen by validation SDR"),
    ("--val-leakage-excerpts", "val_leakage_excerpts", int,
     "excerpts of --val-leakage, --val-seconds each (default 8)"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints (default 250)"),
    ("--keep-checkpoints", "keep_checkpoints", int, "checkpoints kept, the latest ones (default 2; "
                                                    "more for 'rtsep average')"),
    ("--seed", "seed", int, "seed of initialisation, data stream and validation split (default 0)"),
    ("--loss", "loss", str, "l1 (default), l1_log, or psa (the engine's ratio-masked output "
                            "against phase-sensitive targets)"),
    ("--workers", "workers", int, "parallel example makers in the input pipeline (default 2)"),
    ("--remix-prob", None, float, "probability that a stem comes from another track (default 0.5)"),
    ("--silence-prob", None, float, "probability that a stem is left out of an example (source "
                                    "dropout; teaches silence where a stem is absent; default 0.1)"),
    ("--instrumental-prob", None, float, "probability that an accompaniment example leaves its "
                                         "vocals out: real instrumental music, vocals target silence "
                                         "(default 0)"),
    ("--partial-fraction", "partial_fraction", float,
     "share of examples from accompaniment tracks (vocals + accompaniment only; default: "
     "as many as their share of the tracks)"),
)


def add_arguments(p):
    p.add_argument("--data", required=True, metavar="DIR",
                   help="dataset: a folder of track folders (MUSDB18-HQ layout: vocals, drums, bass, "
                        "other as .wav or .flac at 44.1 kHz; a mixture file is ignored; or "
                        "accompaniment tracks: vocals and accompaniment), or a MUSDB18-HQ root "
                        "(its train/ is used)")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="architecture (required unless --config names one)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="model config JSON (ModelConfig: {\"arch\": ..., \"net\": {...}}, or an "
                        "artifact's config.json) instead of the --arch/--size preset")
    p.add_argument("--init-from", metavar="MODEL", default=None,
                   help="start from the weights of this model (a name under models/, e.g. default, "
                        "or an artifact folder) to fine-tune it; its config is used unless "
                        "--arch/--config name another, which then takes the weights it shares "
                        "(same layer path and shape) and starts the rest afresh")
    p.add_argument("--size", choices=("default", "tiny"), default="default",
                   help="preset size (default: default)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="artifact folder to write, e.g. models/NAME (checkpoints/ and logs/ go inside)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint (same step, same data)")
    p.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                   help="tf.distribute strategy: mirrored = all local GPUs (or the CPU); multiworker = "
                        "the cluster in TF_CONFIG (default: none)")
    for flag, _field, typ, text in _OPTIONS:
        p.add_argument(flag, type=typ, default=None, help=text)
    p.add_argument("--no-augment", action="store_true",
                   help="no augmentation (no gains, channel swaps, remixing or silenced stems)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or messages")


def _command_line(args) -> str:
    parts = ["rtsep", "train", "--data", args.data]
    if args.arch:
        parts += ["--arch", args.arch]
    if args.config:
        parts += ["--config", args.config]
    parts += ["--size", args.size, "--out", args.out]
    if args.init_from:
        parts += ["--init-from", args.init_from]
    for flag, _field, _typ, _text in _OPTIONS:
        v = getattr(args, flag[2:].replace("-", "_"))
        if v is not None:
            parts += [flag, str(v)]
    if args.strategy != "none":
        parts += ["--strategy", args.strategy]
    for flag in ("resume", "no_augment"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    return shlex.join(parts)


def build_config(args):
    """The :class:`rtsep.training.config.TrainConfig` the parsed options describe."""
    from rtsep.training.data import AugmentConfig
    from rtsep.errors import ConfigError
    from rtsep.nn.config import ModelConfig
    from rtsep.training.config import TrainConfig

    arch, config_path = args.arch, args.config
    if args.init_from and not config_path and not arch:  # the model's own config
        from rtsep.runtime.artifact import resolve_model_path
        config_path = str(resolve_model_path(args.init_from) / "config.json")
    if config_path:
        file_arch = ModelConfig.from_json_file(config_path).arch
        if arch is None:
            arch = file_arch
        elif arch != file_arch:
            raise ConfigError(f"--arch {arch} but --config {config_path} describes a {file_arch} model; "
                              f"drop --arch or make them agree")
    if arch is None:
        raise ConfigError(f"no architecture: pass --arch {'|'.join(ARCHS)} (or --config FILE)")
    kw = {"data": args.data, "out": args.out, "arch": arch, "size": args.size,
          "model_config": config_path, "strategy": args.strategy, "command": _command_line(args),
          "init_from": args.init_from}
    for flag, field, _typ, _text in _OPTIONS:
        v = getattr(args, flag[2:].replace("-", "_"))
        if v is not None and field is not None:
            kw[field] = v
    if args.no_augment:
        for flag in ("remix_prob", "silence_prob", "instrumental_prob"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')} and --no-augment contradict each "
                                  f"other; drop one")
        kw["augment"] = AugmentConfig.none()
    else:
        aug = {"silence_prob": DEFAULT_SILENCE_PROB if args.silence_prob is None else args.silence_prob}
        for flag in ("remix_prob", "instrumental_prob"):
            if getattr(args, flag) is not None:
                aug[flag] = getattr(args, flag)
        kw["augment"] = AugmentConfig(**aug)
    return TrainConfig(**kw)


def run(args) -> int:
    import sys

    from rtsep.cli.progress import progress_bar
    from rtsep.training.loop import train

    cfg = build_config(args)
    if args.no_progress:
        train(cfg, resume=args.resume)
        return 0
    fields = (("loss", "loss {task.fields[loss]}"), ("rate", "{task.fields[rate]} ex/s"))
    with progress_bar("train", cfg.steps, fields=fields) as update:
        def progress(step, total, loss=None, rate=None):
            if loss is None:
                update(step, total)
            else:
                update(step, total, loss=f"{loss:.4g}", rate=f"{rate:.2f}")

        out = train(cfg, resume=args.resume, progress=progress,
                    log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"model written to {out}", file=sys.stderr)
    return 0
