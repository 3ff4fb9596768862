"""``rtsep demo``: the quick-start job, live through JACK.

1. Renders a short song whose stems the project generates itself (``rtsep synth``).
2. Uses the running JACK server, or starts a private dummy-backend one
   (``jackd -d dummy -r 44100 -p 256``) when none answers.
3. Starts the live separator (the client ``rtsep live`` runs) with the bundled
   default model (the oracle, ideal ratio masks from the true stems, while no
   default model is bundled).
4. Plays a click and then the song into it from a second JACK client and records
   every output port with a third, aligned by JACK frame time.
5. Prints the latency measured from the click next to the one reported to JACK,
   writes the recorded stems (aligned) to files, and prints their SDR against the
   true stems.

``--offline`` separates the song without JACK instead (``separate_array``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "demo"
HELP = ("Render a synthetic song, separate it live through JACK (a dummy server is started "
        "when none runs), record the stem ports, print the latency and the stems' SDR.")

CLICK_LEAD_S = 1.0
"""The song starts this long after the latency-measuring click."""
ORACLE_OFFSET_S = 4.0
"""With the oracle: the song starts this long after the client's first cycle."""


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
    p.add_argument("--reserve-periods", type=int, default=None, metavar="N",
                   help="output buffer reserve of the live client [default: measured at start]")
    p.add_argument("--offline", action="store_true", help="separate without JACK")


def _pick_model(spec):
    if spec is not None:
        return spec
    from rtsep.runtime.artifact import resolve_model_path
    from rtsep.errors import ModelError

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
    from rtsep.io.audio import write_stems
    from rtsep.engine.offline import separate_array
    from rtsep.runtime.loader import load_model

    model = load_model(spec, stems=stems)
    print(f"separating offline with model '{spec}' ...")
    est = separate_array(model, mix)
    args.out.mkdir(parents=True, exist_ok=True)
    write_stems(args.out, est, 44100)
    print(f"wrote {args.out}/{{vocals,drums,bass,other,instrumental}}.wav")
    _report_sdr(stems, est, mix)
    return 0


def _server(args):
    """(servername to use, DummyServer we started or None)."""
    from rtsep.jack_server import DummyServer, clear_dead_servers, server_running

    clear_dead_servers()  # killed servers may have filled JACK's registry
    if server_running(args.server):
        print(f"using the running JACK server {args.server or os.environ.get('JACK_DEFAULT_SERVER') or 'default'!r}")
        return args.server, None
    from rtsep.errors import JackError

    name = f"rtsep-demo-{os.getpid()}"
    # realtime scheduling when allowed (as a user's server would run), else without
    for realtime in (True, False):
        srv = DummyServer(name, period=args.period, realtime=realtime)
        try:
            srv.start()
        except JackError:
            if not realtime:
                raise
            continue
        print(f"no JACK server answers: started a dummy-backend one ({' '.join(srv.command())})")
        return name, srv


def _live(args, spec, stems, mix) -> int:
    import numpy as np

    from rtsep.constants import OUTPUTS, SAMPLE_RATE
    from rtsep.errors import JackError
    from rtsep.jack_probe import play_record
    from rtsep.live import LiveSeparator, format_status
    from rtsep.io.audio import write_stems

    n = mix.shape[0]
    if spec == "oracle":
        from rtsep.engine.oracle import OracleModel

        # the oracle follows the engine's stream from its first sample: give it the
        # stems where the song will be in that stream
        off = int(ORACLE_OFFSET_S * SAMPLE_RATE)
        model = OracleModel(np.concatenate([np.zeros((4, off, 2), np.float32), stems], axis=1))
        hop = 1
    else:
        model, hop = spec, "auto"
    servername, srv = _server(args)
    try:
        sep = LiveSeparator(model, client_name="rtsep", servername=servername, model_hop=hop,
                            reserve_periods=args.reserve_periods)
        with sep:
            plan = sep.plan
            lat = sep.latency_samples
            lead = max(int(CLICK_LEAD_S * SAMPLE_RATE), lat + 8192)
            sig = np.zeros((lead + n, 2), np.float32)
            sig[0] = 1.0  # the click
            sig[lead:] = mix
            print(f"rtsep live: model '{spec}' on {plan.device}, model hop {plan.model_hop}, "
                  f"latency {lat} samples ({1e3 * lat / SAMPLE_RATE:.1f} ms) reported to JACK")
            start = None
            if spec == "oracle":
                while sep.first_frame is None:
                    sep.wait(0.01)
                start = (sep.first_frame + off - lead) & 0xFFFFFFFF
            sinks = [f"{sep.client.name}:{o}_{c}" for o in OUTPUTS for c in "LR"]
            print(f"playing the song ({n / SAMPLE_RATE:.1f} s) into {sep.client.name}:in_L/in_R "
                  "and recording its 10 outputs ...")
            info: dict = {}
            rec = play_record(sig, [[f"{sep.client.name}:in_L"], [f"{sep.client.name}:in_R"]],
                              sinks, record_frames=lead + n + lat + 4096,
                              servername=servername, name="rtsep-demo", stats=info,
                              start_frame=start)
            s = sep.stats()
        if sep.shutdown_reason:
            raise JackError(f"the JACK server shut down during the demo ({sep.shutdown_reason})")
    finally:
        if srv is not None:
            srv.stop()
    # the stems sum to the input: the click's position in their sum is the latency
    total = rec[:lead, 0:8:2].sum(axis=1)
    measured = int(np.abs(total).argmax())
    ok = "equal" if measured == lat else f"DIFFERENT by {measured - lat}"
    print(f"latency: reported {lat} samples ({1e3 * lat / SAMPLE_RATE:.1f} ms), measured "
          f"{measured} samples from the click: {ok}")
    print(f"stream: {format_status(dict(s, load=s['load_avg']))}")
    if info.get("discontinuities"):
        print(f"note: {info['discontinuities']} JACK frame-time discontinuities during the "
              "recording (a late callback); the alignment may be off there")
    est = np.stack([rec[lead + measured:lead + measured + n, 2 * i:2 * i + 2]
                    for i in range(len(OUTPUTS))])
    args.out.mkdir(parents=True, exist_ok=True)
    write_stems(args.out, est, SAMPLE_RATE)
    print(f"wrote the recorded ports to {args.out}/{{vocals,drums,bass,other,instrumental}}.wav")
    _report_sdr(stems, est, mix)
    return 0


def run(args) -> int:
    import numpy as np

    from rtsep.constants import STEMS
    from rtsep.training.synth import render_song

    spec = _pick_model(args.model)
    print(f"rendering a {args.seconds:.0f} s synthetic song (seed {args.seed}) ...")
    song = render_song(args.seed, 0, args.seconds)
    stems = np.stack([song[s] for s in STEMS])
    mix = stems.sum(axis=0)
    sys.stdout.flush()
    if args.offline:
        return _offline(args, spec, stems, mix)
    return _live(args, spec, stems, mix)
