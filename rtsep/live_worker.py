"""``python -m rtsep.live_worker``: the separation worker process of :mod:`rtsep.live`.

Started by :class:`rtsep.live.LiveSeparator` (``worker="process"``); not a user
command. It reads its job (model, parameters, shared-memory name) pickled on stdin
and reports through the pipe whose descriptor is in ``$RTSEP_WORKER_FD``.
"""

from rtsep.live import _child_main

if __name__ == "__main__":
    raise SystemExit(_child_main())
