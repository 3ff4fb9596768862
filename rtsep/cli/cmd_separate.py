"""``rtsep separate``: separate files offline into stems."""

from __future__ import annotations

import sys
from pathlib import Path

from rtsep.cli.common import add_model_options, stream_config

NAME = "separate"
HELP = ("Separate audio files into vocals, drums, bass, other and instrumental "
        "(OUT/<track>/<stem>.wav, 32-bit float, 44.1 kHz stereo).")


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio files (WAV, FLAC, OGG; mono is duplicated to both channels; other "
                        "sample rates are resampled to 44.1 kHz) or track folders "
                        "(vocals/drums/bass/other[/mixture] .wav|.flac; required with --model oracle)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--no-resample", action="store_true",
                   help="refuse inputs that are not 44.1 kHz instead of resampling them")
    p.add_argument("--plot", action="store_true",
                   help="also write spectrograms.png (mixture and each stem) per track")
    add_model_options(p)


def _load_input(path: Path, resample: bool):
    """An input file or track folder.

    Returns
    -------
    (name, mixture, stems, note)
        The track's name, its mixture [shape=(n, 2)], its true stems [shape=(4, n, 2)]
        (None for a file) and a note on channel or rate conversion ("" when none).
    """
    import numpy as np

    from rtsep.constants import SAMPLE_RATE, STEMS
    from rtsep.errors import AudioError
    from rtsep.io.audio import read_audio
    from rtsep.io.tracks import is_track_folder, read_track

    if path.is_dir():
        if not is_track_folder(path):
            raise AudioError(f"{path}: a folder, but not a track folder with vocals, drums, bass "
                             "and other (.wav or .flac)")
        tr = read_track(path)
        return path.name, tr["mixture"], np.stack([tr[s] for s in STEMS]), ""
    x, info = read_audio(path, resample=resample)
    notes = []
    if info.mono_duplicated:
        notes.append("mono: duplicated to both channels")
    if info.resampled:
        notes.append(f"resampled {info.sample_rate} Hz -> {SAMPLE_RATE} Hz")
    return path.stem, x, None, "; ".join(notes)


def run(args) -> int:
    from rtsep.cli.progress import progress_bar
    from rtsep.constants import SAMPLE_RATE
    from rtsep.errors import AudioError
    from rtsep.io.files import atomic_path
    from rtsep.io.audio import write_stems
    from rtsep.engine.offline import separate_array
    from rtsep.runtime.loader import load_model

    inputs = [Path(p) for p in args.inputs]
    for p in inputs:  # fail before loading a model or writing anything
        if not p.exists():
            raise AudioError(f"{p}: no such file or folder")
    loaded = [_load_input(p, not args.no_resample) for p in inputs]
    if args.model == "oracle":
        missing = [str(p) for p, (_, _, stems, _) in zip(inputs, loaded) if stems is None]
        if missing:
            raise AudioError(f"--model oracle needs track folders with the true stems, got files: "
                             f"{', '.join(missing)}")
        model = None
    else:
        model = load_model(args.model, threads=args.threads)
    cfg = stream_config(args, model)
    out_root = args.out
    out_root.mkdir(parents=True, exist_ok=True)
    for name, mix, stems, note in loaded:
        if note:
            print(f"{name}: {note}", file=sys.stderr)
        m = load_model("oracle", stems=stems, config=cfg) if model is None else model
        with progress_bar(f"separating {name}") as update:
            est = separate_array(m, mix, cfg, batch_size=args.batch_size, progress=update)
        final = out_root / name
        with atomic_path(final, folder=True) as tmp:
            write_stems(tmp, est, SAMPLE_RATE)
            if args.plot:
                from rtsep.cli.plot import plot_spectrograms

                plot_spectrograms(tmp / "spectrograms.png", mix, est, title=name)
        print(f"{name}: wrote {final}/{{vocals,drums,bass,other,instrumental}}.wav")
    return 0
