"""The live JACK client: stereo in, four stems (+ instrumental) out, in real time.

Modules: :mod:`~rtsep.live.client` (:class:`LiveSeparator`), :mod:`~rtsep.live.control`
(the shared memory), :mod:`~rtsep.live.plan`, :mod:`~rtsep.live.worker`,
:mod:`~rtsep.live.mixer`, :mod:`~rtsep.live.osc`, :mod:`~rtsep.live.midi`, :mod:`~rtsep.live.nsm`,
:mod:`~rtsep.live.stats`, :mod:`~rtsep.live.ringbuf`, :mod:`~rtsep.live.probe` (play and
record through JACK), :mod:`~rtsep.live.demo`, and :mod:`rtsep.live.jack`: the libjack
binding, the native process callback, latency reporting and a private test server.

Structure
---------
::

    JACK process callback                    worker (thread or process)
    ---------------------                    --------------------------
    in_L, in_R  --push-->  input ring  --read-->  StreamingSeparator.process (model + DSP)
    14 outputs <--pop---  output ring <--write--  Mixer: gains/mute/solo with ramps,
    midi_in     --copy-->  MIDI ring               main (delayed input), mix bus
                               |
                client threads: MIDI map, OSC, terminal mixer, NSM -> control table

The outputs (:mod:`~rtsep.live.mixer`) are the five engine outputs, ``main`` (the input
at exactly the reported latency) and ``mix`` (the stems after their gains); their
gain, mute and solo live in a control table of the shared block that the client's
control threads write and the worker reads (no lock on the audio side).

The process callback only copies between port buffers and the two preallocated
single-producer/single-consumer rings of :mod:`rtsep.live.ringbuf`, and updates a few
integer counters; it never allocates, blocks, logs, or touches the model. It is
native code (a Numba ``cfunc`` registered with ``jack_set_process_callback``, see
:mod:`rtsep.live.jack.callback`), not Python: it never waits for the interpreter's GIL, so no
Python thread of the client process (the main thread, a worker thread, the garbage
collector) can delay it. Everything else runs on the worker. The model is loaded,
warmed and timed on the worker *before* the client is activated.

Latency (fixed at start, exact, reported to JACK)
-------------------------------------------------
With ``D = 4095 + (L + K - 1) * 1024`` the engine's own latency (``L`` look-ahead
frames, ``K`` model hop frames; see :mod:`rtsep.engine`), ``P`` the JACK period
and ``R`` the reserve (a whole number of periods, at least one, and at least 2x
the worst block processing time measured at start)::

    latency_samples = D + P + R

The output ring starts with ``P + R`` frames of silence. In a cycle the callback
first writes the period's input, then reads the period's output, so the worker can
use that input at the earliest for the *next* cycle (``+ P``); ``R`` covers the
time the worker needs (a model call can take several periods). Output position
``p`` always holds separated input ``p - latency``: the click test in
``tests/test_live.py`` measures it to the sample. The figure is reported to JACK
through a latency callback (:mod:`rtsep.live.jack.latency`): outputs' capture latency =
inputs' capture latency + ours; inputs' playback latency = outputs' playback
latency + ours, so ``jack_lsp -l`` and DAWs compensate it.

With a fast model (GPU: a call well under one period) ``R = P`` and the total is
``4095 + (K - 1) * 1024 + 2 * P`` for ``L = 0``. On a 2-core CPU with a
30-40 ms model ``R`` is several periods (see the README for measured figures).

Other sample rates: the models run at 44.1 kHz. At any other server rate (48, 88.2,
96 kHz, ...) the worker resamples the input down and the stems up
(:mod:`rtsep.live.rate`); ``D`` is then the engine's delay converted to the server's
rate plus the two resamplers' (about 1.2 ms each), with a fraction of a sample added
in the up stage so that it is a whole number of server samples: the latency stays
exact to the sample (click test at 48 and 96 kHz in ``tests/test_live.py``). ``main``
is still the input delayed bit for bit; ``P`` and ``R`` are in server frames.

Faults
------
- Worker late (underrun): the callback outputs what is there and **silence** for
  the rest of the period and counts an underrun. Silence, not the dry mix: the dry
  mix on a stem port (or on the karaoke pair) would put the vocals back into a
  mix that is meant to have none. The read position still advances, so output
  position ``p`` keeps its input sample: when the worker finds its output already
  overdue it drops input (all but the newest period), restarts the engine (the
  audio inside it belongs to positions already played as silence; its model
  context refills within ~4.5 s) and re-locks at the same latency, without drift.
  Output position ``p`` therefore always holds separated input ``p - latency``
  or silence, never misplaced audio.
- Input ring full (worker stalled for seconds): the callback drops the period
  and counts it (``lost``); the worker re-synchronises the same way.
- Worker process dead or hung (its heartbeat word stands still): the client kills
  it and starts another on the same shared block; the new worker takes over the rings
  at the same latency (:meth:`rtsep.live.worker._Loop.take_over`) while the callback
  plays silence; a bounded number of failures in a row ends the client.
- xruns are counted (JACK's xrun callback). Server shut down: :meth:`wait`
  returns ``"shutdown"`` at once, or with ``reconnect`` waits for a server of the same
  name and rejoins it with the same ports, connections and latency (the rings stand
  still meanwhile: input and output positions move together again). Block size changes: buffers
  are sized for the largest JACK period (8192 frames); a *larger* period than at
  start needs more ring (``P + R``), so the latency grows by the difference and is
  reported anew (a smaller one keeps the latency).
- Sample-rate change while running (PipeWire switches its graph's rate when an
  application asks): the worker follows (:meth:`rtsep.live.worker._Loop._follow_rate`):
  the output ring's content plays out, buffered input is dropped, the resamplers are
  rebuilt and the engine restarts at the newest input with the new rate's latency,
  which the client reports anew; counted as ``rate_changes``. A rate the live path
  cannot follow (no common grid with 44.1 kHz fine enough for an exact latency)
  stops the client with the reason and the remedy for the server in use.

Thread or process worker (measured, 2-core CPU, dummy server)
-------------------------------------------------------------
The first version's process callback was Python and needed the GIL: with the worker
in a *thread*, the realtime callback waited for the GIL whenever the worker thread
held it (engine bookkeeping, the Keras call's Python overhead), a priority
inversion. Measured then with ``benchmarks/soak.py`` (``jackd -R -d dummy -p 128``,
untrained U-Net at ~44 ms per call, model hop 8, 40 s per run, runs alternated, on a
2-core VM that other jobs kept at a load average of 3-4): thread 61 and 91 xruns,
21 and 26 callbacks ending after half the period; process 19 and 13 xruns, 6 and 1.
The callback is now native code (:mod:`rtsep.live.jack.callback`) and never waits for the GIL,
so the worker's place no longer decides whether the callback runs on time; it still
decides what disturbs the *worker*: a worker thread shares its process's GIL and
garbage collector with the host program (a DAW script, the status printer), a worker
process shares nothing but the rings (``multiprocessing.shared_memory``), so
:data:`~rtsep.live.client.DEFAULT_WORKER` stays ``"process"``. Measured with the native
callback (``soak.py --minutes 1 --start-server --realtime --period 256 --model default
--model-hop 3 --compare-workers``): thread and process both 0 xruns and 0 underruns,
worker per hop p50/p99 34.9/38.2 ms (thread) and 38.0/41.5 ms (process), our callback
ending at most 1.6 and 1.8 ms into the 5.8 ms period: with a native callback the
choice no longer shows in a minute on a quiet machine.

Worker priority and threads: the model runs on all CPUs but one by default
(:func:`~rtsep.live.plan.live_threads`), which removed the server's xruns in the soak test.
On a server that runs its clients in realtime (``jackd -R``; the client's thread then
has a SCHED_FIFO priority, 5 under jackd2's default 10) the worker process asks for
SCHED_FIFO priority 1 (``worker_rtprio="auto"``): below every JACK thread, above
every normal program, so a busy core next to it no longer delays the worker's wake-ups.
On a server that is not realtime the worker keeps normal priority (a realtime worker
would preempt the audio threads there), and so does a worker thread, and so it does on
PipeWire's JACK layer (there the 60 s test at 48 kHz had 5 underruns with the worker
at SCHED_FIFO 1 and 0 at normal priority; the cause was not found); without the rights
(``rtprio`` limit, CAP_SYS_NICE) it runs at normal priority with a note. Measured
(``benchmarks/soak.py --start-server --realtime --period 256 --model-hop auto
--background 1``, ``stress-ng --cpu 1``, default streaming model, 2-core AMD EPYC VM,
3-minute runs): normal priority, worker per hop p50/p99 4.15/6.76 ms, step timed at
start 2.0-2.4 ms; SCHED_FIFO 1: 3.20/4.05, 3.42/4.35 and 3.27/4.45 ms, step
1.24-1.26 ms (README: 10-minute soaks beside a baseline without rtsep). With the former Python callback ``worker_rtprio=1``
gave 60-64 xruns (realtime TensorFlow threads starved the client's main thread, which
could hold the GIL the callback needed); the callback is native now and needs no GIL.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "LiveSeparator": "rtsep.live.client",
    "DEFAULT_WORKER": "rtsep.live.client",
    "PORT_NAMES_IN": "rtsep.live.client",
    "PORT_NAMES_OUT": "rtsep.live.client",
    "parse_gains": "rtsep.live.client",
    "Plan": "rtsep.live.plan",
    "format_status": "rtsep.live.stats",
}
"""Public names, imported on first use: ``python -m rtsep.live.worker`` must find
``rtsep.live`` without the worker module already imported."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rtsep.live' has no attribute {name!r}")
