"""``rtsep synth``: write a synthetic multitrack dataset (MUSDB18-HQ layout)."""

from __future__ import annotations

from pathlib import Path

NAME = "synth"
HELP = ("Generate synthetic songs with separate stems for training: OUT/<song>/{vocals,drums,"
        "bass,other,mixture}.wav (44.1 kHz stereo 16-bit; mixture = exact sum) and "
        "OUT/manifest.json. Needs fluidsynth, fluid-soundfont-gm, espeak-ng, sonic-pi-samples.")


def add_arguments(p):
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output folder (created if missing; complete songs already there are kept)")
    p.add_argument("--tracks", type=int, default=1, metavar="N", help="number of songs (default 1)")
    p.add_argument("--seconds", type=float, default=30.0, metavar="S",
                   help="length of each song in seconds, 2..600 (default 30)")
    p.add_argument("--seed", type=int, default=0, metavar="K",
                   help="run seed; song i depends only on (seed, i, seconds) (default 0)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="parallel processes; the output is the same for any W (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import contextlib
    import json
    import sys

    from rtsep.cli.progress import progress_bar
    from rtsep.training.synth.dataset import generate_dataset

    bar = contextlib.nullcontext() if args.quiet else progress_bar("synth", args.tracks)
    with bar as update:
        manifest = generate_dataset(args.out, args.tracks, args.seconds, args.seed, args.workers,
                                    progress=update)
    tracks = manifest["tracks"]
    rendered = [t for t in tracks if not t.get("reused")]
    summary = {"out": str(args.out), "tracks": len(tracks), "rendered": len(rendered),
               "wall_s": manifest.get("wall_s")}
    print(json.dumps(summary), file=sys.stdout)
    return 0
