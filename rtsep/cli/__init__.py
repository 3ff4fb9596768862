"""Command line. One module per command (``cmd_*.py``), each exposing

- ``NAME`` and ``HELP`` (strings),
- ``add_arguments(parser)``: declares its options (no heavy imports),
- ``run(args) -> int``: does the work; heavy imports (TensorFlow, jack) go here.
"""
