"""rtsep.live.jack.callback: the native process callback's context (no JACK server)."""

import numpy as np
import pytest

from rtsep.live.control import N_WORDS, Word, control_words
from rtsep.live.jack import callback
from rtsep.live.ringbuf import SampleRing


def test_native_callback_context_checks_its_inputs():
    ctl = control_words()
    ring = SampleRing(2, 64)
    ctx = callback.build_context(ctl, 1234, in_ring=ring, in_ports=[11, 12])
    assert ctx[callback.X_CTL] == ctl.ctypes.data and ctx[callback.X_IN_CAP] == 64
    assert ctx[callback.X_CLIENT] == 1234 and ctx[callback.X_N_IN] == 2 and ctx[callback.X_N_OUT] == 0
    assert list(ctx[callback.X_PORTS:callback.X_PORTS + 2]) == [11, 12]
    with pytest.raises(ValueError, match="one channel per port"):
        callback.build_context(ctl, 1234, in_ring=ring, in_ports=[11])
    with pytest.raises(ValueError, match="int64"):
        callback.build_context(ctl.astype(np.int32), 1234)
    with pytest.raises(ValueError, match=f"{N_WORDS} control words"):
        callback.build_context(ctl[:8], 1234)


def test_the_counters_it_writes_are_the_named_control_words():
    """The callback indexes the control array by rtsep.live.control.Word, compiled in."""
    assert (callback._CYCLES, callback._UNDERRUNS, callback._MISSING) == (
        Word.CYCLES, Word.UNDERRUNS, Word.MISSING)
    assert (callback._CB_MAX, callback._CB_SLOW, callback._FIRST_FRAME) == (
        Word.CB_MAX, Word.CB_SLOW, Word.FIRST_FRAME)
    assert len(Word) == 28 and len(set(Word)) == 28 and max(Word) < N_WORDS
