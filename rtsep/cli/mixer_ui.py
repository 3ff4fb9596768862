"""``rtsep live --ui``: a terminal mixer (rich): one strip per output, keyboard control.

Each output (vocals, drums, bass, other, instrumental, main, mix) gets a line with its
level meter (peak and RMS, dBFS), gain, mute and solo; the status figures (latency,
xruns, underruns, worker p50/p99, restarts) head the screen. Keys:

=====================  =============================================
key                    action
=====================  =============================================
left/right, 1-7, tab   select an output
up/down, +/-           gain of the selected output +/- 1 dB
page up/page down      gain +/- 6 dB
0                      gain to 0 dB
m                      mute on/off
s                      solo on/off (what the mix bus hears)
q                      quit (as Ctrl-C)
=====================  =============================================

It runs on the client's main thread, reads the shared meters and controls, and
changes controls through :meth:`rtsep.live.client.LiveSeparator.set_control`: it never
touches the audio path (the JACK callback is native code, the engine another process).
"""

from __future__ import annotations

import os
import sys
import threading

from rtsep.live.mixer import LIVE_OUTPUTS, MAX_DB, MIN_DB

KEYS = {
    "\x1b[D": ("select", -1), "\x1b[C": ("select", 1), "\t": ("select", 1),
    "\x1b[A": ("gain", 1.0), "\x1b[B": ("gain", -1.0), "+": ("gain", 1.0), "=": ("gain", 1.0),
    "-": ("gain", -1.0), "\x1b[5~": ("gain", 6.0), "\x1b[6~": ("gain", -6.0),
    "0": ("zero", 0), "m": ("toggle", "mute"), "s": ("toggle", "solo"), "q": ("quit", 0),
    **{str(i + 1): ("pick", i) for i in range(len(LIVE_OUTPUTS))},
}
"""Key (as the terminal sends it) -> (action, argument)."""

METER_FLOOR_DB = -60.0
"""The meters' left end."""


class MixerState:
    """Which output is selected; applies keys to a running separator."""

    def __init__(self, sep):
        self.sep = sep
        self.selected = 0
        self.quit = False

    def key(self, k: str) -> bool:
        """Apply one key; returns False for a key that means nothing."""
        action = KEYS.get(k)
        if action is None:
            return False
        what, arg = action
        name = LIVE_OUTPUTS[self.selected]
        if what == "select":
            self.selected = (self.selected + arg) % len(LIVE_OUTPUTS)
        elif what == "pick":
            self.selected = arg
        elif what == "gain":
            g = self.sep.control(name)["gain"]
            g = MIN_DB if g + arg < -90.0 and arg < 0 else max(-90.0, g) + arg  # -90 .. then off
            self.sep.set_control(name, "gain", min(MAX_DB, g))
        elif what == "zero":
            self.sep.set_control(name, "gain", 0.0)
        elif what == "toggle":
            self.sep.set_control(name, arg, not self.sep.control(name)[arg])
        elif what == "quit":
            self.quit = True
        return True


def _bar(db: float, width: int) -> str:
    filled = int(round(width * (max(db, METER_FLOOR_DB) - METER_FLOOR_DB) / -METER_FLOOR_DB))
    return "█" * filled + "·" * (width - filled)


def render(sep, state: MixerState, stats: dict, events=()):
    """The screen as a rich renderable (a status line over a table of strips, the last
    client events under it)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text(f"rtsep live  latency {stats.get('latency_ms', 0):.1f} ms "
                f"({stats.get('latency_samples', 0)} smp)  xruns {stats.get('xruns', 0)}  "
                f"underruns {stats.get('underruns', 0)}  worker p50/p99 "
                f"{stats.get('worker_ms_p50', 0):.1f}/{stats.get('worker_ms_p99', 0):.1f} ms  "
                f"restarts {stats.get('worker_restarts', 0)}", style="bold")
    t = Table(box=None, pad_edge=False, expand=False)
    for col in ("", "output", "level (peak/RMS dBFS)", "", "gain", "M", "S"):
        t.add_column(col)
    levels = sep.levels()
    for i, name in enumerate(LIVE_OUTPUTS):
        c = sep.control(name)
        peak, rms = levels.get(name, (MIN_DB, MIN_DB))
        gain = "off" if c["gain"] <= MIN_DB else f"{c['gain']:+.1f} dB"
        t.add_row(">" if i == state.selected else " ", f"{i + 1} {name}",
                  Text(_bar(rms, 30), style="green" if peak < -1.0 else "red"),
                  f"{peak:6.1f} / {rms:6.1f}", gain,
                  Text("M", style="bold red") if c["mute"] else "·",
                  Text("S", style="bold yellow") if c["solo"] else "·")
    keys = Text("←/→ select  ↑/↓ ±1 dB  PgUp/PgDn ±6 dB  0 reset  m mute  s solo  q quit",
                style="dim")
    return Group(head, t, keys, *(Text(e, style="yellow") for e in list(events)[-3:]))


class KeyReader:
    """Keys from a terminal on stdin, in cbreak mode, read on a thread of their own.

    Use as a context manager: the terminal's settings come back on exit.
    """

    def __init__(self, fd: int | None = None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.keys: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._saved = None

    def __enter__(self) -> "KeyReader":
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        self._thread = threading.Thread(target=self._run, name="rtsep-keys", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(self.fd, 32).decode(errors="ignore")
            if not data:
                return
            with self._lock:
                self.keys.extend(_split_keys(data))

    def take(self) -> list[str]:
        with self._lock:
            keys, self.keys = self.keys, []
        return keys

    def __exit__(self, *exc) -> None:
        import termios

        self._stop.set()
        self._thread.join(1)
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


def _split_keys(data: str) -> list[str]:
    """Characters and escape sequences (``ESC [ ... letter or ~``) of a terminal's input."""
    out, i = [], 0
    while i < len(data):
        if data.startswith("\x1b[", i):
            j = i + 2
            while j < len(data) and not (data[j].isalpha() or data[j] == "~"):
                j += 1
            out.append(data[i:j + 1])
            i = j + 1
        else:
            out.append(data[i])
            i += 1
    return out


def run_ui(sep, stop: threading.Event, stats_fn, refresh_s: float = 0.25) -> str:
    """Draw the mixer and apply keys until ``q``, ``stop`` or a fault ends the client.

    Parameters
    ----------
    sep : LiveSeparator
        Running.
    stop : threading.Event
        Set by the signal handlers (Ctrl-C, SIGTERM).
    stats_fn : callable() -> dict
        The stats to show (the command line also writes them to ``--json-stats``).

    Returns
    -------
    str
        What :meth:`LiveSeparator.wait` returned (``"stopped"`` after ``q``).
    """
    from rich.console import Console
    from rich.live import Live

    state = MixerState(sep)
    console = Console(stderr=True)
    stats = stats_fn()
    events: list[str] = []
    with KeyReader() as keys, Live(render(sep, state, stats), console=console,
                                   refresh_per_second=1 / refresh_s, transient=False) as live:
        n = 0
        while True:
            r = sep.wait(timeout=refresh_s, stop_event=stop)
            while sep.worker_events:
                events.append(sep.worker_events.popleft())
            if r != "timeout":
                return r
            for k in keys.take():
                state.key(k)
            if state.quit:
                return "stopped"
            n += 1
            if n % max(1, round(1 / refresh_s)) == 0:
                stats = stats_fn()
            live.update(render(sep, state, stats, events))


__all__ = ["KEYS", "MixerState", "render", "run_ui"]
