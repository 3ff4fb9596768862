"""Play into JACK ports and record others, aligned by JACK frame time.

Used by the live tests, ``benchmarks/latency.py`` and ``rtsep demo``: a *player*
client plays a signal into given ports starting at a JACK frame time ``t0``, and a
separate *recorder* client records given ports from the same frame time ``t0``.
Both index their buffers by ``client.last_frame_time`` (the frame time of the
current cycle), never by counting callbacks, so recording index ``i`` is JACK
frame ``t0 + i`` and a device under test with latency ``d`` moves signal sample
``j`` to recording index ``j + d``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import JackError
from rtsep.live.control import MAX_PERIOD, Word, control_words
from rtsep.live.jack.server import open_client


def _frame_diff(a: int, b: int) -> int:
    """``a - b`` for 32-bit JACK frame times (handles wrap-around)."""
    d = (int(a) - int(b)) & 0xFFFFFFFF
    return d - (1 << 32) if d >= (1 << 31) else d


def play_record(signal: np.ndarray, targets, sinks, *, record_frames: int,
                servername: str | None = None, lead_s: float = 0.3,
                name: str = "rtsep-probe", timeout_s: float | None = None,
                stats: dict | None = None, start_frame: int | None = None) -> np.ndarray:
    """Play ``signal`` into ``targets`` and record ``sinks``, both from the same frame time.

    Parameters
    ----------
    signal : np.ndarray [shape=(n, n_play), dtype=float32]
        Column ``j`` goes to every port in ``targets[j]``.
    targets : sequence (n_play) of sequence of str
        Input ports (of the device under test) each player port connects to.
    sinks : sequence of str
        Output ports to record.
    record_frames : int
        Frames to record from the start frame.
    servername : str, optional
    lead_s : float
        Time between connecting and the start frame.
    start_frame : int, optional
        An absolute JACK frame time to start at instead (must lie in the future
        once the clients are connected, else JackError).
    timeout_s : float, optional
        Default: the recording's duration plus 10 s.
    stats : dict, optional
        Receives ``"discontinuities"``: cycles whose ``last_frame_time`` was not the
        previous one plus its length, in either client (a callback that started a
        whole period late, e.g. during an xrun or a block-size change, may read the
        next cycle's time), and ``"discontinuity_frames"``: where they happened
        (frames from the start frame). A signal played or recorded across one is not
        trustworthy.

    Returns
    -------
    np.ndarray [shape=(record_frames, len(sinks)), dtype=float32]
    """
    signal = np.ascontiguousarray(signal, np.float32)
    if signal.ndim != 2 or signal.shape[1] != len(targets):
        raise ValueError(f"signal must be (n, {len(targets)}), got {signal.shape}")
    probe = _PlayRecord(signal, len(sinks), record_frames)
    player = open_client(f"{name}-player", servername)
    recorder = open_client(f"{name}-recorder", servername)
    try:
        probe.attach(player, recorder)
        player.activate()
        recorder.activate()
        try:
            for port, dsts in zip(probe.pouts, targets):
                for dst in dsts:
                    player.connect(port, dst)
            for src, port in zip(sinks, probe.rins):
                recorder.connect(src, port)
        except Exception as exc:  # jack.JackError
            raise JackError(f"cannot connect the probe clients: {exc}") from None
        probe.run(player, lead_s, start_frame, timeout_s)
    finally:
        for c in (player, recorder):
            try:
                c.deactivate()
            except Exception:  # noqa: BLE001 - server may be gone
                pass
            c.close()
    if stats is not None:
        stats["discontinuities"] = probe.discontinuities
        stats["discontinuity_frames"] = sorted(probe.jumps)
    return probe.rec.T.copy()


class _PlayRecord:
    """The state of one :func:`play_record` and its two JACK process callbacks (Python)."""

    def __init__(self, signal: np.ndarray, n_sinks: int, record_frames: int):
        self.sig_cols = [np.ascontiguousarray(signal[:, j]) for j in range(signal.shape[1])]
        self.n_sig = signal.shape[0]
        self.record_frames = record_frames
        self.rec = np.zeros((n_sinks, record_frames), np.float32)
        self.start = None  # the start frame time, once chosen
        self.done = False
        # frame-time continuity per client: [expected next frame time, discontinuities]
        self._cont = {"player": [None, 0], "recorder": [None, 0]}
        self.jumps: list[int] = []  # where (frames from the start) a discontinuity was seen
        self.pouts = self.rins = None

    @property
    def discontinuities(self) -> int:
        return self._cont["player"][1] + self._cont["recorder"][1]

    def attach(self, player, recorder) -> None:
        """Register the ports and the process callbacks (before activation)."""
        self.pouts = [player.outports.register(f"out_{j}") for j in range(len(self.sig_cols))]
        self.rins = [recorder.inports.register(f"in_{j}") for j in range(self.rec.shape[0])]
        player.set_process_callback(lambda frames: self._play(player, frames))
        recorder.set_process_callback(lambda frames: self._record(recorder, frames))

    def _check(self, c, now, frames) -> None:
        if c[0] is not None and now != c[0]:
            c[1] += 1
            if len(self.jumps) < 10000:
                self.jumps.append(_frame_diff(now, self.start))
        c[0] = (now + frames) & 0xFFFFFFFF

    def _play(self, player, frames) -> None:
        now = player.last_frame_time
        t0 = self.start
        if t0 is not None:
            self._check(self._cont["player"], now, frames)
        for j, port in enumerate(self.pouts):
            buf = port.get_array()
            buf[:] = 0.0
            if t0 is None:
                continue
            off = _frame_diff(now, t0)
            a, b = max(off, 0), min(off + frames, self.n_sig)
            if a < b:
                buf[a - off:b - off] = self.sig_cols[j][a:b]

    def _record(self, recorder, frames) -> None:
        now = recorder.last_frame_time
        t0 = self.start
        if t0 is None or self.done:
            return
        self._check(self._cont["recorder"], now, frames)
        off = _frame_diff(now, t0)
        a, b = max(off, 0), min(off + frames, self.record_frames)
        for j, port in enumerate(self.rins):
            if a < b:
                self.rec[j, a:b] = port.get_array()[a - off:b - off]
        if off + frames >= self.record_frames:
            self.done = True

    def run(self, player, lead_s: float, start_frame: int | None, timeout_s: float | None) -> None:
        """Choose the start frame, then wait until the recording is complete."""
        time.sleep(0.05)
        now = player.frame_time
        if start_frame is None:
            start_frame = now + int(lead_s * player.samplerate)
        elif _frame_diff(start_frame, now) < 2 * player.blocksize:
            raise JackError(f"the start frame {start_frame} is not in the future (now {now})")
        self.start = int(start_frame) & 0xFFFFFFFF
        if timeout_s is None:
            ahead = max(_frame_diff(self.start, now), 0) / player.samplerate
            timeout_s = self.record_frames / player.samplerate + ahead + 10.0
        deadline = time.monotonic() + timeout_s
        while not self.done:
            if time.monotonic() > deadline:
                raise JackError(f"recording did not finish within {timeout_s:.1f} s "
                                "(is the JACK server running?)")
            time.sleep(0.02)


@dataclass
class ClickResult:
    """Delays measured by :func:`measure_click_delay`.

    Attributes
    ----------
    delays : np.ndarray [shape=(n_clicks, n_sinks), dtype=int64]
        Recording index of each click's peak minus its play index.
    peaks : np.ndarray [shape=(n_clicks, n_sinks), dtype=float32]
        Absolute peak value found for each click.
    recording : np.ndarray [shape=(frames, n_sinks), dtype=float32]
    discontinuities : int
        Frame-time discontinuities seen by the probe clients (see :func:`play_record`).
    disturbed : int
        Clicks with a discontinuity between a period before they were played and
        ``expected_max`` frames after: only their delays are untrustworthy (0: every
        delay can be trusted; a server whose clock jumps now and then, as PipeWire's can
        on a loaded machine, still gives clean clicks between its jumps).
    """

    delays: np.ndarray
    peaks: np.ndarray
    recording: np.ndarray
    discontinuities: int = 0
    disturbed: int = 0


def measure_click_delay(targets, sinks, *, expected_max: int, servername: str | None = None,
                        n_clicks: int = 4, spacing: int | None = None,
                        name: str = "rtsep-probe") -> ClickResult:
    """Play unit clicks into ``targets`` (each click to all of them) and locate them in ``sinks``.

    Parameters
    ----------
    targets : sequence of str
        Input ports; all receive the same click train.
    sinks : sequence of str
    expected_max : int
        Upper bound of the delay (frames): clicks are spaced further apart.
    n_clicks : int
    spacing : int, optional
        Frames between clicks (default ``expected_max + 8192``).

    Returns
    -------
    ClickResult
    """
    spacing = int(spacing or expected_max + 8192)
    first = 4096
    n = first + n_clicks * spacing
    sig = np.zeros((n, 1), np.float32)
    clicks = first + spacing * np.arange(n_clicks)
    sig[clicks, 0] = 1.0
    info: dict = {}
    rec = play_record(sig, [list(targets)], sinks, record_frames=n + 2048,
                      servername=servername, name=name, stats=info)
    delays, peaks, disturbed = locate_clicks(rec, clicks, spacing, expected_max,
                                             info["discontinuity_frames"])
    return ClickResult(delays, peaks, rec, info["discontinuities"], int(disturbed.sum()))


def locate_clicks(rec: np.ndarray, clicks, spacing: int, expected_max: int, jumps):
    """Where each click played at ``clicks`` came out in ``rec``, and which were disturbed.

    Parameters
    ----------
    rec : np.ndarray [shape=(frames, n_sinks) or (frames,), dtype=float32]
        The recording, aligned with the played signal (:func:`play_record`); one
        dimension: one sink.
    clicks : sequence of int
        Play index of each click.
    spacing : int
        Frames searched after each click (up to the next one).
    expected_max : int
        Upper bound of the delay (frames).
    jumps : sequence of int
        Frame-time discontinuities (``stats["discontinuity_frames"]`` of :func:`play_record`).

    Returns
    -------
    delays : np.ndarray [shape=(n_clicks, n_sinks), dtype=int64]
        Index of each click's absolute peak after its play index.
    peaks : np.ndarray [shape=(n_clicks, n_sinks), dtype=float32]
    disturbed : np.ndarray [shape=(n_clicks,), dtype=bool]
        A discontinuity between a period before the click and ``expected_max`` frames
        after it: that click's delays cannot be trusted.
    """
    rec = rec.reshape(rec.shape[0], -1)
    delays = np.zeros((len(clicks), rec.shape[1]), np.int64)
    peaks = np.zeros((len(clicks), rec.shape[1]), np.float32)
    for k, c in enumerate(clicks):
        seg = np.abs(rec[c:c + spacing])
        idx = seg.argmax(axis=0)
        delays[k] = idx
        peaks[k] = seg[idx, np.arange(rec.shape[1])]
    jumps = np.asarray(jumps, np.int64)
    disturbed = np.array([((jumps >= c - MAX_PERIOD) & (jumps <= c + expected_max)).any()
                          for c in clicks], bool)
    return delays, peaks, disturbed


class LoopPlayer:
    """A client that plays a stereo signal in a loop into two ports (soak tests, demos).

    Its process callback is the native one of :mod:`rtsep.live.jack.callback` (no GIL), reading
    a ring that a feeder thread keeps topped up with the looping signal, so a busy
    Python process (the one hosting the client under test, say) cannot make the
    player late. Feeder behind: silence, counted in :attr:`underruns`.

    Parameters
    ----------
    signal : np.ndarray [shape=(n, 2), dtype=float32]
    targets : sequence of 2 str
        Ports for the left and right channel.
    servername : str, optional
    name : str
        Client name.
    buffer_s : float
        Seconds of signal the ring holds ahead of the callback.
    """

    def __init__(self, signal: np.ndarray, targets, *, servername: str | None = None,
                 name: str = "rtsep-player", buffer_s: float = 2.0):
        import threading

        from rtsep.live.jack import callback
        from rtsep.live.ringbuf import SampleRing

        sig = np.ascontiguousarray(signal, np.float32)
        if sig.ndim != 2 or sig.shape[1] != 2 or sig.shape[0] < 1:
            raise ValueError(f"signal must be (n, 2) with n >= 1, got {sig.shape}")
        self._sig = np.ascontiguousarray(sig.T)  # (2, n): ring layout
        self._n = sig.shape[0]
        self._pos = 0
        self._ring = SampleRing(2, max(int(buffer_s * SAMPLE_RATE), 16384))
        self._ctl = control_words()  # the callback counts cycles, underruns, ... here
        self._fill()
        self._stop = threading.Event()
        self.client = open_client(name, servername)
        self._ports = [self.client.outports.register(f"out_{c}") for c in "LR"]
        self._context = callback.build_context(
            self._ctl, callback.client_address(self.client), out_ring=self._ring,
            out_ports=[callback.port_address(p) for p in self._ports])
        callback.set_process_callback(self.client, self._context)
        self._feeder = threading.Thread(target=self._feed, name="rtsep-player-feeder", daemon=True)
        self._feeder.start()
        self.client.activate()
        try:
            for port, dst in zip(self._ports, targets):
                self.client.connect(port, dst)
        except Exception as exc:  # jack.JackError
            self.close()
            raise JackError(f"cannot connect the player: {exc}") from None

    @property
    def underruns(self) -> int:
        """Cycles in which the feeder had not supplied the whole period."""
        return int(self._ctl[Word.UNDERRUNS])

    @property
    def callback_max_frames(self) -> int:
        """The latest end of its callback, in frames since its cycle's start (this
        counts the clients before it in the graph too)."""
        return int(self._ctl[Word.CB_MAX])

    def _fill(self) -> None:
        """Top the ring up with the signal, continuing the loop."""
        space = self._ring.space()
        while space > 0:
            k = min(space, self._n - self._pos)
            self._ring.write(self._sig[:, self._pos:self._pos + k], k)
            self._pos = (self._pos + k) % self._n
            space -= k

    def _feed(self) -> None:
        while not self._stop.wait(0.05):
            self._fill()

    def close(self) -> None:
        self._stop.set()
        try:
            self.client.deactivate()
        except Exception:  # noqa: BLE001 - server may be gone
            pass
        self.client.close()
        self._feeder.join(1.0)

    def __enter__(self) -> "LoopPlayer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
