"""``rtsep live``: a JACK client that separates its input into stem ports in real time.

Exit codes: 0 stopped (Ctrl-C, SIGTERM, ``--duration``); 2 no JACK server, the server
went away, a bad option or model; 1 an internal error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

NAME = "live"
HELP = ("Separate a JACK input live: ports in_L/in_R in; vocals, drums, bass, other and "
        "instrumental (L/R) out, with the latency reported to JACK.")


def int_or_auto(minimum: int):
    """An argparse type: ``"auto"`` or an integer >= ``minimum``."""

    def parse(value: str):
        if value == "auto":
            return value
        try:
            k = int(value)
        except ValueError:
            k = None
        if k is None or k < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum} or 'auto', got {value!r}")
        return k

    return parse


_hop = int_or_auto(1)
_rtprio = int_or_auto(0)


def add_arguments(p):
    p.add_argument("--model", default="default",
                   help="model NAME (under models/) or artifact PATH [default: %(default)s]")
    p.add_argument("--name", default="rtsep", help="JACK client name [default: %(default)s]")
    p.add_argument("--server", default=None, metavar="NAME",
                   help="JACK server name [default: $JACK_DEFAULT_SERVER or the default server]")
    p.add_argument("--connect-in", default=None, metavar="PORT,PORT",
                   help="source ports for in_L,in_R (one port feeds both), e.g. "
                        "system:capture_1,system:capture_2")
    p.add_argument("--connect-out", action="append", default=[], metavar="[STEM=]PREFIX",
                   help="connect outputs to the input ports whose names start with PREFIX, in "
                        "order; STEM=PREFIX connects only that stem's L/R pair "
                        "(e.g. instrumental=system:playback_); repeatable")
    p.add_argument("--lookahead", type=int, default=0, metavar="N",
                   help="frames of future context (+1024 samples latency each) [default: 0]")
    p.add_argument("--model-hop", type=_hop, default="auto", metavar="K|auto",
                   help="run the model every K frames (+(K-1)*1024 samples latency); 'auto' picks "
                        "the smallest K keeping the worker under half of real time [default: auto]")
    p.add_argument("--gain", action="append", default=[], metavar="STEM=DB",
                   help="output gain in dB (vocals, drums, bass, other, instrumental; -120 mutes); "
                        "repeatable")
    p.add_argument("--reserve-periods", type=int, default=None, metavar="N",
                   help="output buffer reserve in periods [default: measured at start]")
    p.add_argument("--worker", choices=("process", "thread"), default=None,
                   help="run the separation in a process (default) or a thread")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for TensorFlow (default: all CPUs but one, left to JACK)")
    p.add_argument("--worker-nice", type=int, default=0, metavar="N",
                   help="nice value for the worker process (e.g. -10; needs CAP_SYS_NICE) "
                        "[default: 0, unchanged]")
    p.add_argument("--worker-rtprio", type=_rtprio, default="auto", metavar="N|auto",
                   help="SCHED_FIFO priority of the worker process, below JACK's client threads "
                        "(0: normal priority; needs the realtime rights JACK's users have) "
                        "[default: auto, 1 when a JACK server (not PipeWire) runs its clients in realtime]")
    p.add_argument("--reconnect", action=argparse.BooleanOptionalAction, default=True,
                   help="when the JACK server goes away, wait for it to come back and rejoin it "
                        "with the same client and port names, connections and latency "
                        "[default: on; --no-reconnect exits with code 2]")
    p.add_argument("--osc-port", type=int, default=None, metavar="N",
                   help="listen for OSC control on UDP port N (/rtsep/<output>/gain f, /mute i, "
                        "/solo i, /rtsep/status, /rtsep/subscribe for meters; README) [default: off]")
    p.add_argument("--osc-host", default="127.0.0.1", metavar="ADDR",
                   help="address the OSC server binds (0.0.0.0: reachable from the network, "
                        "e.g. a tablet) [default: %(default)s]")
    p.add_argument("--midi-map", default=None, metavar="FILE",
                   help="JSON map from MIDI CCs/notes on the midi_in port to gains, mutes and "
                        "solos [default: an 8-fader controller's CCs 0-7 (gains), 32-39 (solo), "
                        "48-55 (mute); see README]")
    p.add_argument("--no-midi", action="store_true", help="no midi_in port")
    p.add_argument("--ui", action="store_true",
                   help="a terminal mixer: level meter, gain, mute and solo per output, keyboard "
                        "control (needs a terminal)")
    p.add_argument("--json-stats", default=None, metavar="FILE",
                   help="rewrite FILE (atomically) every second with a JSON object of statistics")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds [default: run until Ctrl-C]")
    p.add_argument("--test-model", default=None, help=argparse.SUPPRESS)  # route:STEM, random:ARCH


def _connect_in(value: str | None):
    if not value:
        return None
    ports = [v.strip() for v in value.split(",") if v.strip()]
    from rtsep.errors import ConfigError

    if len(ports) not in (1, 2):
        raise ConfigError(f"--connect-in takes one or two ports separated by a comma, got {value!r}")
    return ports


def _restore(sep, state: dict) -> None:
    """The controls a session saved (unknown outputs or values: skipped with a note)."""
    for name, controls in (state.get("controls") or {}).items():
        for field, value in (controls or {}).items():
            try:
                sep.set_control(name, field, value)
            except (ValueError, TypeError) as exc:
                print(f"rtsep live: saved control {name}/{field} skipped: {exc}", file=sys.stderr)


def run(args) -> int:
    from rtsep.errors import JackError, ModelError
    from rtsep.io.jsonio import write_json_atomic
    from rtsep.live.client import DEFAULT_WORKER, LiveSeparator, parse_gains
    from rtsep.live.stats import format_status
    from rtsep.runtime.stand_ins import parse_test_model

    gains = parse_gains(args.gain)
    if args.ui and not sys.stdin.isatty():
        from rtsep.errors import ConfigError

        raise ConfigError("--ui needs a terminal on stdin (run it in a terminal, or drop --ui)")
    inputs = _connect_in(args.connect_in)
    model = parse_test_model(args.test_model) if args.test_model else args.model
    stop = threading.Event()
    prev = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        prev[sig] = signal.signal(sig, lambda *_: stop.set())
    tty = sys.stderr.isatty()
    osc = None
    nsm, state = None, {}
    if os.environ.get("NSM_URL"):  # launched by a session manager: it names us
        from rtsep.live.nsm import NsmSession

        nsm = NsmSession(os.environ["NSM_URL"])
        args.name = nsm.wait_open()
        state = nsm.load_state()
        print(f"rtsep live: in the session of {nsm.server_name or 'a session manager'} as "
              f"{args.name!r} ({nsm.state_file})", file=sys.stderr)
    sep = LiveSeparator(model, client_name=args.name, servername=args.server,
                        lookahead=args.lookahead, model_hop=args.model_hop,
                        reserve_periods=args.reserve_periods, gains=gains,
                        worker=args.worker or DEFAULT_WORKER, threads=args.threads,
                        worker_nice=args.worker_nice, worker_rtprio=args.worker_rtprio,
                        reconnect=args.reconnect,
                        midi=not args.no_midi, midi_map=args.midi_map)
    try:
        try:
            sep.start(progress=lambda msg: print(f"rtsep live: {msg}", file=sys.stderr, flush=True))
        except Exception as exc:
            if nsm is not None:
                nsm.opened(False, f"rtsep live could not start: {exc}")
            raise
        if nsm is not None:
            _restore(sep, state)
            nsm.opened(True, f"rtsep live running as {args.name!r}")
            nsm.serve(lambda path: write_json_atomic(path, {"controls": sep.controls()}))
        plan = sep.plan
        for note in plan.notes:
            print(f"rtsep live: {note}", file=sys.stderr)
        period = sep.stats()["period"]
        print(f"rtsep live: client {sep.client.name!r} running on {plan.device}, model hop "
              f"{plan.model_hop}, latency {plan.latency_samples} samples at {plan.rate} Hz "
              f"({1e3 * plan.latency_samples / plan.rate:.1f} ms) = engine "
              f"{plan.engine_latency_samples} + period {period} + reserve "
              f"{plan.reserve_periods} x {period}; model call {plan.model_ms:.1f} ms",
              file=sys.stderr, flush=True)
        for line in sep.connect(inputs, args.connect_out):
            print(f"rtsep live: connected {line}", file=sys.stderr)
        if args.osc_port is not None:
            from rtsep.live.osc import OscControl

            osc = OscControl(sep, args.osc_port, args.osc_host)
            print(f"rtsep live: OSC control on {args.osc_host}:{osc.port}", file=sys.stderr)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        reason = "stopped"

        def stats_now():
            s = sep.stats()
            s["controls"] = sep.controls()
            s.update(sep.midi_counts())
            if osc is not None:
                s.update(osc_received=osc.received, osc_invalid=osc.invalid)
            if args.json_stats:
                write_json_atomic(args.json_stats, s)
            return s

        if args.ui:
            from rtsep.cli.mixer_ui import run_ui

            if args.duration is not None:
                timer = threading.Timer(args.duration, stop.set)
                timer.daemon = True
                timer.start()
            reason = run_ui(sep, stop, stats_now)
        else:
            while True:
                left = None if t_end is None else t_end - time.monotonic()
                if left is not None and left <= 0:
                    reason = "duration"
                    break
                r = sep.wait(timeout=1.0 if left is None else min(1.0, left), stop_event=stop)
                while sep.worker_events:
                    print(f"{chr(10) if tty else ''}rtsep live: {sep.worker_events.popleft()}",
                          file=sys.stderr, flush=True)
                if r != "timeout":
                    reason = r
                    break
                s = stats_now()
                if tty:
                    print("\r\x1b[K" + format_status(s), end="", file=sys.stderr, flush=True)
        if tty and not args.ui:
            print(file=sys.stderr)
        if reason == "shutdown":
            raise JackError(f"the JACK server shut down ({sep.shutdown_reason or 'no reason given'}); "
                            "rtsep live stopped")
        if reason == "worker":
            raise ModelError(f"the separation worker could not be kept running: "
                             f"{sep.worker_failed()}")
    finally:
        if osc is not None:
            osc.close()
        if nsm is not None:
            nsm.close()
        sep.stop()
        for sig, handler in prev.items():
            signal.signal(sig, handler)
    s = sep.stats()
    if args.json_stats and s:
        write_json_atomic(args.json_stats, s)
    if s:
        s = dict(s, load=s["load_avg"])  # the whole run's load, not the last second's
        print(f"rtsep live: stopped; {format_status(s)}", file=sys.stderr)
    else:
        print("rtsep live: stopped", file=sys.stderr)
    return 0
