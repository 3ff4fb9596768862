"""Shared fixtures: a private JACK server with the dummy backend, a private PipeWire.

Tests marked ``jack`` use :func:`jack_server` (period 256) or
:func:`jack_server_factory` (any period). Each server has a private name
(``rtsep-test-<n>``, n cycling over a few values so that JACK reclaims the registry
slot of a killed test server by its name), so tests never touch a user's JACK server,
runs without realtime scheduling (unless a test asks for it), and is stopped at the end. Before any client opens,
dead servers are cleared from JACK's 8-slot registry when no jackd runs.

When ``jackd`` is not installed the tests are skipped with the reason; set
``RTSEP_REQUIRE_JACK=1`` (as CI does) to make that a failure instead. The same holds
for PipeWire (:func:`pipewire_factory`) with ``RTSEP_REQUIRE_PIPEWIRE=1`` and for the
LV2 tools (:func:`lv2_bundle`) with ``RTSEP_REQUIRE_LV2=1``.
"""

from __future__ import annotations

import itertools
import os

import pytest

from rtsep.live.jack.server import DummyServer, PipeWireServer, clear_dead_servers, jackd_path

_counter = itertools.count()
N_NAMES = 4
"""Test servers cycle over this many names (at most this many run at once)."""


def pytest_configure(config):
    clear_dead_servers()  # before this process maps JACK's registry


def _missing(msg: str, require_env: str):
    """Skip the test for a missing system tool, or fail it when ``require_env`` is 1 (CI)."""
    if os.environ.get(require_env) == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _need_jackd():
    if jackd_path() is None:
        _missing("jackd not found: the JACK tests need JACK 2 "
                 "(Debian/Ubuntu: apt-get install jackd2)", "RTSEP_REQUIRE_JACK")


@pytest.fixture
def jack_server_factory(tmp_path):
    """Start private dummy-backend servers:
    ``factory(period=256, rate=44100, sync=True, realtime=False)``.

    Returns a callable that starts a :class:`rtsep.live.jack.server.DummyServer` and
    returns it (``.name`` is the server name to pass as ``servername``); all of
    them are stopped at teardown. Servers run in synchronous mode (``-S``) by
    default: the server waits for every client each cycle, so a client that runs
    late on a loaded machine cannot read the next cycle's frame time (which would
    put frame-time-aligned measurements a period off).
    """
    _need_jackd()
    servers: list[DummyServer] = []

    def start(period: int = 256, rate: int = 44100, sync: bool = True,
              realtime: bool = False) -> DummyServer:
        name = f"rtsep-test-{next(_counter) % N_NAMES}"
        srv = DummyServer(name, period=period, rate=rate, sync=sync, realtime=realtime,
                          log_path=str(tmp_path / f"{name}.log"))
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def jack_server(jack_server_factory) -> DummyServer:
    """A private dummy-backend JACK server at 44.1 kHz, period 256."""
    return jack_server_factory(256)


@pytest.fixture
def pipewire_factory(tmp_path):
    """Start private headless PipeWire daemons: ``factory(rate=48000, quantum=256)``.

    Each has its own ``XDG_RUNTIME_DIR``; its JACK clients are processes started with
    ``srv.env()`` under ``pw-jack`` (``srv.command(argv)``). Stopped at teardown.
    """
    missing = PipeWireServer.missing()
    if missing:
        _missing(f"PipeWire not found ({', '.join(missing)}): the PipeWire tests need "
                 "pipewire, pipewire-bin and pipewire-jack", "RTSEP_REQUIRE_PIPEWIRE")
    servers: list[PipeWireServer] = []

    def start(rate: int = 48000, quantum: int = 256) -> PipeWireServer:
        srv = PipeWireServer(rate=rate, quantum=quantum,
                             log_path=str(tmp_path / f"pipewire-{len(servers)}.log"))
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="session")
def lv2_bundle(tmp_path_factory):
    """The ``rtsep.lv2`` bundle, built from this checkout's source (needs a C compiler,
    ``lv2-dev``, and the hosts the tests use: ``jalv``, ``lv2apply``, ``lv2info``)."""
    import shutil

    from rtsep.bridge.plugin import build_bundle, missing_build_tools

    missing = [t for t in ("jalv", "lv2apply", "lv2info") if shutil.which(t) is None]
    missing += missing_build_tools()
    if missing:
        _missing(f"LV2 tools missing ({', '.join(missing)}): the bridge tests need "
                 "lv2-dev jalv lilv-utils gcc libc6-dev", "RTSEP_REQUIRE_LV2")

    return build_bundle(tmp_path_factory.mktemp("lv2"))
