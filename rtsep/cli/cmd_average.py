"""``rtsep average``: an artifact whose weights are the mean of a run's checkpoints."""

from __future__ import annotations

from pathlib import Path

NAME = "average"
HELP = ("Write a model artifact whose weights are the mean of a training run's checkpoints "
        "at the given steps (weight averaging along one run); the run's config.json records "
        "the run and steps.")


def add_arguments(p):
    p.add_argument("run", type=Path, metavar="RUN", help="the run's folder (rtsep train --out)")
    p.add_argument("--steps", type=int, nargs="+", required=True, metavar="STEP",
                   help="checkpoint steps to average (each must still be in RUN/checkpoints: "
                        "train with --keep-checkpoints large enough)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="artifact folder to write (replaced if it is an artifact)")


def run(args) -> int:
    import json

    from rtsep.runtime.artifact import save_artifact
    from rtsep.training.checkpoints import average_checkpoints

    art = average_checkpoints(args.run, args.steps)
    steps = sorted(set(args.steps))
    training = dict(art.info.get("training") or {})
    training.pop("validation_sdr", None)  # the run's best checkpoint's, not this model's
    training.pop("validation_step", None)
    training["step"] = steps[-1]
    training["weight_average"] = {"run": str(args.run), "checkpoints": steps,
                                  "how": "arithmetic mean of the checkpoints' weights"}
    save_artifact(args.out, art.model, art.config, training=training,
                  card={"weights": f"mean of the weights of {args.run}'s checkpoints at steps "
                                   f"{', '.join(map(str, steps))} (rtsep average)"})
    print(json.dumps({"out": str(args.out), "run": str(args.run), "steps": steps}))
    return 0
