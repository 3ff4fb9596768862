"""The live client's statistics: counters and timings read from the control words."""

from __future__ import annotations

import time

import numpy as np

from rtsep.constants import SAMPLE_RATE
from rtsep.live.control import HIST, SharedBlock, Word


class StatsReader:
    """Reads a running client's figures; the load is over the time since the previous read.

    Parameters
    ----------
    worker : str
        ``"process"`` or ``"thread"`` (reported as it is).
    """

    def __init__(self, worker: str):
        self.worker = worker
        self.started: float | None = None
        self._prev: tuple[float, int] | None = None

    def read(self, sh: SharedBlock, plan, latency_fallback: int) -> dict:
        """The figures now.

        Parameters
        ----------
        sh : SharedBlock
        plan : rtsep.live.plan.Plan or None
        latency_fallback : int
            Reported as the latency before the worker published one.

        Returns
        -------
        dict
            ``latency_samples``, ``latency_ms``, ``rate`` (Hz), ``rate_changes``, ``xruns``, ``underruns``,
            ``missing_frames``, ``hops``, ``worker_ms_p50``, ``worker_ms_p99``,
            ``model_hop``, ``load`` (since the previous read), ``load_avg`` (since start),
            ``period``, ``reserve_periods``, ``prefill_samples``,
            ``engine_latency_samples``, ``cycles``, ``callback_max_us``,
            ``callback_slow``, ``skipped_frames``, ``lost_frames``, ``dropped_frames``,
            ``nonfinite_samples``, ``worker``, ``uptime_s``.
        """
        ctl = sh.ctl
        n = int(min(ctl[Word.HIST_N], HIST))
        h = sh.hist[:n]
        now = time.monotonic()
        busy = int(ctl[Word.BUSY_NS])
        load = 0.0
        if self._prev is not None and now > self._prev[0]:
            load = (busy - self._prev[1]) * 1e-9 / (now - self._prev[0])
        self._prev = (now, busy)
        lat = int(ctl[Word.ENGINE_LAT] + ctl[Word.PREFILL]) or latency_fallback
        fed = int(ctl[Word.FED])
        rate = int(ctl[Word.RATE]) or SAMPLE_RATE
        return {
            "latency_samples": lat,
            "latency_ms": 1e3 * lat / rate,
            "rate": rate,
            "rate_changes": int(ctl[Word.RATE_CHANGES]),
            "xruns": int(ctl[Word.XRUNS]),
            "underruns": int(ctl[Word.UNDERRUNS]),
            "missing_frames": int(ctl[Word.MISSING]),
            "hops": int(ctl[Word.HOPS]),
            "worker_ms_p50": float(np.percentile(h, 50)) if n else 0.0,
            "worker_ms_p99": float(np.percentile(h, 99)) if n else 0.0,
            "model_hop": plan.model_hop if plan else None,
            "load": load,
            "load_avg": busy * 1e-9 / (fed / rate) if fed else 0.0,
            "period": int(ctl[Word.PERIOD]),
            "reserve_periods": plan.reserve_periods if plan else None,
            "prefill_samples": int(ctl[Word.PREFILL]),
            "engine_latency_samples": int(ctl[Word.ENGINE_LAT]),
            "cycles": int(ctl[Word.CYCLES]),
            "callback_max_us": 1e6 * int(ctl[Word.CB_MAX]) / rate,
            "callback_slow": int(ctl[Word.CB_SLOW]),
            "skipped_frames": int(ctl[Word.SKIPPED]),
            "lost_frames": int(sh.ring_in.lost),
            "dropped_frames": int(ctl[Word.DROPPED]),
            "nonfinite_samples": int(ctl[Word.NONFINITE]),
            "worker_restarts": int(ctl[Word.RESTARTS]),
            "worker": self.worker,
            "uptime_s": (now - self.started) if self.started else 0.0,
        }


def format_status(s: dict) -> str:
    """One status line: worker time per hop, load, latency, xruns, underruns."""
    return (f"hop {s['model_hop']} | worker/hop p50 {s['worker_ms_p50']:.1f} ms "
            f"p99 {s['worker_ms_p99']:.1f} ms | load {100 * s['load']:.0f}% | "
            f"latency {s['latency_ms']:.1f} ms ({s['latency_samples']} smp) | "
            f"xruns {s['xruns']} | underruns {s['underruns']}"
            + (f" | worker restarts {s['worker_restarts']}" if s.get("worker_restarts") else ""))
