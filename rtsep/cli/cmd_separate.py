"""``rtsep separate``: separate files offline into stems, in bounded memory."""

from __future__ import annotations

import sys
from pathlib import Path

from rtsep.cli.common import add_model_options, stream_config

NAME = "separate"
HELP = ("Separate audio files into vocals, drums, bass, other and instrumental "
        "(OUT/<track>/<stem>.wav, 32-bit float, 44.1 kHz stereo). Files of any length "
        "are streamed: memory does not grow with the file.")

PLOT_SECONDS = 300
"""--plot draws at most the first 5 minutes (the image would not show more)."""


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio files (anything libsndfile or FFmpeg decodes: WAV, FLAC, OGG, MP3, "
                        "m4a/AAC, Opus, AIFF, WMA, a video's first audio stream; mono is duplicated "
                        "to both channels, more channels downmixed; other sample rates are "
                        "resampled to 44.1 kHz) or track folders (vocals/drums/bass/other[/mixture] "
                        ".wav|.flac; required with --model oracle)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--format", choices=("wav", "flac"), default="wav",
                   help="output file format [default: %(default)s]")
    p.add_argument("--bits", choices=("16", "24", "32f"), default=None,
                   help="output sample format: 16 or 24-bit integer (clipped to [-1, 1]) or 32-bit "
                        "float (WAV only) [default: 32f for wav, 24 for flac]")
    p.add_argument("--no-resample", action="store_true",
                   help="refuse inputs that are not 44.1 kHz instead of resampling them")
    p.add_argument("--plot", action="store_true",
                   help=f"also write spectrograms.png (mixture and each stem, the first "
                        f"{PLOT_SECONDS // 60} minutes) per track")
    add_model_options(p)


class _Capture:
    """The first ``limit`` samples of the mixture and the outputs (for --plot), bounded."""

    def __init__(self, enabled: bool, limit: int):
        self.mix, self.est = [], []
        self._left = {"mix": limit if enabled else 0, "est": limit if enabled else 0}

    def _add(self, key: str, parts: list, block, n: int) -> None:
        take = min(self._left[key], n)
        if take > 0:
            parts.append(block[..., :take, :].copy())
            self._left[key] -= take

    def add_mix(self, block) -> None:
        """block [shape=(n, 2)]"""
        self._add("mix", self.mix, block, block.shape[0])

    def add_est(self, block) -> None:
        """block [shape=(5, n, 2)]"""
        self._add("est", self.est, block, block.shape[1])


def _check_inputs(inputs: list[Path], args) -> None:
    """Fail before loading a model or writing anything: every input exists, opens and
    starts with audio."""
    from rtsep.errors import AudioError
    from rtsep.io.decode import open_audio
    from rtsep.io.tracks import is_track_folder

    for p in inputs:
        if not p.exists():
            raise AudioError(f"{p}: no such file or folder")
        if p.is_dir():
            if not is_track_folder(p):
                raise AudioError(f"{p}: a folder, but not a track folder with vocals, drums, bass "
                                 "and other (.wav or .flac)")
        else:  # opens, and its first block decodes (empty, NaN, corrupt: refused now)
            with open_audio(p, resample=not args.no_resample) as src:
                next(iter(src.blocks()))
    if args.model == "oracle":
        files = [str(p) for p in inputs if not p.is_dir()]
        if files:
            raise AudioError(f"--model oracle needs track folders with the true stems, got files: "
                             f"{', '.join(files)}")


def _separate_folder(path: Path, model, cfg, args, writer, plot):
    """A track folder, whole in memory (its stems are read whole; the oracle needs them)."""
    import numpy as np

    from rtsep.cli.progress import progress_bar
    from rtsep.constants import STEMS
    from rtsep.engine.offline import separate_array
    from rtsep.io.tracks import read_track
    from rtsep.runtime.loader import load_model

    tr = read_track(path)
    mix = tr["mixture"]
    m = model or load_model("oracle", stems=np.stack([tr[s] for s in STEMS]), config=cfg)
    with progress_bar(f"separating {path.name}") as update:
        est = separate_array(m, mix, cfg, batch_size=args.batch_size, progress=update)
    writer.write(est)
    plot.add_mix(mix)
    plot.add_est(est)


def _separate_file(path: Path, model, cfg, args, writer, plot):
    """An audio file, streamed: decoded, separated and written in blocks."""
    from rtsep.cli.progress import progress_bar
    from rtsep.constants import SAMPLE_RATE
    from rtsep.engine.offline import separate_blocks
    from rtsep.io.decode import open_audio

    with open_audio(path, resample=not args.no_resample) as src:
        for note in src.info.notes:
            print(f"{path.stem}: {note}", file=sys.stderr)
        total = None if src.samples is None else max(1, src.samples // SAMPLE_RATE)

        def blocks():
            for b in src.blocks():
                plot.add_mix(b)
                yield b

        def sink(out):
            writer.write(out)
            plot.add_est(out)

        with progress_bar(f"separating {path.stem} (seconds of audio)", total) as update:
            done = separate_blocks(model, blocks(), sink, cfg,
                                   progress=lambda n: update(n // SAMPLE_RATE))
            update(done // SAMPLE_RATE, done // SAMPLE_RATE)


def run(args) -> int:
    from rtsep.constants import SAMPLE_RATE
    from rtsep.errors import AudioError
    from rtsep.io.audio import StemWriter, output_subtype
    from rtsep.io.files import atomic_path
    from rtsep.runtime.loader import load_model

    output_subtype(args.format, args.bits)  # a bad combination fails first
    inputs = [Path(p) for p in args.inputs]
    _check_inputs(inputs, args)
    model = None if args.model == "oracle" else load_model(args.model, threads=args.threads)
    cfg = stream_config(args, model)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in inputs:
        name = path.name if path.is_dir() else path.stem
        final = args.out / name
        plot = _Capture(args.plot, PLOT_SECONDS * SAMPLE_RATE)
        try:
            with atomic_path(final, folder=True) as tmp:
                with StemWriter(tmp, args.format, args.bits) as writer:
                    separate = _separate_folder if path.is_dir() else _separate_file
                    separate(path, model, cfg, args, writer, plot)
                if args.plot:
                    import numpy as np

                    from rtsep.cli.plot import plot_spectrograms

                    plot_spectrograms(tmp / "spectrograms.png", np.concatenate(plot.mix),
                                      np.concatenate(plot.est, axis=1), title=name)
        except AudioError as exc:  # this input is bad half-way (NaN, corrupt data): go on
            failed.append(str(exc))
            if len(inputs) > 1:
                print(f"rtsep separate: {name}: skipped, nothing written: {exc}", file=sys.stderr)
            continue
        if writer.clipped:
            print(f"{name}: {writer.clipped} samples clipped to [-1, 1] ({args.bits or 'integer'} "
                  f"bits; --bits 32f keeps them)", file=sys.stderr)
        print(f"{name}: wrote {final}/{{vocals,drums,bass,other,instrumental}}.{args.format}")
    if failed:
        if len(failed) == 1:
            raise AudioError(failed[0])
        raise AudioError(f"{len(failed)} of {len(inputs)} inputs failed, nothing written for them; "
                         f"first: {failed[0]}")
    return 0
