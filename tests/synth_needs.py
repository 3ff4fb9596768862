"""What the synth tests need: the tools (fluidsynth, espeak-ng, ...) and Debian packages
of real recordings; skipped, or failed where CI must have them (``RTSEP_REQUIRE_SYNTH=1``
for the tools and ``sources.CI_PACKAGES``, ``RTSEP_REQUIRE_SYNTH_DATA=1`` for the large
packages of ``bash bootstrap.sh data``)."""

from __future__ import annotations

import os

import pytest


def need_synth(*packages: str) -> None:
    from rtsep.training.synth import sources
    from rtsep.training.synth.resources import MissingToolError, find_resources

    try:
        find_resources()
    except MissingToolError as exc:
        if os.environ.get("RTSEP_REQUIRE_SYNTH") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    missing = [p for p in packages if not sources.installed(p)]
    if not missing:
        return
    msg = f"Debian package(s) {', '.join(missing)} not installed"
    in_ci = [p for p in missing if p in sources.CI_PACKAGES]
    if in_ci and os.environ.get("RTSEP_REQUIRE_SYNTH") == "1":
        pytest.fail(msg + " (bootstrap.sh installs them)")
    if not in_ci and os.environ.get("RTSEP_REQUIRE_SYNTH_DATA") == "1":
        pytest.fail(msg + " (bash bootstrap.sh data installs them)")
    pytest.skip(msg)
