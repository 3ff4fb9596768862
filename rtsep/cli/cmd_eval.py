"""``rtsep eval``: SDR of a model (or the oracle) on a MUSDB18-HQ-layout dataset."""

from __future__ import annotations

from pathlib import Path

from rtsep.cli.common import add_model_options

NAME = "eval"
HELP = ("Evaluate a model on a folder of track folders (MUSDB18-HQ layout): per-track and "
        "median SDR per stem (museval, median over 1 s frames), with the mixture baseline; "
        "or (--vocal-leakage) what it puts on the vocals output for music without vocals.")


def add_arguments(p):
    p.add_argument("dataset", type=Path, metavar="DATASET",
                   help="folder of track folders, each with vocals/drums/bass/other (.wav|.flac) "
                        "and optionally mixture (else the sum)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--vocal-leakage", action="store_true",
                   help="instead of SDR: separate each track's music without its vocals (an "
                        "accompaniment track's accompaniment, a full track's drums+bass+other) "
                        "and report the energy on the vocals output relative to it, in dB "
                        "(lower is better: what karaoke fails to keep)")
    add_model_options(p)


def _fmt(v: float) -> str:
    return "nan" if v != v else f"{v:6.2f}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from rtsep.cli.progress import progress_bar
    from rtsep.constants import STEMS
    from rtsep.engine.offline import offline_config
    from rtsep.evaluate import evaluate_dataset
    from rtsep.io.jsonio import write_json_atomic
    from rtsep.io.tracks import list_tracks

    console = Console()
    offline_config(None, **_config_fields(args))  # bad values fail before anything is read
    if args.vocal_leakage:
        return _run_leakage(args, console)
    cfg = _config_fields(args)
    list_tracks(args.dataset)  # a missing or empty dataset fails before anything is drawn

    def on_track(name, model_sdr, mix_sdr):
        cells = "  ".join(f"{s} {_fmt(model_sdr[s])} ({_fmt(mix_sdr[s])})" for s in STEMS)
        console.print(f"{name}: {cells}", highlight=False)

    console.print(f"SDR in dB (museval v4, median over 1 s frames); mixture baseline in brackets; "
                  f"model: {args.model}", highlight=False)
    with progress_bar("evaluating") as update:
        res = evaluate_dataset(args.dataset, args.model, config=cfg, batch_size=args.batch_size,
                               threads=args.threads, on_track=on_track, progress=update)
    table = Table(title=f"median over {len(res['tracks'])} track(s)")
    table.add_column("")
    for s in STEMS + ("mean",):
        table.add_column(s, justify="right")
    table.add_row(args.model, *[_fmt(res["median"][s]) for s in STEMS + ("mean",)])
    table.add_row("mixture", *[_fmt(res["mixture_median"][s]) for s in STEMS + ("mean",)])
    console.print(table)
    if args.json:
        write_json_atomic(args.json, res)
        console.print(f"wrote {args.json}")
    return 0


def _config_fields(args) -> dict:
    """The offline config fields the user gave (None: the model's default)."""
    return {"lookahead_frames": args.lookahead, "model_hop_frames": args.model_hop,
            "high_band": args.high_band, "mask_power": args.mask_power}


def _run_leakage(args, console) -> int:
    from rtsep.cli.progress import progress_bar
    from rtsep.evaluate import vocal_leakage
    from rtsep.io.jsonio import write_json_atomic
    from rtsep.io.tracks import list_tracks

    list_tracks(args.dataset, partial=True)
    console.print(f"vocal leakage in dB of the music without vocals (lower is better); "
                  f"model: {args.model}", highlight=False)
    with progress_bar("separating") as update:
        res = vocal_leakage(args.dataset, args.model, config=_config_fields(args),
                            batch_size=args.batch_size, threads=args.threads,
                            on_track=lambda n, v: console.print(f"{n}: {v:7.2f}", highlight=False),
                            progress=update)
    console.print(f"median {res['median_db']:.2f} dB, 90th percentile {res['p90_db']:.2f} dB, "
                  f"max {res['max_db']:.2f} dB over {len(res['tracks'])} track(s)", highlight=False)
    if args.json:
        write_json_atomic(args.json, res)
        console.print(f"wrote {args.json}")
    return 0
