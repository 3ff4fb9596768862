"""The live half of ``rtsep demo``: a song through a :class:`LiveSeparator`, recorded.

:func:`use_or_start_server` uses the running JACK server or starts a private
dummy-backend one; :func:`separate_live` plays a click and then the song into the
separator from a second JACK client, records its 10 outputs with a third (aligned by
JACK frame time, :mod:`rtsep.live.probe`), and measures the latency from the click.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rtsep.constants import OUTPUTS, SAMPLE_RATE
from rtsep.errors import JackError

CLICK_LEAD_S = 1.0
"""The song starts at least this long after the first latency-measuring click."""
N_CLICKS = 3
"""Clicks played before the song, ``latency + 8192`` samples apart: the measured latency
is the delay that most of the clicks without a frame-time discontinuity show (on a busy
machine an underrun or a late cycle can hide one click or move its peak)."""
ORACLE_OFFSET_S = 4.0
"""With the oracle: the song starts this long after the client's first cycle."""


@dataclass
class LiveRun:
    """What :func:`separate_live` recorded and measured.

    Attributes
    ----------
    separated : np.ndarray [shape=(5, n_samples, 2), dtype=float32]
        The recorded output ports, aligned with the song by the measured latency (at
        44.1 kHz: resampled back from the server's rate when it differs).
    latency_reported, latency_measured : int
        Samples at the server's rate: what the client reported to JACK, and where the
        clicks came out (the delay most undisturbed clicks show).
    rate : int
        The server's sample rate.
    stats : dict
        The client's statistics (:meth:`LiveSeparator.stats`) at the end.
    discontinuities : int
        JACK frame-time discontinuities during the recording (0: the alignment holds).
    click_delays : tuple of int
        The delay of each click (:data:`N_CLICKS`), in samples at the server's rate.
    clicks_agree : int
        How many clicks showed ``latency_measured``.
    """

    separated: np.ndarray
    latency_reported: int
    latency_measured: int
    stats: dict
    discontinuities: int
    rate: int = SAMPLE_RATE
    click_delays: tuple = ()
    clicks_agree: int = 0


def use_or_start_server(servername: str | None, period: int, say: Callable[[str], None],
                        rate: int = SAMPLE_RATE):
    """The running JACK server, or a private dummy-backend one started now.

    Parameters
    ----------
    servername : str or None
        The server to use (None: ``$JACK_DEFAULT_SERVER`` or the default one).
    period : int
        Period of the dummy server, when one is started.
    say : callable(str)
        Told which server is used.
    rate : int
        Sample rate of the dummy server, when one is started.

    Returns
    -------
    (servername, server)
        The name to connect to, and the :class:`~rtsep.live.jack.server.DummyServer`
        started (stop it when done) or None.
    """
    from rtsep.live.jack.server import DummyServer, clear_dead_servers, server_running

    clear_dead_servers()  # killed servers may have filled JACK's registry
    if server_running(servername):
        which = servername or os.environ.get("JACK_DEFAULT_SERVER") or "default"
        say(f"using the running JACK server {which!r}")
        return servername, None
    name = f"rtsep-demo-{os.getpid()}"
    # realtime scheduling when allowed (as a user's server would run), else without;
    # synchronous (-S), as in the tests: a late client then delays the cycle instead of
    # reading the next cycle's frame time, which put the demo's measurement a period off
    for realtime in (True, False):
        srv = DummyServer(name, period=period, rate=rate, realtime=realtime, sync=True)
        try:
            srv.start()
        except JackError:
            if not realtime:
                raise
            continue
        say(f"no JACK server answers: started a dummy-backend one ({' '.join(srv.command())})")
        return name, srv


def _model_for(spec: str, stems: np.ndarray):
    """(model, model hop): the oracle follows the engine's stream from its first sample,
    so it gets the stems where the song will be in that stream."""
    if spec != "oracle":
        return spec, "auto"
    from rtsep.engine.oracle import OracleModel

    off = int(ORACLE_OFFSET_S * SAMPLE_RATE)
    return OracleModel(np.concatenate([np.zeros((4, off, 2), np.float32), stems], axis=1)), 1


def separate_live(spec: str, stems: np.ndarray, mix: np.ndarray, *, servername: str | None,
                  reserve_periods: int | None, say: Callable[[str], None]) -> LiveRun:
    """Separate ``mix`` live through JACK with the model ``spec``; record and measure.

    Parameters
    ----------
    spec : str
        ``"oracle"`` (ideal ratio masks from ``stems``), or a model NAME or PATH.
    stems : np.ndarray [shape=(4, n_samples, 2), dtype=float32]
    mix : np.ndarray [shape=(n_samples, 2), dtype=float32]
    servername : str or None
    reserve_periods : int or None
        The client's output reserve (None: measured at start).
    say : callable(str)
        Told what is happening.

    Returns
    -------
    LiveRun
    """
    from rtsep.errors import ConfigError
    from rtsep.live.client import LiveSeparator
    from rtsep.live.probe import locate_clicks, play_record

    model, hop = _model_for(spec, stems)
    sep = LiveSeparator(model, client_name="rtsep", servername=servername, model_hop=hop,
                        reserve_periods=reserve_periods)
    with sep:
        plan = sep.plan
        lat = sep.latency_samples
        rate = sep.rate
        if rate != SAMPLE_RATE:
            if spec == "oracle":
                raise ConfigError(f"the oracle demo runs at {SAMPLE_RATE} Hz only (the server "
                                  f"runs at {rate} Hz); use the default model")
            import soxr

            mix = soxr.resample(mix, SAMPLE_RATE, rate, quality="VHQ").astype(np.float32)
        n = mix.shape[0]
        spacing = lat + 8192
        clicks = spacing * np.arange(N_CLICKS)
        lead = max(int(CLICK_LEAD_S * rate), N_CLICKS * spacing)
        sig = np.zeros((lead + n, 2), np.float32)
        sig[clicks] = 1.0
        sig[lead:] = mix
        say(f"rtsep live: model '{spec}' on {plan.device}, model hop {plan.model_hop}, "
            f"latency {lat} samples at {rate} Hz ({1e3 * lat / rate:.1f} ms) reported to JACK")
        start = None
        if spec == "oracle":
            while sep.first_frame is None:
                sep.wait(0.01)
            start = (sep.first_frame + int(ORACLE_OFFSET_S * SAMPLE_RATE) - lead) & 0xFFFFFFFF
        sinks = [f"{sep.client.name}:{o}_{c}" for o in OUTPUTS for c in "LR"]
        say(f"playing the song ({n / rate:.1f} s) into {sep.client.name}:in_L/in_R "
            "and recording its 10 outputs ...")
        info: dict = {}
        rec = play_record(sig, [[f"{sep.client.name}:in_L"], [f"{sep.client.name}:in_R"]],
                          sinks, record_frames=lead + n + lat + 4096,
                          servername=servername, name="rtsep-demo", stats=info,
                          start_frame=start)
        stats = sep.stats()
    if sep.shutdown_reason:
        raise JackError(f"the JACK server shut down during the demo ({sep.shutdown_reason})")
    # the stems sum to the input: a click's position in their sum is the latency
    total = rec[:lead, 0:8:2].sum(axis=1)
    delays, _, disturbed = locate_clicks(total, clicks, spacing, spacing,
                                         info.get("discontinuity_frames", ()))
    measured, agree = _most_common_delay(delays[:, 0], disturbed)
    est = np.stack([rec[lead + measured:lead + measured + n, 2 * i:2 * i + 2]
                    for i in range(len(OUTPUTS))])
    if rate != SAMPLE_RATE:
        est = np.stack([soxr.resample(e, rate, SAMPLE_RATE, quality="VHQ") for e in est])
        est = est[:, :stems.shape[1]].astype(np.float32)
    return LiveRun(est, lat, measured, stats, int(info.get("discontinuities", 0)), rate,
                   tuple(int(d) for d in delays[:, 0]), agree)


def _most_common_delay(delays: np.ndarray, disturbed: np.ndarray) -> tuple[int, int]:
    """(delay, clicks showing it): the most common of the undisturbed clicks' delays
    (of all clicks when every one was disturbed; the earliest click on a tie).

    Parameters
    ----------
    delays : np.ndarray [shape=(n_clicks,), dtype=int64]
    disturbed : np.ndarray [shape=(n_clicks,), dtype=bool]
    """
    pool = delays[~disturbed] if (~disturbed).any() else delays
    counts = [(pool == d).sum() for d in pool]
    best = pool[int(np.argmax(counts))]  # argmax: the first of the most common
    return int(best), int((delays == best).sum())
