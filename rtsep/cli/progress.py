"""Progress bars for long commands (rich), quiet when stderr is not a terminal
unless forced."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None, *, enabled: bool | None = None):
    """Yield ``update(done, total)``; draws a rich progress bar on stderr.

    Outside a terminal (CI, pipes) the bar is drawn once at the end, so logs stay short.
    """
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    if enabled is None:
        enabled = True
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not enabled,
                  auto_refresh=console.is_terminal, transient=False) as prog:
        task = prog.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            prog.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update
    if not enabled:
        print(f"{description}: done", file=sys.stderr)
