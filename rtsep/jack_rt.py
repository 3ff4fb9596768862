"""The live client's JACK process callback in native code: no GIL, no allocation.

JACK-Client calls a *Python* process callback, which must take the interpreter's
GIL in JACK's realtime thread. Any other Python thread of the process that holds
the GIL (the main thread, a status printer, the garbage collector, another Python
JACK client in the same process) then delays the realtime thread: a priority
inversion that shows up as xruns and late cycles. Here the callback is a Numba
``cfunc`` (machine code with a C signature) registered with
``jack_set_process_callback`` directly. It never touches the interpreter: it reads
its port pointers and ring addresses from a preallocated int64 *context* array, asks
libjack for the port buffers (``jack_port_get_buffer``, through ctypes, which Numba
calls natively) and copies between them and the rings with the kernels of
:mod:`rtsep.ringbuf`.

Per cycle of ``n`` frames it

1. stores the cycle's JACK frame time as the stream origin on the first cycle;
2. pushes the input ports into the input ring (ring full: nothing written, ``n``
   frames counted as lost in the ring header);
3. pops ``n`` frames of the output ring into the output ports (missing frames are
   silence; the read position always advances), counting underruns and missing
   frames;
4. counts the cycle and records how far into the period it finished.

The counters are words of the shared control array (``ctl``) whose indices the
caller passes in the context; each has this callback as its only writer. A store
fence orders the ring data before the position that publishes it.

The context array and everything it points to must outlive the client's activation.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
from numba import carray, cfunc, types
from numba.extending import intrinsic

from rtsep.errors import JackError
from rtsep.ringbuf import HEADER_WORDS, READ_POS, WRITE_POS, copy_in, copy_out, pop_begin, \
    push_begin

# context layout (int64 words)
X_CTL, X_N_CTL = 0, 1                      # control array: address, length
X_IN_HDR, X_IN_DATA, X_IN_CAP = 2, 3, 4    # input ring (header, data, capacity)
X_OUT_HDR, X_OUT_DATA, X_OUT_CAP = 5, 6, 7  # output ring
X_CLIENT = 8                               # jack_client_t *
X_N_IN, X_N_OUT = 9, 10                    # port counts
# indices into ctl of the counters this callback writes
X_C_CYCLES, X_C_UNDERRUNS, X_C_MISSING, X_C_CB_MAX, X_C_CB_SLOW, X_C_FIRST_FRAME = range(11, 17)
X_PORTS = 17                               # n_in input ports, then n_out output ports
MAX_PORTS = 32
CONTEXT_WORDS = X_PORTS + MAX_PORTS


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


@intrinsic
def _store_fence(typingctx):
    """A release fence: earlier stores become visible before later ones."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("release")
        return context.get_dummy_value()

    return sig, codegen


_compiled = None


def _libjack_ctypes():
    name = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib = ctypes.CDLL(name)  # a private handle: its function objects are ours
    except OSError as exc:
        raise JackError(f"cannot load the JACK library ({name}): {exc}; "
                        "install it (Debian/Ubuntu: apt-get install libjack-jackd2-0)") from exc
    # pointers travel as unsigned longs (same ABI as void * on Linux)
    get_buffer = lib.jack_port_get_buffer
    get_buffer.argtypes = [ctypes.c_ulong, ctypes.c_uint]
    get_buffer.restype = ctypes.c_ulong
    last_frame_time = lib.jack_last_frame_time
    last_frame_time.argtypes = [ctypes.c_ulong]
    last_frame_time.restype = ctypes.c_uint
    frames_since = lib.jack_frames_since_cycle_start
    frames_since.argtypes = [ctypes.c_ulong]
    frames_since.restype = ctypes.c_uint
    return lib, get_buffer, last_frame_time, frames_since


def process_callback():
    """The compiled callback: ``(address of the C function, libjack handle)``.

    Compiled once per process (about a second; it cannot be cached on disk because
    it embeds libjack's function addresses).
    """
    global _compiled
    if _compiled is not None:
        return _compiled
    lib, get_buffer, last_frame_time, frames_since = _libjack_ctypes()

    # int process(jack_nframes_t nframes, void *arg); the pointer arrives as uintp
    @cfunc(types.int32(types.uint32, types.uintp), nopython=True, error_model="numpy")
    def process(nframes, arg):
        n = np.int64(nframes)
        ctx = carray(_i64_ptr(arg), (CONTEXT_WORDS,))
        ctl = carray(_i64_ptr(ctx[X_CTL]), (ctx[X_N_CTL],))
        client = np.uint64(ctx[X_CLIENT])
        n_in = ctx[X_N_IN]
        n_out = ctx[X_N_OUT]
        if ctl[ctx[X_C_CYCLES]] == 0:
            ctl[ctx[X_C_FIRST_FRAME]] = np.int64(last_frame_time(client))
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
                ctl[ctx[X_C_UNDERRUNS]] += 1
                ctl[ctx[X_C_MISSING]] += n - m
        ctl[ctx[X_C_CYCLES]] += 1
        end = np.int64(frames_since(client))
        if end > ctl[ctx[X_C_CB_MAX]]:
            ctl[ctx[X_C_CB_MAX]] = end
        if 2 * end > n:
            ctl[ctx[X_C_CB_SLOW]] += 1
        return 0

    _compiled = (process.address, lib, process)
    return _compiled


def address_of(array: np.ndarray) -> int:
    """Address of a numpy array's first element."""
    return int(array.ctypes.data)


def build_context(ctl: np.ndarray, counters: dict, client_ptr: int, in_ring=None, in_ports=(),
                  out_ring=None, out_ports=()) -> np.ndarray:
    """The context array the callback reads (keep it alive while the client is active).

    Parameters
    ----------
    ctl : np.ndarray [shape=(N,), dtype=int64]
        Control words; the callback writes the counters named in ``counters``.
    counters : dict
        Indices into ``ctl`` for ``cycles``, ``underruns``, ``missing``, ``cb_max``,
        ``cb_slow`` and ``first_frame``.
    client_ptr : int
        ``jack_client_t *`` as an integer.
    in_ring, out_ring : rtsep.ringbuf.SampleRing, optional
        With one channel per port of ``in_ports`` / ``out_ports``.
    in_ports, out_ports : sequence of int
        ``jack_port_t *`` as integers.

    Returns
    -------
    np.ndarray [shape=(CONTEXT_WORDS,), dtype=int64]
    """
    if len(in_ports) + len(out_ports) > MAX_PORTS:
        raise ValueError(f"at most {MAX_PORTS} ports")
    for ring, ports in ((in_ring, in_ports), (out_ring, out_ports)):
        if ports and (ring is None or ring.channels != len(ports)):
            raise ValueError("each ring needs one channel per port")
    if ctl.dtype != np.int64 or not ctl.flags.c_contiguous:
        raise ValueError("ctl must be a contiguous int64 array")
    ctx = np.zeros(CONTEXT_WORDS, np.int64)
    ctx[X_CTL], ctx[X_N_CTL] = address_of(ctl), ctl.shape[0]
    if in_ring is not None:
        ctx[X_IN_HDR], ctx[X_IN_DATA] = address_of(in_ring.header), address_of(in_ring.data)
        ctx[X_IN_CAP] = in_ring.capacity
    if out_ring is not None:
        ctx[X_OUT_HDR], ctx[X_OUT_DATA] = address_of(out_ring.header), address_of(out_ring.data)
        ctx[X_OUT_CAP] = out_ring.capacity
    ctx[X_CLIENT] = int(client_ptr)
    ctx[X_N_IN], ctx[X_N_OUT] = len(in_ports), len(out_ports)
    for key, slot in (("cycles", X_C_CYCLES), ("underruns", X_C_UNDERRUNS),
                      ("missing", X_C_MISSING), ("cb_max", X_C_CB_MAX),
                      ("cb_slow", X_C_CB_SLOW), ("first_frame", X_C_FIRST_FRAME)):
        ctx[slot] = int(counters[key])
    ports = list(in_ports) + list(out_ports)
    ctx[X_PORTS:X_PORTS + len(ports)] = ports
    return ctx


def set_process_callback(client, context: np.ndarray) -> None:
    """Register the native callback on a ``jack.Client`` (before ``activate()``)."""
    from rtsep.jack_latency import _client_ptr, _ffi, _libjack

    address = process_callback()[0]
    cb = _ffi.cast("JackProcessCallback", address)
    err = _libjack().jack_set_process_callback(_client_ptr(client), cb,
                                               _ffi.cast("void *", address_of(context)))
    if err:
        raise JackError(f"jack_set_process_callback failed (error {err}); "
                        "it must be called before the client is activated")


def client_address(client) -> int:
    """``jack.Client`` -> its ``jack_client_t *`` as an integer."""
    from rtsep.jack_latency import _client_ptr, _ffi

    return int(_ffi.cast("uintptr_t", _client_ptr(client)))


def port_address(port) -> int:
    """``jack.Port`` -> its ``jack_port_t *`` as an integer."""
    from rtsep.jack_latency import _ffi, _port_ptr

    return int(_ffi.cast("uintptr_t", _port_ptr(port)))
