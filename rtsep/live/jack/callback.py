"""The live client's JACK process callback in native code: no GIL, no allocation.

JACK-Client calls a *Python* process callback, which must take the interpreter's
GIL in JACK's realtime thread. Any other Python thread of the process that holds
the GIL (the main thread, a status printer, the garbage collector, another Python
JACK client in the same process) then delays the realtime thread: a priority
inversion that shows up as xruns and late cycles. Here the callback is a Numba
``cfunc`` (machine code with a C signature) registered with
``jack_set_process_callback`` directly. It never touches the interpreter: it reads
its port pointers and ring addresses from a preallocated int64 *context* array, asks
libjack for the port buffers (``jack_port_get_buffer``, bound by
:mod:`rtsep.live.jack.libjack`, which Numba calls natively) and copies between them
and the rings with the kernels of :mod:`rtsep.live.ringbuf`.

Per cycle of ``n`` frames it

1. stores the cycle's JACK frame time as the stream origin on the first cycle;
2. pushes the input ports into the input ring (ring full: nothing written, ``n``
   frames counted as lost in the ring header);
3. pops ``n`` frames of the output ring into the output ports (missing frames are
   silence; the read position always advances), counting underruns and missing
   frames;
4. copies the short MIDI messages (1-3 bytes: notes, control changes) of the
   ``midi_in`` port, when there is one, into the MIDI ring (:data:`MIDI_RING`
   int64 words: a write position, then one packed message per word,
   ``status | data1 << 8 | data2 << 16``); a full ring drops messages (counted in
   its header), never blocks;
5. counts the cycle and records how far into the period it finished.

The counters are the control words of :class:`rtsep.live.control.Word` (``CYCLES``,
``UNDERRUNS``, ``MISSING``, ``CB_MAX``, ``CB_SLOW``, ``FIRST_FRAME``) of the control
array the context points to; each has this callback as its only writer. A store
fence orders the ring data before the position that publishes it.

The context array and everything it points to must outlive the client's activation.
"""

from __future__ import annotations

import numpy as np
from numba import carray, cfunc, types
from numba.extending import intrinsic

from rtsep.live.control import N_WORDS, Word
from rtsep.live.jack import libjack
from rtsep.live.ringbuf import HEADER_WORDS, READ_POS, WRITE_POS, copy_in, copy_out, \
    pop_begin, push_begin

# context layout (int64 words)
X_CTL = 0                                  # control array (N_WORDS words): address
X_IN_HDR, X_IN_DATA, X_IN_CAP = 1, 2, 3    # input ring (header, data, capacity)
X_OUT_HDR, X_OUT_DATA, X_OUT_CAP = 4, 5, 6  # output ring
X_CLIENT = 7                               # jack_client_t *
X_N_IN, X_N_OUT = 8, 9                     # port counts
X_PORTS = 10                               # n_in input ports, then n_out output ports
MAX_PORTS = 32
X_MIDI_PORT = X_PORTS + MAX_PORTS          # jack_port_t * of midi_in (0: none)
X_MIDI_RING = X_MIDI_PORT + 1              # the MIDI ring's int64 words: address
X_MIDI_EVENT = X_MIDI_PORT + 2             # 3 words: a jack_midi_event_t to fill
CONTEXT_WORDS = X_MIDI_EVENT + 3

MIDI_CAPACITY = 256
"""Messages the MIDI ring holds (a controller sends far fewer per JACK cycle)."""
MIDI_W, MIDI_R, MIDI_LOST = 0, 1, 2        # ring header: write and read counts, dropped
MIDI_HEADER = 4
MIDI_RING = MIDI_HEADER + MIDI_CAPACITY
"""int64 words of a MIDI ring: header, then the packed messages."""

# the control words this callback writes, as compile-time constants
_CYCLES, _UNDERRUNS, _MISSING = int(Word.CYCLES), int(Word.UNDERRUNS), int(Word.MISSING)
_CB_MAX, _CB_SLOW, _FIRST_FRAME = int(Word.CB_MAX), int(Word.CB_SLOW), int(Word.FIRST_FRAME)


def _pointer_intrinsic(dtype):
    """An intrinsic that turns an integer address into a pointer to ``dtype``."""

    @intrinsic
    def as_pointer(typingctx, addr):
        if not isinstance(addr, types.Integer):
            return None
        sig = types.CPointer(dtype)(addr)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    return as_pointer


_i64_ptr = _pointer_intrinsic(types.int64)
"""An integer address as ``int64 *``."""
_f32_ptr = _pointer_intrinsic(types.float32)
"""An integer address as ``float *``."""
_u8_ptr = _pointer_intrinsic(types.uint8)
"""An integer address as ``unsigned char *``."""


@intrinsic
def _store_fence(typingctx):
    """A release fence: earlier stores become visible before later ones."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("release")
        return context.get_dummy_value()

    return sig, codegen


_compiled = None


def process_callback():
    """The compiled callback: ``(address of the C function, its libjack functions, the cfunc)``.

    Compiled once per process (about a second; it cannot be cached on disk because
    it embeds libjack's function addresses).
    """
    global _compiled
    if _compiled is not None:
        return _compiled
    rt_functions = libjack.realtime_functions()
    get_buffer, last_frame_time, frames_since, midi_count, midi_get = rt_functions

    # int process(jack_nframes_t nframes, void *arg); the pointer arrives as uintp
    @cfunc(types.int32(types.uint32, types.uintp), nopython=True, error_model="numpy")
    def process(nframes, arg):
        n = np.int64(nframes)
        ctx = carray(_i64_ptr(arg), (CONTEXT_WORDS,))
        ctl = carray(_i64_ptr(ctx[X_CTL]), (N_WORDS,))
        client = np.uint64(ctx[X_CLIENT])
        n_in = ctx[X_N_IN]
        n_out = ctx[X_N_OUT]
        if ctl[_CYCLES] == 0:
            ctl[_FIRST_FRAME] = np.int64(last_frame_time(client))
        if n_in > 0:
            hdr = carray(_i64_ptr(ctx[X_IN_HDR]), (HEADER_WORDS,))
            cap = ctx[X_IN_CAP]
            data = carray(_f32_ptr(ctx[X_IN_DATA]), (n_in, cap))
            w = push_begin(hdr, cap, n)
            if w >= 0:
                for c in range(n_in):
                    src = carray(_f32_ptr(get_buffer(np.uint64(ctx[X_PORTS + c]), nframes)), (n,))
                    copy_in(data, c, w, src, n)
                _store_fence()
                hdr[WRITE_POS] = w + n
        if n_out > 0:
            hdr = carray(_i64_ptr(ctx[X_OUT_HDR]), (HEADER_WORDS,))
            cap = ctx[X_OUT_CAP]
            data = carray(_f32_ptr(ctx[X_OUT_DATA]), (n_out, cap))
            r, m = pop_begin(hdr, n)
            for c in range(n_out):
                port = np.uint64(ctx[X_PORTS + n_in + c])
                dst = carray(_f32_ptr(get_buffer(port, nframes)), (n,))
                copy_out(data, c, r, dst, m, n)
            _store_fence()
            hdr[READ_POS] = r + n
            if m < n:
                ctl[_UNDERRUNS] += 1
                ctl[_MISSING] += n - m
        mport = ctx[X_MIDI_PORT]
        if mport != 0:
            mring = carray(_i64_ptr(ctx[X_MIDI_RING]), (MIDI_RING,))
            mbuf = get_buffer(np.uint64(mport), nframes)
            n_ev = np.int64(midi_count(mbuf))
            event = np.uint64(arg) + np.uint64(8 * X_MIDI_EVENT)
            for i in range(n_ev):
                if midi_get(event, mbuf, np.uint32(i)) != 0:
                    continue
                size = ctx[X_MIDI_EVENT + 1]
                if size < 1 or size > 3:
                    continue  # sysex and the like: not ours
                data = carray(_u8_ptr(ctx[X_MIDI_EVENT + 2]), (size,))
                word = np.int64(data[0])
                if size > 1:
                    word |= np.int64(data[1]) << 8
                if size > 2:
                    word |= np.int64(data[2]) << 16
                w = mring[MIDI_W]
                if w - mring[MIDI_R] >= MIDI_CAPACITY:
                    mring[MIDI_LOST] += 1
                    continue
                mring[MIDI_HEADER + w % MIDI_CAPACITY] = word
                _store_fence()
                mring[MIDI_W] = w + 1
        ctl[_CYCLES] += 1
        end = np.int64(frames_since(client))
        if end > ctl[_CB_MAX]:
            ctl[_CB_MAX] = end
        if 2 * end > n:
            ctl[_CB_SLOW] += 1
        return 0

    _compiled = (process.address, rt_functions, process)
    return _compiled


def address_of(array: np.ndarray) -> int:
    """Address of a numpy array's first element."""
    return int(array.ctypes.data)


def build_context(ctl: np.ndarray, client_ptr: int, in_ring=None, in_ports=(),
                  out_ring=None, out_ports=(), midi_port: int = 0,
                  midi_ring: np.ndarray | None = None) -> np.ndarray:
    """The context array the callback reads (keep it alive while the client is active).

    Parameters
    ----------
    ctl : np.ndarray [shape=(N_WORDS,), dtype=int64]
        Control words (:class:`rtsep.live.control.Word`); the callback writes its counters.
    client_ptr : int
        ``jack_client_t *`` as an integer.
    in_ring, out_ring : rtsep.live.ringbuf.SampleRing, optional
        With one channel per port of ``in_ports`` / ``out_ports``.
    in_ports, out_ports : sequence of int
        ``jack_port_t *`` as integers.
    midi_port : int
        ``jack_port_t *`` of a MIDI input port (0: none).
    midi_ring : np.ndarray [shape=(MIDI_RING,), dtype=int64], optional
        Where its messages go (required with ``midi_port``).

    Returns
    -------
    np.ndarray [shape=(CONTEXT_WORDS,), dtype=int64]
    """
    if len(in_ports) + len(out_ports) > MAX_PORTS:
        raise ValueError(f"at most {MAX_PORTS} ports")
    for ring, ports in ((in_ring, in_ports), (out_ring, out_ports)):
        if ports and (ring is None or ring.channels != len(ports)):
            raise ValueError("each ring needs one channel per port")
    if ctl.dtype != np.int64 or not ctl.flags.c_contiguous or ctl.shape != (N_WORDS,):
        raise ValueError(f"ctl must be a contiguous int64 array of {N_WORDS} control words")
    ctx = np.zeros(CONTEXT_WORDS, np.int64)
    ctx[X_CTL] = address_of(ctl)
    if in_ring is not None:
        ctx[X_IN_HDR], ctx[X_IN_DATA] = address_of(in_ring.header), address_of(in_ring.data)
        ctx[X_IN_CAP] = in_ring.capacity
    if out_ring is not None:
        ctx[X_OUT_HDR], ctx[X_OUT_DATA] = address_of(out_ring.header), address_of(out_ring.data)
        ctx[X_OUT_CAP] = out_ring.capacity
    ctx[X_CLIENT] = int(client_ptr)
    ctx[X_N_IN], ctx[X_N_OUT] = len(in_ports), len(out_ports)
    ports = list(in_ports) + list(out_ports)
    ctx[X_PORTS:X_PORTS + len(ports)] = ports
    if midi_port:
        if (midi_ring is None or midi_ring.dtype != np.int64 or midi_ring.shape != (MIDI_RING,)
                or not midi_ring.flags.c_contiguous):
            raise ValueError(f"a MIDI port needs a contiguous int64 ring of {MIDI_RING} words")
        ctx[X_MIDI_PORT], ctx[X_MIDI_RING] = int(midi_port), address_of(midi_ring)
    return ctx


def set_process_callback(client, context: np.ndarray) -> None:
    """Register the native callback on a ``jack.Client`` (before ``activate()``)."""
    libjack.set_process_callback(client, process_callback()[0], address_of(context))


def client_address(client) -> int:
    """``jack.Client`` -> its ``jack_client_t *`` as an integer."""
    return libjack.address(libjack.client_pointer(client))


def port_address(port) -> int:
    """``jack.Port`` -> its ``jack_port_t *`` as an integer."""
    return libjack.address(libjack.port_pointer(port))
