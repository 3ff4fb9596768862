"""External tools and data the synthesiser needs, found once and checked.

Everything here comes from Debian packages (see ``bootstrap.sh``):

- ``fluidsynth`` (the CLI renders the General MIDI parts),
- ``fluid-soundfont-gm`` (``FluidR3_GM.sf2``),
- ``espeak-ng`` (the syllables the singer is built from),
- ``sonic-pi-samples`` (CC0 recorded drum one-shots and loops).

Paths can be overridden with environment variables (``RTSEP_SOUNDFONT``,
``RTSEP_SONIC_PI_SAMPLES``, ``RTSEP_FLUIDSYNTH``, ``RTSEP_ESPEAK``); other
resources give other audio, so a dataset's manifest records which were used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rtsep.errors import RtsepError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
SAMPLES_CANDIDATES = (
    "/usr/share/sonic-pi/samples",
    "/usr/lib/sonic-pi/etc/samples",
    "/opt/sonic-pi/etc/samples",
)
# A few files every usable sonic-pi sample folder has (checked, not assumed).
REQUIRED_SAMPLES = ("bd_haus.flac", "sn_dolf.flac", "drum_cymbal_closed.flac", "loop_amen.flac")


class MissingToolError(RtsepError):
    """A program or data package the synthesiser needs is not installed."""


@dataclass(frozen=True)
class Resources:
    """Absolute paths of the external programs and data files."""

    fluidsynth: str
    soundfont: str
    espeak: str
    samples_dir: str

    def to_dict(self) -> dict:
        return {
            "fluidsynth": self.fluidsynth,
            "soundfont": self.soundfont,
            "espeak": self.espeak,
            "samples_dir": self.samples_dir,
        }


def _program(env: str, name: str, package: str) -> str:
    path = os.environ.get(env) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise MissingToolError(
            f"'{name}' was not found on PATH (or ${env} is not executable); "
            f"install the Debian package '{package}' (sudo apt-get install {package}, "
            "or run bootstrap.sh)"
        )
    return str(Path(path).resolve())


def _first_existing(env: str, candidates: tuple[str, ...], what: str, package: str) -> str:
    override = os.environ.get(env)
    paths = (override,) if override else candidates
    for path in paths:
        if path and os.path.exists(path):
            return str(Path(path).resolve())
    looked = ", ".join(p for p in paths if p)
    raise MissingToolError(
        f"{what} not found (looked at: {looked}); install the Debian package "
        f"'{package}' or point ${env} at it"
    )


def find_resources() -> Resources:
    """Locate every external resource, or raise :class:`MissingToolError`.

    Returns
    -------
    Resources
        Absolute paths, checked to exist.
    """
    fluidsynth = _program("RTSEP_FLUIDSYNTH", "fluidsynth", "fluidsynth")
    espeak = _program("RTSEP_ESPEAK", "espeak-ng", "espeak-ng")
    soundfont = _first_existing(
        "RTSEP_SOUNDFONT", SOUNDFONT_CANDIDATES, "General MIDI soundfont", "fluid-soundfont-gm"
    )
    samples_dir = _first_existing(
        "RTSEP_SONIC_PI_SAMPLES", SAMPLES_CANDIDATES, "sonic-pi sample folder", "sonic-pi-samples"
    )
    missing = [f for f in REQUIRED_SAMPLES if not os.path.exists(os.path.join(samples_dir, f))]
    if missing:
        raise MissingToolError(
            f"the sonic-pi sample folder {samples_dir} lacks {', '.join(missing)}; "
            "reinstall the Debian package 'sonic-pi-samples'"
        )
    return Resources(fluidsynth=fluidsynth, soundfont=soundfont, espeak=espeak, samples_dir=samples_dir)


def run_tool(cmd: list[str], output_path: str, *, timeout_s: float, error: type[RtsepError],
             what: str) -> None:
    """Run an external renderer that must write ``output_path``.

    Raises ``error`` (an RtsepError subclass) naming ``what`` when the program cannot
    run, times out, fails, or writes nothing; the end of its stderr is in the message.
    """
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{what} could not run ({exc}); check that it works: {' '.join(cmd)}") from exc
    if proc.returncode != 0 or not os.path.exists(output_path):
        raise error(f"{what} failed with exit code {proc.returncode}: {proc.stderr.strip()[-400:]}")

