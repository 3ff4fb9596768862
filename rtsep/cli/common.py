"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_model_options(parser: argparse.ArgumentParser, *, oracle: bool = True) -> None:
    """``--model``, ``--lookahead``, ``--model-hop``, ``--high-band``, ``--mask-power``,
    ``--batch-size``, ``--threads``."""
    parser.add_argument("--model", default="default",
                        help="model NAME (under models/), artifact PATH"
                             + (", or 'oracle' (ideal ratio masks from the true stems)" if oracle else "")
                             + " [default: %(default)s]")
    parser.add_argument("--lookahead", type=int, default=None, metavar="N",
                        help="frames of future context each emitted frame gets [default: 64; "
                             "0 for a streaming (causal) model, which takes none]")
    parser.add_argument("--model-hop", type=int, default=None, metavar="K",
                        help="frames emitted per model call [default: 64]")
    parser.add_argument("--high-band", choices=("average", "zeros"), default="average",
                        help="mask extension to bins 1024-2048 (~11-22 kHz) [default: %(default)s]")
    parser.add_argument("--mask-power", type=float, default=1.0, metavar="P",
                        help="masks are estimate^P / sum of the four estimates^P: 1 = magnitude "
                             "ratio, 2 = power (Wiener-like) ratio [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=4, help="model windows per call [default: %(default)s]")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for TensorFlow [default: all cores]")


def stream_config(args, model=None):
    """The offline config for ``model`` (None: the oracle) with the options given."""
    from rtsep.engine.offline import offline_config

    return offline_config(model, lookahead_frames=args.lookahead, model_hop_frames=args.model_hop,
                          high_band=args.high_band, mask_power=args.mask_power)
