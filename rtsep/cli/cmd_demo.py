"""``rtsep demo``: the quick-start job, live through JACK.

1. Renders a short song whose stems the project generates itself (``rtsep synth``),
   or reads a track folder's stems (``--track``).
2. Uses the running JACK server, or starts a private dummy-backend one
   (``jackd -d dummy -r 44100 -p 256``; ``--rate`` for another rate) when none answers.
3. Starts the live separator (the client ``rtsep live`` runs) with the bundled
   default model (``models/default``; the oracle, ideal ratio masks from the true
   stems, with ``--model oracle`` or when no default model is found).
4. Plays a click and then the song into it from a second JACK client and records
   every output port with a third, aligned by JACK frame time (:mod:`rtsep.live.demo`).
5. Prints the latency measured from the click next to the one reported to JACK,
   writes the recorded stems (aligned) to files, and prints their SDR against the
   true stems.

``--offline`` separates the song without JACK instead (``separate_array``).
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "demo"
HELP = ("Render a synthetic song, separate it live through JACK (a dummy server is started "
        "when none runs), record the stem ports, print the latency and the stems' SDR.")


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder [default: %(default)s]")
    p.add_argument("--seconds", type=float, default=20.0, help="song length [default: %(default)s]")
    p.add_argument("--seed", type=int, default=2026, help="song seed [default: %(default)s]")
    p.add_argument("--model", default=None,
                   help="model NAME|PATH|oracle [default: 'default' when bundled, else 'oracle']")
    p.add_argument("--server", default=None, metavar="NAME",
                   help="JACK server to use [default: $JACK_DEFAULT_SERVER or the default server; "
                        "a private dummy server is started when it does not answer]")
    p.add_argument("--period", type=int, default=256,
                   help="period of the dummy server, when one is started [default: %(default)s]")
    p.add_argument("--rate", type=int, default=44100,
                   help="sample rate of the dummy server, when one is started (the client "
                        "resamples around the 44.1 kHz model) [default: %(default)s]")
    p.add_argument("--track", type=Path, default=None, metavar="DIR",
                   help="separate this track folder (vocals/drums/bass/other files) instead "
                        "of a rendered song; its SDR is against those stems")
    p.add_argument("--reserve-periods", type=int, default=None, metavar="N",
                   help="output buffer reserve of the live client [default: measured at start]")
    p.add_argument("--offline", action="store_true", help="separate without JACK")


def _pick_model(spec):
    if spec is not None:
        return spec
    from rtsep.errors import ModelError
    from rtsep.runtime.artifact import resolve_model_path

    try:
        resolve_model_path("default")
        return "default"
    except ModelError:
        return "oracle"


def _report_sdr(stems, est, mix) -> None:
    import numpy as np

    from rtsep.constants import STEMS
    from rtsep.evaluate import sdr_museval

    sdr = sdr_museval(stems, est[:4])
    base = sdr_museval(stems, np.broadcast_to(mix, stems.shape))
    print("SDR (dB, museval median over 1 s frames): " +
          ", ".join(f"{s} {sdr[s]:.2f} (mixture {base[s]:.2f})" for s in STEMS))


def _offline(args, spec, stems, mix) -> int:
    from rtsep.constants import SAMPLE_RATE
    from rtsep.engine.offline import separate_array
    from rtsep.io.audio import write_stems
    from rtsep.runtime.loader import load_model

    model = load_model(spec, stems=stems)
    print(f"separating offline with model '{spec}' ...")
    est = separate_array(model, mix)
    args.out.mkdir(parents=True, exist_ok=True)
    write_stems(args.out, est, SAMPLE_RATE)
    print(f"wrote {args.out}/{{vocals,drums,bass,other,instrumental}}.wav")
    _report_sdr(stems, est, mix)
    return 0


def _live(args, spec, stems, mix) -> int:
    from rtsep.constants import SAMPLE_RATE
    from rtsep.io.audio import write_stems
    from rtsep.live.demo import separate_live, use_or_start_server
    from rtsep.live.stats import format_status

    servername, srv = use_or_start_server(args.server, args.period, print, rate=args.rate)
    try:
        run = separate_live(spec, stems, mix, servername=servername,
                            reserve_periods=args.reserve_periods, say=print)
    finally:
        if srv is not None:
            srv.stop()
    lat, measured = run.latency_reported, run.latency_measured
    ok = "equal" if measured == lat else f"DIFFERENT by {measured - lat}"
    n = len(run.click_delays)
    agree = (f"all {n} clicks" if run.clicks_agree == n else
             f"{run.clicks_agree} of {n} clicks; each: {', '.join(map(str, run.click_delays))}")
    print(f"latency: reported {lat} samples at {run.rate} Hz ({1e3 * lat / run.rate:.1f} ms), "
          f"measured {measured} samples from the clicks ({agree}): {ok}")
    print(f"stream: {format_status(dict(run.stats, load=run.stats['load_avg']))}")
    if run.discontinuities:
        print(f"note: {run.discontinuities} JACK frame-time discontinuities during the "
              "recording (a late callback); the alignment may be off there")
    args.out.mkdir(parents=True, exist_ok=True)
    write_stems(args.out, run.separated, SAMPLE_RATE)
    back = f" (resampled from {run.rate} Hz to {SAMPLE_RATE} Hz)" if run.rate != SAMPLE_RATE else ""
    print(f"wrote the recorded ports{back} to {args.out}/{{vocals,drums,bass,other,instrumental}}.wav")
    _report_sdr(stems, run.separated, mix)
    return 0


def run(args) -> int:
    import numpy as np

    from rtsep.constants import STEMS
    from rtsep.training.synth import render_song

    spec = _pick_model(args.model)
    if args.track is not None:
        from rtsep.io.tracks import read_track

        print(f"reading the track {args.track} ...")
        song = read_track(args.track)
    else:
        print(f"rendering a {args.seconds:.0f} s synthetic song (seed {args.seed}) ...")
        song = render_song(args.seed, 0, args.seconds)
    stems = np.stack([song[s] for s in STEMS])
    mix = stems.sum(axis=0)
    sys.stdout.flush()
    if args.offline:
        return _offline(args, spec, stems, mix)
    return _live(args, spec, stems, mix)
