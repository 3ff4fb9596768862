"""The real recordings the generator reads, and their licences: the source inventory.

Every recorded source comes from a Debian package, read where Debian installs it
(nothing is copied into the repository). :data:`PACKAGES` names each package, what it
gives (``kind``), and the licence of its audio as its copyright file states it. At run
time :func:`inventory` lists the installed packages, their audio files, minutes of audio,
and each file's licence, parsed from the package's own ``/usr/share/doc/PKG/copyright``
(machine-readable DEP-5 ``Files:`` paragraphs where the file has them; the licence read
by hand from the prose copyright file otherwise, marked as such).

``rtsep synth --inventory FILE`` writes it as JSON; every song's manifest lists the
files it used (``"sources"``: path, package, licence).

Sets of packages (``bootstrap.sh`` installs them):

- :data:`CI_PACKAGES` — small packages CI installs so the tests cover every source kind;
- :data:`DATA_PACKAGES` — everything, for generating training data
  (``bash bootstrap.sh data``).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import subprocess
from dataclasses import dataclass

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".sf2")
DPKG_INFO = "/var/lib/dpkg/info"
DOC_DIR = "/usr/share/doc"


@dataclass(frozen=True)
class Package:
    """A Debian package of recordings.

    kind : "voice", "drums", "instrument", "ir", "accompaniment" or "base"
    licence : the licence of its audio as read (by hand) from its copyright file; used
        for files no machine-readable ``Files:`` paragraph covers
    under : only files under these installed folders count (audio of other kinds, such
        as game sound effects, is left out)
    """

    name: str
    kind: str
    licence: str
    under: tuple[str, ...] = ("/usr/share",)
    note: str = ""


PACKAGES: tuple[Package, ...] = (
    # the generator's first sources (CI has them)
    Package("fluid-soundfont-gm", "instrument", "MIT", ("/usr/share/sounds/sf2",),
            "FluidR3 General MIDI soundfont"),
    Package("sonic-pi-samples", "drums", "CC0-1.0", ("/usr/share/sonic-pi/samples",),
            "one-shots, loops, ambi_choir (sung vowels)"),
    # voices: real speech, re-sung
    Package("klettres-data", "voice", "GPL-2+", ("/usr/share/klettres",),
            "spoken syllables and letters, 20+ languages, 44.1 kHz"),
    Package("ktuberling-data", "voice", "GPL-2+", ("/usr/share/ktuberling/sounds",),
            "spoken words, 25 languages"),
    Package("fillets-ng-data-cs", "voice", "GPL-2", ("/usr/share/games/fillets-ng/sound",),
            "acted Czech dialogue, many actors (copyright file: GPL version 2)"),
    Package("fillets-ng-data-nl", "voice", "GPL-2", ("/usr/share/games/fillets-ng/sound",),
            "acted Dutch dialogue, many actors (copyright file: GPL version 2)"),
    Package("festvox-ru", "voice", "BSD-like", ("/usr/share/festival/voices/russian",),
            "620 read Russian sentences, one male speaker, 16 kHz"),
    # drums
    Package("hydrogen-data", "drums", "GPL-2+", ("/usr/share/hydrogen/data/drumkits",),
            "GMRockKit (real 5-layer kit), TR808 emulation"),
    Package("hydrogen-drumkits", "drums", "GPL-2", ("/usr/share/hydrogen/data/drumkits",),
            "14 Hydrogen kits; licence per kit from the copyright file"),
    Package("avldrums.lv2-soundfont", "drums", "CC-BY-SA-3.0", ("/usr/share/sounds/sf2",),
            "AVL Black Pearl and Red Zeppelin kits (SF2, velocity layers)"),
    # instruments and responses
    Package("hydrogen-drumkits-effects", "instrument", "CC-BY-3.0",
            ("/usr/share/hydrogen/data/drumkits/belofilms_GuitarStrums",),
            "real acoustic-guitar strums (belofilms), 96 kHz"),
    Package("guitarix-common", "ir", "GPL-2+", ("/usr/share/gx_head/sounds",),
            "amp/cabinet and guitar-tone impulse responses, a hall"),
    Package("musescore-general-soundfont-lossless", "instrument", "MIT",
            ("/usr/share/sounds/sf2",),
            "MuseScore General soundfont (MIT; parts public domain or CC0)"),
    # real instrumental music (accompaniment)
    Package("wesnoth-1.16-music", "accompaniment", "GPL-2+",
            ("/usr/share/games/wesnoth/1.16/data/core/music",), "orchestral"),
    Package("supertux-data", "accompaniment", "GPL-2+", ("/usr/share/games/supertux2/music",),
            "chiptune, electronic, orchestral"),
    Package("warzone2100-music", "accompaniment", "GPL-2+", ("/usr/share/games/warzone2100/music",),
            "electronic, ambient, rock"),
    Package("singularity-music", "accompaniment", "CC-BY-SA-3.0",
            ("/usr/share/games/singularity/music",), "electronic (Psycle/Renoise)"),
    Package("hyperrogue-music", "accompaniment", "GPL-2+", ("/usr/share/hyperrogue/music",),
            "orchestral, ambient"),
    Package("asc-music", "accompaniment", "GPL-2+", ("/usr/share/games/asc/music",), "rock"),
    Package("hedgewars-data", "accompaniment", "GPL-2", ("/usr/share/games/hedgewars/Data/Music",),
            "orchestral, world, rock (Data/Music only: its Sounds/voices are speech); "
            "held out by default"),
    # real instrumental music of a second survey (``rtsep synth --music all`` draws from it)
    Package("colobot-common-sounds", "accompaniment", "GPL-3+", ("/usr/share/games/colobot/music",),
            "Colobot's soundtrack (style not catalogued)"),
    Package("freedroidrpg-data", "accompaniment", "GPL-2+",
            ("/usr/share/freedroidrpg/data/sound/music",), "FreedroidRPG's soundtrack (style not catalogued)"),
    Package("xmoto-data", "accompaniment", "GPL-2+", ("/usr/share/games/xmoto/Textures/Musics",),
            "X-Moto's soundtrack (style not catalogued)"),
    Package("lincity-ng-data", "accompaniment", "GPL-2+", ("/usr/share/games/lincity-ng/music",),
            "LinCity-NG's soundtrack (style not catalogued)"),
    Package("neverball-common", "accompaniment", "GPL-2+", ("/usr/share/games/neverball/bgm",),
            "Neverball's soundtrack (style not catalogued)"),
    Package("extremetuxracer-data", "accompaniment", "GPL-2+", ("/usr/share/games/etr/music",),
            "Extreme Tux Racer's soundtrack (style not catalogued)"),
    # real instrumental music of a third survey (2026-12-03: large packages whose music
    # folders hold 27-127 min each; naev's and SuperTuxKart's copyright files give most
    # tracks a licence of their own, the rest fall under their "Files: *" GPL-3+)
    Package("naev-data", "accompaniment", "GPL-3+", ("/usr/share/naev/dat/snd/music",),
            "Naev's soundtrack (style not catalogued; 50 files, 126.5 min)"),
    Package("widelands-data", "accompaniment", "GPL-2+", ("/usr/share/games/widelands/data/music",),
            "Widelands' soundtrack (style not catalogued; 31 files, 95.0 min)"),
    Package("supertuxkart-data", "accompaniment", "GPL-3+",
            ("/usr/share/games/supertuxkart/data/music",),
            "SuperTuxKart's race music (many composers; 35 files, 58.0 min)"),
    Package("warmux-data", "accompaniment", "GPL-2+", ("/usr/share/games/warmux/music",),
            "WarMUX's soundtrack (style not catalogued; 13 files, 26.8 min)"),
)

PACKAGE_BY_NAME = {p.name: p for p in PACKAGES}

CI_PACKAGES = ("klettres-data", "hydrogen-data", "avldrums.lv2-soundfont", "guitarix-common",
               "asc-music")
"""The small data packages CI installs (107 MB to download, 152 MB installed): one of each source
kind except the strums and the large soundfont, which tests use only where installed."""

DATA_PACKAGES = tuple(p.name for p in PACKAGES)
"""Every package the generator can use (``bash bootstrap.sh data``)."""


# --------------------------------------------------------------------------- dpkg

@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    names = [p.name for p in PACKAGES]
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Status}\n", *names],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    vers = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].endswith(" installed"):
            vers[parts[0]] = parts[1]
    return vers


def installed(name: str) -> bool:
    """True if Debian package ``name`` is installed."""
    return name in _versions()


@functools.lru_cache(maxsize=64)
def package_files(name: str) -> tuple[str, ...]:
    """Audio files of an installed package (under its :attr:`Package.under` folders),
    sorted; ``()`` if it is not installed."""
    if not installed(name):
        return ()
    pkg = PACKAGE_BY_NAME[name]
    for listing in (f"{DPKG_INFO}/{name}.list", f"{DPKG_INFO}/{name}:all.list",
                    f"{DPKG_INFO}/{name}:amd64.list"):
        if os.path.exists(listing):
            break
    else:
        return ()
    with open(listing, encoding="utf-8", errors="replace") as fh:
        paths = [ln.rstrip("\n") for ln in fh]
    keep = [p for p in paths if p.lower().endswith(AUDIO_EXTENSIONS)
            and any(p.startswith(u.rstrip("/") + "/") for u in pkg.under) and os.path.isfile(p)]
    return tuple(sorted(keep))


def owner(path: str) -> str | None:
    """The package in :data:`PACKAGES` that installed ``path`` (None if none)."""
    for p in PACKAGES:
        if path in _file_set(p.name):
            return p.name
    return None


@functools.lru_cache(maxsize=64)
def _file_set(name: str) -> frozenset[str]:
    return frozenset(package_files(name))


# --------------------------------------------------------------------------- licences

@dataclass(frozen=True)
class _Paragraph:
    patterns: tuple[str, ...]
    licence: str
    copyright: str


@functools.lru_cache(maxsize=64)
def _dep5(name: str) -> tuple[_Paragraph, ...] | None:
    """The ``Files:`` paragraphs of a machine-readable copyright file (None if it is prose)."""
    path = f"{DOC_DIR}/{name}/copyright"
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    if not text.startswith("Format:"):
        return None
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            # "./dat/x.ogg" (naev-data) names the same file as "dat/x.ogg"
            pats = tuple(p.removeprefix("./") for p in fields["Files"].split() if p)
            # a paragraph may leave License empty (naev-data): say so rather than guess
            lic = (fields["License"].splitlines() or [""])[0].strip() or "(not stated)"
            out.append(_Paragraph(pats, lic, " ".join(fields.get("Copyright", "").split())[:200]))
    return tuple(out)


def _matches(pattern: str, path: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("debian/"):
        return False
    parts = path.strip("/").split("/")
    for i in range(len(parts)):  # a source path matches any tail of the installed path
        if fnmatch.fnmatchcase("/".join(parts[i:]), pattern):
            return True
    stem = os.path.basename(pattern).removesuffix(".h2drumkit").rstrip("*").rstrip("/")
    if stem and "*" not in stem:  # a packed folder (drumkits/Kit.h2drumkit) -> the kit's folder
        for c in parts[:-1]:
            if fnmatch.fnmatchcase(c, stem) or fnmatch.fnmatchcase(c, stem + " *"):
                return True
    return False


@functools.lru_cache(maxsize=65536)
def licence(path: str, package: str) -> tuple[str, str]:
    """(licence, how it was found) of one installed file of ``package``.

    The last matching DEP-5 ``Files:`` paragraph wins (as the format says); a file that
    no specific paragraph covers, or a prose copyright file, gets the licence read by
    hand (:attr:`Package.licence`).
    """
    paras = _dep5(package)
    if paras:
        hit = None
        for para in paras:
            if any(p != "*" and _matches(p, path) for p in para.patterns):
                hit = para
        if hit is not None:
            return hit.licence, "copyright file, Files: " + " ".join(hit.patterns)
    return PACKAGE_BY_NAME[package].licence, "copyright file (read by hand)"


# --------------------------------------------------------------------------- inventory

def _minutes(paths: tuple[str, ...]) -> float | None:
    import soundfile as sf

    total = 0.0
    for p in paths:
        if p.endswith(".sf2"):
            continue
        try:
            info = sf.info(p)
        except (RuntimeError, OSError):
            continue
        total += info.frames / info.samplerate
    return round(total / 60.0, 2)


def inventory(*, durations: bool = True, files: bool = True) -> dict:
    """The source inventory of this machine (see the module docstring).

    Returns
    -------
    dict: {"packages": [{"package", "version", "kind", "installed", "files", "minutes",
    "bytes", "licences": {licence: n_files}, "note"}], "files": [{"path", "package",
    "licence"}] (when ``files``)}
    """
    out_pk, out_files = [], []
    for p in PACKAGES:
        paths = package_files(p.name)
        lic_count: dict[str, int] = {}
        for f in paths:
            lic, _ = licence(f, p.name)
            lic_count[lic] = lic_count.get(lic, 0) + 1
            if files:
                out_files.append({"path": f, "package": p.name, "licence": lic})
        out_pk.append({
            "package": p.name, "version": _versions().get(p.name), "kind": p.kind,
            "installed": installed(p.name), "files": len(paths),
            "minutes": _minutes(paths) if durations and paths else (0.0 if not paths else None),
            "bytes": sum(os.path.getsize(f) for f in paths),
            "licences": lic_count, "copyright": f"{DOC_DIR}/{p.name}/copyright", "note": p.note,
        })
    doc = {"packages": out_pk}
    if files:
        doc["files"] = out_files
    return doc


def describe(paths) -> list[dict]:
    """Manifest entries for the files a song used: path, package, licence (sorted)."""
    out = []
    for path in sorted(set(paths)):
        pkg = owner(path)
        lic = licence(path, pkg)[0] if pkg else "unknown"
        out.append({"path": path, "package": pkg, "licence": lic})
    return out


def fingerprint() -> dict[str, str]:
    """Installed package -> version, for a dataset's manifest (other versions may give
    other audio)."""
    return {k: v for k, v in sorted(_versions().items())}
