"""``rtsep bridge``: the engine the ``rtsep.lv2`` plugin talks to (see :mod:`rtsep.bridge`)."""

from __future__ import annotations

import os
import signal
import sys
import threading

NAME = "bridge"
HELP = ("Serve the rtsep.lv2 plugin: run the engine for every plugin instance a DAW "
        "loads (shared-memory rings, exact latency); --install-plugin builds the plugin.")


def add_arguments(p):
    from rtsep.cli.cmd_live import _hop

    p.add_argument("--model", default="default",
                   help="model NAME (under models/) or artifact PATH [default: %(default)s]")
    p.add_argument("--test-model", default=None, metavar="SPEC",
                   help="a test stand-in instead of --model (route:STEM, ...)")
    p.add_argument("--socket", default=None, metavar="PATH",
                   help="Unix socket [default: $RTSEP_BRIDGE_SOCKET, else "
                        "$XDG_RUNTIME_DIR/rtsep-bridge.sock]")
    p.add_argument("--lookahead", type=int, default=0, metavar="N",
                   help="frames of future context (+1024 samples latency each) [default: 0]")
    p.add_argument("--model-hop", type=_hop, default="auto", metavar="K|auto",
                   help="run the model every K frames [default: auto]")
    p.add_argument("--reserve-periods", type=int, default=None, metavar="N",
                   help="output reserve in host blocks [default: measured at start]")
    p.add_argument("--threads", type=int, default=None, help="model threads")
    from rtsep.bridge.plugin import USER_LV2_DIR

    p.add_argument("--install-plugin", nargs="?", const=str(USER_LV2_DIR), default=None,
                   metavar="DIR", help="build the rtsep.lv2 bundle from source into DIR "
                                       "[default: ~/.lv2] and exit")
    p.add_argument("--stats", action="store_true",
                   help="print the running bridge's instances (JSON) and exit")


def run(args) -> int:
    if args.install_plugin:
        from rtsep.bridge.plugin import build_bundle

        bundle = build_bundle(args.install_plugin)
        print(f"rtsep bridge: built {bundle}; hosts find it on LV2_PATH (~/.lv2 is searched "
              "by default). Run 'rtsep bridge' before loading the plugin.")
        return 0
    if args.stats:
        import json

        from rtsep.bridge.server import query_stats

        try:
            print(json.dumps(query_stats(args.socket), indent=1))
        except OSError as exc:
            from rtsep.errors import ConfigError

            raise ConfigError(f"no rtsep bridge answers ({exc})") from None
        return 0
    from rtsep.bridge.server import BridgeServer
    from rtsep.live.worker import worker_backend_env
    from rtsep.runtime.stand_ins import parse_test_model

    if args.test_model:
        model = parse_test_model(args.test_model)
    else:  # a missing model fails now, not when the first plugin instance asks for it
        from rtsep.runtime.artifact import resolve_model_path

        resolve_model_path(args.model)
        model = args.model
    # the instances' workers are threads of this process: pick its Keras backend now
    for key, value in worker_backend_env(model).items():
        os.environ.setdefault(key, value)
    say = lambda msg: print(f"rtsep bridge: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    server = BridgeServer(model, path=args.socket, lookahead=args.lookahead,
                          model_hop=args.model_hop, reserve_periods=args.reserve_periods,
                          threads=args.threads, say=say).bind()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    say(f"listening at {server.path} (model {args.test_model or args.model}); load the "
        "rtsep.lv2 plugin in a host now")
    while not stop.wait(0.5):
        pass
    server.stop()
    say("stopped")
    return 0
