"""JACK itself: the one libjack binding (:mod:`~rtsep.live.jack.libjack`), the native
process callback (:mod:`~rtsep.live.jack.callback`), latency reporting
(:mod:`~rtsep.live.jack.latency`) and a private dummy-backend server for tests,
benchmarks and the demo (:mod:`~rtsep.live.jack.server`)."""
