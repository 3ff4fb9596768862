"""The one binding to libjack for what JACK-Client (``jack``) does not wrap (cffi, ABI mode).

Declared here, and nowhere else:

- ``jack_client_real_time_priority`` (the worker's priority is chosen below it);
- the latency API (``jack_set_latency_callback``, ``jack_port_set_latency_range``,
  ``jack_port_get_latency_range``, ``jack_recompute_total_latencies``), used by
  :mod:`rtsep.live.jack.latency`;
- ``jack_set_process_callback`` with a native function pointer, and the functions
  the native process callback calls in JACK's realtime thread
  (``jack_port_get_buffer``, ``jack_last_frame_time``,
  ``jack_frames_since_cycle_start``, and for the MIDI input
  ``jack_midi_get_event_count``, ``jack_midi_event_get``), used by
  :mod:`rtsep.live.jack.callback`.

The library is opened once (``libjack.so.0``, the one JACK-Client uses). JACK-Client's
objects carry their C pointers (``client._ptr``, ``port._ptr``) as cdata of *its* FFI;
they come to this FFI through their integer address.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import cffi

from rtsep.errors import JackError

_CDEF = """
typedef uint32_t jack_nframes_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef enum { JackCaptureLatency, JackPlaybackLatency } jack_latency_callback_mode_t;
typedef struct { jack_nframes_t min; jack_nframes_t max; } jack_latency_range_t;
typedef void (*JackLatencyCallback)(jack_latency_callback_mode_t mode, void *arg);
int jack_set_latency_callback(jack_client_t *client, JackLatencyCallback cb, void *arg);
void jack_port_set_latency_range(jack_port_t *port, jack_latency_callback_mode_t mode,
                                 jack_latency_range_t *range);
void jack_port_get_latency_range(jack_port_t *port, jack_latency_callback_mode_t mode,
                                 jack_latency_range_t *range);
int jack_recompute_total_latencies(jack_client_t *client);
typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
int jack_set_process_callback(jack_client_t *client, JackProcessCallback cb, void *arg);
void *jack_port_get_buffer(jack_port_t *port, jack_nframes_t nframes);
jack_nframes_t jack_last_frame_time(const jack_client_t *client);
jack_nframes_t jack_frames_since_cycle_start(const jack_client_t *client);
uint32_t jack_midi_get_event_count(void *port_buffer);
typedef struct { jack_nframes_t time; size_t size; unsigned char *buffer; } jack_midi_event_t;
int jack_midi_event_get(jack_midi_event_t *event, void *port_buffer, uint32_t event_index);
int jack_client_real_time_priority(jack_client_t *client);
"""

ffi = cffi.FFI()
ffi.cdef(_CDEF)
_lib = None


def lib():
    """The library, opened on first use (raises :class:`~rtsep.errors.JackError`)."""
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("jack") or "libjack.so.0"
        try:
            _lib = ffi.dlopen(name)
        except OSError as exc:
            raise JackError(f"cannot load the JACK library ({name}): {exc}; "
                            "install it (Debian/Ubuntu: apt-get install libjack-jackd2-0)") from exc
    return _lib


def client_pointer(client):
    """``jack.Client`` -> ``jack_client_t *`` of this FFI (JackError when it is closed)."""
    import jack  # JACK-Client; its FFI owns the pointer

    addr = int(jack._ffi.cast("uintptr_t", client._ptr))
    if not addr:
        raise JackError("the JACK client is closed")
    return ffi.cast("jack_client_t *", addr)


def port_pointer(port):
    """``jack.Port`` -> ``jack_port_t *`` of this FFI."""
    import jack

    addr = int(jack._ffi.cast("uintptr_t", port._ptr))
    if not addr:
        raise JackError(f"JACK port {getattr(port, 'name', port)!r} has no pointer")
    return ffi.cast("jack_port_t *", addr)


def address(pointer) -> int:
    """A cdata pointer of this FFI as an integer."""
    return int(ffi.cast("uintptr_t", pointer))


def realtime_priority(client) -> int:
    """The SCHED_FIFO priority of ``client``'s process thread, or -1 when the server does
    not run its clients in realtime (``jackd`` without ``-R``)."""
    return int(lib().jack_client_real_time_priority(client_pointer(client)))


def realtime_functions():
    """``(port_get_buffer, last_frame_time, frames_since_cycle_start,
    midi_get_event_count, midi_event_get)`` for native code.

    ctypes function objects at the library's own addresses (Numba compiles calls to
    ctypes functions into direct calls; no second handle of the library is opened).
    Pointers travel as unsigned longs, the same ABI as ``void *`` on Linux.
    """
    handle = lib()

    def at(name, restype, *argtypes):
        return ctypes.CFUNCTYPE(restype, *argtypes)(address(ffi.addressof(handle, name)))

    return (at("jack_port_get_buffer", ctypes.c_ulong, ctypes.c_ulong, ctypes.c_uint),
            at("jack_last_frame_time", ctypes.c_uint, ctypes.c_ulong),
            at("jack_frames_since_cycle_start", ctypes.c_uint, ctypes.c_ulong),
            at("jack_midi_get_event_count", ctypes.c_uint, ctypes.c_ulong),
            at("jack_midi_event_get", ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_uint))


def set_process_callback(client, function_address: int, arg_address: int) -> None:
    """Register the native function at ``function_address`` as ``client``'s process callback.

    Parameters
    ----------
    client : jack.Client
        Not yet activated.
    function_address : int
        ``int process(jack_nframes_t nframes, void *arg)``.
    arg_address : int
        The ``arg`` it receives every cycle.
    """
    cb = ffi.cast("JackProcessCallback", function_address)
    err = lib().jack_set_process_callback(client_pointer(client), cb,
                                          ffi.cast("void *", arg_address))
    if err:
        raise JackError(f"jack_set_process_callback failed (error {err}); "
                        "it must be called before the client is activated")
