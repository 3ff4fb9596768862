"""The one progress bar (rich) of the command line; library code takes a callback.

:func:`progress_bar` yields ``update(done, total=None, **fields)``: pass it as the
``progress`` callback of :func:`rtsep.engine.separate_array`,
:func:`rtsep.evaluate.evaluate_dataset`, :func:`rtsep.training.synth.generate_dataset`
or :func:`rtsep.training.loop.train`.
"""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None, *, enabled: bool | None = None,
                 fields: tuple[tuple[str, str], ...] = ()):
    """Draw a rich progress bar on stderr while the block runs.

    Outside a terminal (CI, pipes) the bar is drawn only at the start and the end, so
    logs stay short.

    Parameters
    ----------
    description : str
        Shown left of the bar.
    total : int, optional
        Steps to do (an update may change it).
    enabled : bool, optional
        False: no bar, and one line ``"description: done"`` at the end.
    fields : tuple of (name, format)
        Extra columns, e.g. ``(("loss", "loss {task.fields[loss]}"),)``; each shows
        ``"-"`` until an update gives ``name=value``.

    Yields
    ------
    callable
        ``update(done, total=None, **fields)``.
    """
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    if enabled is None:
        enabled = True
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               *(TextColumn(fmt) for _, fmt in fields), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not enabled,
                  auto_refresh=console.is_terminal, transient=False) as prog:
        task = prog.add_task(description, total=total, **{name: "-" for name, _ in fields})

        def update(done: int, new_total: int | None = None, **values) -> None:
            prog.update(task, completed=done, total=new_total if new_total is not None else total,
                        **values)

        yield update
    if not enabled:
        print(f"{description}: done", file=sys.stderr)
