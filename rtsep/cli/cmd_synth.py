"""``rtsep synth``: write a synthetic multitrack dataset (MUSDB18-HQ layout)."""

from __future__ import annotations

from pathlib import Path

NAME = "synth"
HELP = ("Generate training songs from real recorded sources (voices re-sung from recorded "
        "speech, Hydrogen/AVL drum kits, guitar strums, amp responses, soundfonts): "
        "OUT/<song>/{vocals,drums,bass,other,mixture}.wav (44.1 kHz stereo 16-bit; mixture = "
        "exact sum) and OUT/manifest.json, which lists every file each song used. "
        "--kind accompaniment writes partially labelled tracks instead: "
        "OUT/acc-SEED-NNNNN/{vocals,accompaniment,mixture}.wav, generated vocals over an "
        "excerpt of real instrumental music (game-music packages), mixture = vocals + "
        "accompaniment exactly, manifest 'stems_known': ['vocals', 'accompaniment']. "
        "Needs fluidsynth, fluid-soundfont-gm, espeak-ng, sonic-pi-samples; uses every data "
        "package of 'bash bootstrap.sh data' that is installed (--inventory lists them).")


def add_arguments(p):
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (created if missing; complete tracks already there are kept)")
    p.add_argument("--tracks", type=int, default=1, metavar="N", help="number of tracks (default 1)")
    p.add_argument("--seconds", type=float, default=30.0, metavar="S",
                   help="length of each track in seconds, 2..600 (default 30)")
    p.add_argument("--seed", type=int, default=0, metavar="K",
                   help="run seed; track i depends only on (seed, i, seconds) (default 0)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="parallel processes; the output is the same for any W (default 1)")
    p.add_argument("--kind", choices=("songs", "accompaniment"), default="songs",
                   help="songs: every stem known (default); accompaniment: generated vocals over "
                        "real instrumental music, only vocals and accompaniment known")
    p.add_argument("--held-out", action="append", metavar="PKG", default=None,
                   help="accompaniment: a package never used for training (repeatable; default "
                        "supertux-data and hedgewars-data); recorded in the manifest")
    p.add_argument("--split", choices=("train", "held-out"), default="train",
                   help="accompaniment: draw from the --music packages (train, default) or "
                        "from the held-out ones only (for measuring vocal leakage)")
    p.add_argument("--music", action="append", metavar="PKG", default=None,
                   help="accompaniment, train split: draw only from this package (repeatable; "
                        "'all': every accompaniment package not held out; default: the first "
                        "survey's wesnoth-1.16-music, warzone2100-music, singularity-music, "
                        "hyperrogue-music, asc-music); recorded in the manifest")
    p.add_argument("--vocal-check", type=Path, metavar="JSON",
                   help="accompaniment: exclude the files this vocal check excluded; with no "
                        "--out, run the check (model on sampled excerpts) and write JSON. Leave "
                        "it out of a held-out leakage set: it excludes the files a model leaks "
                        "on, which flatters that model")
    p.add_argument("--vocal-check-model", default="default", metavar="MODEL",
                   help="the model the vocal check runs (default: default)")
    p.add_argument("--without", action="append", metavar="GROUP", default=None,
                   help="songs: leave a group of real sources out (repeatable), for an "
                        "ablation: voices (espeak-ng singers, no recorded choir), kits (General "
                        "MIDI / sonic-pi drums), instruments (FluidR3 only, no strums or amp "
                        "responses), mixing (no recorded hall or plate, no sidechain, width 1); "
                        "the rest of each song is as without the option; recorded in the manifest")
    p.add_argument("--inventory", type=Path, metavar="JSON",
                   help="write the source inventory (packages, files, minutes, licences read "
                        "from the installed copyright files) to JSON; with no --out, only that")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import contextlib
    import json
    import sys

    from rtsep.cli.progress import progress_bar
    from rtsep.errors import ConfigError

    if args.inventory:
        from rtsep.io.jsonio import write_json_atomic
        from rtsep.training.synth.sources import inventory

        inv = inventory()
        write_json_atomic(args.inventory, inv, indent=1)
        print(json.dumps({"inventory": str(args.inventory),
                          "packages": {p["package"]: {"files": p["files"], "minutes": p["minutes"]}
                                       for p in inv["packages"] if p["installed"]}}))
    if args.vocal_check and args.out is None:
        from rtsep.training.synth.accompaniment import catalogue
        from rtsep.training.synth.vocalcheck import run_check

        bar = contextlib.nullcontext() if args.quiet else progress_bar("vocal check", len(catalogue()))
        with bar as update:
            doc = run_check(args.vocal_check, model_spec=args.vocal_check_model, progress=update)
        bad = [r for r in doc["files"] if r["excluded"]]
        print(json.dumps({"vocal_check": str(args.vocal_check), "files": len(doc["files"]),
                          "excluded": [r["path"] for r in bad], "wall_s": doc["wall_s"]}))
        return 0
    if args.out is None:
        if args.inventory:
            return 0
        raise ConfigError("--out DIR is needed (or --inventory JSON / --vocal-check JSON alone)")
    from rtsep.training.synth.dataset import generate_dataset

    bar = contextlib.nullcontext() if args.quiet else progress_bar("synth", args.tracks)
    with bar as update:
        manifest = generate_dataset(args.out, args.tracks, args.seconds, args.seed, args.workers,
                                    progress=update, kind=args.kind,
                                    held_out=tuple(args.held_out) if args.held_out else None,
                                    split=args.split, vocal_check=args.vocal_check,
                                    without=tuple(args.without or ()),
                                    music=tuple(args.music) if args.music else None)
    tracks = manifest["tracks"]
    rendered = [t for t in tracks if not t.get("reused")]
    failed = [f.get("name", "?") for f in manifest.get("failed", [])]
    summary = {"out": str(args.out), "kind": args.kind, "tracks": len(tracks),
               "rendered": len(rendered), "failed": len(failed), "wall_s": manifest.get("wall_s")}
    print(json.dumps(summary), file=sys.stdout)
    if failed:
        print(f"rtsep synth: {len(failed)} track(s) failed and were not written "
              f"({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}); the manifest's "
              f"\"failed\" says why; a rerun retries them", file=sys.stderr)
        return 1
    return 0
