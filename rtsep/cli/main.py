"""``rtsep`` entry point: a thin dispatcher over the per-command modules.

Exit codes: 0 success; 1 internal error (a bug, traceback printed);
2 bad input or environment (one line on stderr); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rtsep import __version__
from rtsep.errors import EXIT_USAGE, RtsepError

# Command modules, in the order ``--help`` lists them. Importing them must stay cheap.
COMMANDS = ("demo", "live", "bridge", "separate", "eval", "train", "average", "synth")


def _command_modules():
    return [importlib.import_module(f"rtsep.cli.cmd_{name}") for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtsep",
        description="Real-time music stem separation (vocals, drums, bass, other) for JACK.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 bad input or environment, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"rtsep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except RtsepError as exc:
        print(f"rtsep {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"rtsep {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
