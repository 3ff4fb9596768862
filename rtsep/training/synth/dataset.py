"""A whole synthetic dataset: N songs in the MUSDB18-HQ layout, plus a manifest.

Layout written under ``out_dir``::

    manifest.json
    synth-SEED-00000/{vocals,drums,bass,other,mixture}.wav   (44.1 kHz, stereo, 16-bit)
    synth-SEED-00001/...

or, for ``kind="accompaniment"`` (partial labels, see
:mod:`~rtsep.training.synth.accompaniment`)::

    acc-SEED-00000/{vocals,accompaniment,mixture}.wav       (acc-heldout-... for --split held-out)

Each track's manifest entry lists the recorded files it used (``"sources"``: path,
package, licence) and which stems are known (``"stems_known"``).

Song ``i`` depends only on ``(seed, i, seconds)``, so ``workers`` never changes
the audio. Each track is written into a hidden temporary folder that is renamed
when complete; a folder that already exists complete is kept (re-running a
command resumes it).

A track whose rendering comes out with NaN or infinite samples
(:class:`~rtsep.training.synth.mixing.NonFiniteAudioError`: a stage failed on it), or
whose singer's recorded speaker has no singable syllable at all
(:class:`~rtsep.training.synth.vocals.NoSingableSyllableError`), is
not written, and the run goes on: the manifest lists it under ``"failed"`` (its name,
the error and the stems affected) instead of ``"tracks"``, a ``RuntimeWarning`` says
so, and a later run tries it again. Any other error stops the run (the manifest keeps
the tracks finished so far; re-running resumes).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from rtsep import __version__
from rtsep.constants import SAMPLE_RATE, STEMS
from rtsep.errors import ConfigError, DatasetError
from rtsep.io.files import atomic_path
from rtsep.io.jsonio import write_json_atomic
from rtsep.training.synth import sources
from rtsep.training.synth.arrangement import MAX_SECONDS, MIN_SECONDS, compose_song
from rtsep.training.synth.score import song_name
from rtsep.training.synth.mixing import NonFiniteAudioError
from rtsep.training.synth.vocals import NoSingableSyllableError
from rtsep.training.synth.resources import Resources, find_resources
from rtsep.training.synth.song import render_song_int16
from rtsep.training.synth.sourcing import check_without

TRACK_FAILURES = (NonFiniteAudioError, NoSingableSyllableError)
"""Errors that fail one track (listed under "failed") without stopping the run; each
has ``stems``, the stems affected."""

MANIFEST = "manifest.json"


FILES = STEMS + ("mixture",)
KINDS = ("songs", "accompaniment")
MAX_TRACKS = 1_000_000


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def check_args(tracks, seconds, seed, workers) -> tuple[int, float, int, int]:
    """Validate dataset arguments; raise :class:`ConfigError` with what to do."""
    tracks = _check_int("--tracks", tracks, 1, MAX_TRACKS)
    seed = _check_int("--seed", seed, 0, 2 ** 63 - 1)
    workers = _check_int("--workers", workers, 1, 256)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) \
            or not np.isfinite(seconds) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ConfigError(f"--seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds!r}")
    return tracks, float(seconds), seed, workers


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and check it is a writable folder."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise DatasetError(f"output path {path} exists and is not a folder; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rtsep-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DatasetError(f"cannot write to output folder {path}: {exc.strerror or exc}; "
                           "choose a writable --out") from exc
    return path


def track_complete(folder: Path, files: tuple[str, ...] = FILES) -> bool:
    """True if ``folder`` holds all the files of a track."""
    return all((folder / f"{name}.wav").is_file() for name in files)


def write_track(out_dir: Path, name: str, audio: dict[str, np.ndarray]) -> Path:
    """Write a track's int16 (n, 2) arrays (one file per key) atomically (temp folder,
    then rename).

    Returns the final folder.
    """
    final = out_dir / name
    with atomic_path(final, folder=True) as tmp:  # an incomplete leftover at final is replaced
        for key in audio:
            sf.write(tmp / f"{key}.wav", audio[key], SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return final


def remove_stale_temp(out_dir: Path) -> list[Path]:
    """Delete temporary track folders left by runs that were killed (their process
    is gone); folders of live processes are kept. Returns what was deleted."""
    removed = []
    for p in out_dir.glob(".synth-*.tmp-*"):
        try:
            pid = int(p.name.split(".tmp-", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's live process
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _failed_entry(entry: dict, exc: Exception, t0: float) -> dict:
    """The manifest entry of a track that could not be written (it has an "error")."""
    entry["error"] = str(exc)
    entry["error_stems"] = list(exc.stems)
    entry["render_s"] = round(time.perf_counter() - t0, 3)
    return entry


def _render_and_write(out_dir: str, seed: int, index: int, seconds: float,
                      resources: Resources, without: tuple[str, ...] = ()) -> dict:
    """Worker task: render song ``index`` (``without`` those real sources) and write it.
    Returns its manifest entry (with an "error" and nothing written when it failed:
    :data:`TRACK_FAILURES`)."""
    t0 = time.perf_counter()
    used: set = set()
    try:
        song, audio = render_song_int16(seed, index, seconds, resources=resources, used=used,
                                        without=without)
    except TRACK_FAILURES as exc:
        entry = compose_song(seed, index, seconds, without).manifest()
        entry["kind"] = "songs"
        entry["sources"] = sources.describe(used)  # what it had read when it failed
        return _failed_entry(entry, exc, t0)
    write_track(Path(out_dir), song.name, audio)
    entry = song.manifest()
    entry["kind"] = "songs"
    entry["stems_known"] = list(STEMS)
    entry["sources"] = sources.describe(used)
    entry["render_s"] = round(time.perf_counter() - t0, 3)
    entry["peak_dbfs"] = round(float(20 * np.log10(max(np.abs(audio["mixture"]).max(), 1) / 32768)), 2)
    return entry


def _render_accompaniment(out_dir: str, seed: int, index: int, seconds: float,
                          resources: Resources, files, split: str) -> dict:
    """Worker task: one partially labelled track (vocals over real music); an entry
    with an "error" and nothing written when it failed (:data:`TRACK_FAILURES`)."""
    from rtsep.training.synth import accompaniment

    t0 = time.perf_counter()
    try:
        entry, audio = accompaniment.render_track(seed, index, seconds, files, resources, split)
    except TRACK_FAILURES as exc:
        entry = {"name": accompaniment.track_name(seed, index, split), "kind": "accompaniment",
                 "split": split, "seed": int(seed), "index": int(index), "seconds": float(seconds)}
        return _failed_entry(entry, exc, t0)
    write_track(Path(out_dir), entry["name"], audio)
    entry["render_s"] = round(time.perf_counter() - t0, 3)
    entry["peak_dbfs"] = round(float(20 * np.log10(max(np.abs(audio["mixture"]).max(), 1) / 32768)), 2)
    return entry


def _old_entries(out_dir: Path) -> dict[str, dict]:
    """Entries of an existing manifest (a resumed run keeps them: they list the sources)."""
    try:
        old = json.loads((out_dir / MANIFEST).read_text())
        return {t["name"]: t for t in old.get("tracks", []) if isinstance(t, dict) and "name" in t}
    except (OSError, ValueError):
        return {}


def _write_manifest(out_dir: Path, header: dict, entries: dict[str, dict],
                    failed: dict[str, dict]) -> None:
    """Merge this run's written ``entries`` and ``failed`` tracks into the manifest: a
    track written now leaves "failed", one that failed again replaces its old entry."""
    path = out_dir / MANIFEST
    existing: dict[str, dict] = {}
    old_failed: dict[str, dict] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
            existing = {t["name"]: t for t in old.get("tracks", []) if isinstance(t, dict) and "name" in t}
            old_failed = {t["name"]: t for t in old.get("failed", []) if isinstance(t, dict) and "name" in t}
        except (OSError, ValueError):
            existing, old_failed = {}, {}
    existing.update(entries)
    for name in failed:  # failed now: an older entry of it (folder since removed) goes
        existing.pop(name, None)
    old_failed.update(failed)
    doc = dict(header)
    doc["tracks"] = [existing[k] for k in sorted(existing)]
    doc["failed"] = [old_failed[k] for k in sorted(old_failed) if k not in existing]
    write_json_atomic(path, doc, indent=1)


class _Job(NamedTuple):
    """What one kind of track needs: the worker task and its extra arguments, the files
    of a complete track, the track namer ``(seed, index) -> name`` and the manifest header."""

    task: Callable[..., dict]
    extra: tuple
    files: tuple[str, ...]
    namer: Callable[[int, int], str]
    header: dict


def _job(kind: str, seed: int, seconds: float, resources: Resources, *,
         held_out: tuple[str, ...] | None, split: str, vocal_check: str | os.PathLike | None,
         without: tuple[str, ...] = (), music: tuple[str, ...] | None = None) -> _Job:
    """The task, files, names and manifest header of a run of ``kind``; for
    accompaniment, the pool of recorded music it draws from (``held_out`` and
    ``vocal_check`` leave files out); for songs, the real sources left out (``without``)."""
    header = {"generator": "rtsep synth", "kind": kind, "rtsep_version": __version__, "seed": seed,
              "seconds": seconds, "sample_rate": SAMPLE_RATE, "stems": list(STEMS),
              "resources": resources.to_dict(), "packages": sources.fingerprint()}
    if kind != "accompaniment":
        if without:
            header["without"] = list(without)
        return _Job(_render_and_write, (without,), FILES, song_name, header)
    from rtsep.training.synth import accompaniment, vocalcheck

    held = tuple(held_out) if held_out is not None else accompaniment.HELD_OUT_DEFAULT
    excluded = vocalcheck.excluded(vocal_check) if vocal_check else frozenset()
    pool = accompaniment.pool(split, held, excluded, music)
    files = accompaniment.ACC_FILES
    header.update({"stems": list(accompaniment.STEMS_KNOWN), "files": list(files),
                   "split": split, "held_out_packages": list(held),
                   "music": list(music) if music else None,
                   "vocal_check": str(vocal_check) if vocal_check else None,
                   "excluded_by_vocal_check": sorted(excluded),
                   "pool": {"files": len(pool), "minutes": round(sum(f.seconds for f in pool) / 60, 1),
                            "packages": sorted({f.package for f in pool})}})
    return _Job(_render_accompaniment, (pool, split), files,
                lambda s, i: accompaniment.track_name(s, i, split), header)


class _Tally:
    """A run's manifest entries so far: ``entries`` (written or reused) and ``failed``
    (not finite, not written); ``progress(done, total)`` is told of each."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None, manifest: Path):
        self.total = total
        self.progress = progress
        self.manifest = manifest
        self.entries: dict[str, dict] = {}
        self.failed: dict[str, dict] = {}

    def advance(self) -> None:
        if self.progress:
            self.progress(len(self.entries) + len(self.failed), self.total)

    def record(self, entry: dict) -> None:
        """Keep a rendered track's entry (warn when it failed) and report progress."""
        if "error" in entry:
            self.failed[entry["name"]] = entry
            # stacklevel: record, _render_todo, generate_dataset, its caller
            warnings.warn(f"{entry['name']} not written (listed under \"failed\" in "
                          f"{self.manifest}): {entry['error']}", RuntimeWarning, stacklevel=4)
        else:
            self.entries[entry["name"]] = entry
        self.advance()


SOURCE_KEYS = {"songs": ("without",), "accompaniment": ("split", "held_out_packages", "music")}
"""Manifest header keys that choose a track's sources beyond its seed and index."""


def _check_same_sources(out: Path, header: dict) -> None:
    """Refuse to add tracks to a folder whose manifest says they were drawn from other
    sources (other real sources left out; another split, held-out set or music pool):
    its complete tracks would be reused as if they were these."""
    try:
        old = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return
    if not isinstance(old, dict) or not old.get("tracks"):
        return
    kind = header["kind"]
    if old.get("kind", "songs") != kind:
        raise ConfigError(f"{out} holds tracks of --kind {old.get('kind', 'songs')}, not {kind}; "
                          "choose another --out")
    for key in SOURCE_KEYS[kind]:
        had, want = old.get(key), header.get(key)
        if key == "without":  # songs made before the option have no key
            had, want = had or [], want or []
        if key == "split" and key not in old:  # sets made before the held-out split
            had = "train"
        if had != want:
            raise ConfigError(f"{out} holds tracks made with {_say(key, had)}, not "
                              f"{_say(key, want)}; choose another --out")


def _say(key: str, value) -> str:
    """A source choice of a manifest header as the options that make it."""
    if key == "without":
        return " ".join(f"--without {w}" for w in value) or "every real source"
    if key == "music":
        return " ".join(f"--music {m}" for m in value) if value else "the default --music"
    if key == "held_out_packages":
        return " ".join(f"--held-out {p}" for p in value) or "nothing held out"
    return f"--{key} {value}"


def _reuse_complete(out: Path, tracks: int, seed: int, seconds: float, kind: str, job: _Job,
                    tally: _Tally) -> list[int]:
    """Enter the tracks already complete in ``out`` as reused (their old manifest entry,
    else one rebuilt) and return the indices still to render."""
    old = _old_entries(out)
    todo = []
    for i in range(tracks):
        name = job.namer(seed, i)
        if track_complete(out / name, job.files):
            if name in old:
                entry = dict(old[name])
            elif kind == "songs":
                entry = compose_song(seed, i, seconds, *job.extra).manifest()
            else:
                entry = {"name": name}
            entry["reused"] = True
            tally.entries[name] = entry
        else:
            todo.append(i)
    return todo


def _render_todo(job: _Job, out: Path, seed: int, seconds: float, resources: Resources,
                 todo: list[int], workers: int, tally: _Tally) -> None:
    """Render and write the tracks ``todo``, in this process or in ``workers`` spawned
    ones, recording each in ``tally`` as it finishes."""
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            tally.record(job.task(str(out), seed, i, seconds, resources, *job.extra))
        return
    ctx = get_context("spawn")  # no fork of a threaded parent (a progress bar's thread)
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as executor:
        pending = {executor.submit(job.task, str(out), seed, i, seconds, resources, *job.extra)
                   for i in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    tally.record(fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def generate_dataset(out_dir: str | os.PathLike, tracks: int, seconds: float = 30.0, seed: int = 0,
                     workers: int = 1,
                     progress: Callable[[int, int], None] | None = None, *,
                     kind: str = "songs", held_out: tuple[str, ...] | None = None,
                     split: str = "train", vocal_check: str | os.PathLike | None = None,
                     without: tuple[str, ...] = (), music: tuple[str, ...] | None = None) -> dict:
    """Write ``tracks`` synthetic songs into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    out_dir : output folder (created if missing)
    tracks : number of songs (>= 1)
    seconds : length of each song (2 .. 600 s)
    seed : run seed (>= 0); song i depends only on (seed, i, seconds)
    workers : processes rendering in parallel (>= 1); does not change the output
    progress : callable(done, total), optional; called with the songs done so far
        (reused and failed ones included) at the start and after each song
    kind : "songs" (every stem known) or "accompaniment" (vocals over real music)
    held_out : accompaniment packages kept out of training (default
        :data:`~rtsep.training.synth.accompaniment.HELD_OUT_DEFAULT`)
    split : "train" or "held-out" (accompaniment only: which packages to draw from)
    vocal_check : a JSON written by ``rtsep synth --vocal-check`` whose excluded files
        are never used (accompaniment only)
    without : groups of real sources left out of every song (songs only; names in
        :data:`~rtsep.training.synth.sourcing.ABLATIONS`; recorded in the manifest)
    music : accompaniment, train split: the packages to draw from (default
        :data:`~rtsep.training.synth.accompaniment.MUSIC_DEFAULT`; ``("all",)``: every
        one not held out; recorded in the manifest)

    Returns
    -------
    dict : the manifest written to ``out_dir/manifest.json``: "tracks" lists the tracks
        written, "failed" those whose audio was not finite (not written; see the module
        docstring; a ``RuntimeWarning`` names each)
    """
    tracks, seconds, seed, workers = check_args(tracks, seconds, seed, workers)
    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    without = check_without(without)
    if without and kind != "songs":
        raise ConfigError("--without applies to --kind songs only")
    if music and kind != "accompaniment":
        raise ConfigError("--music applies to --kind accompaniment only")
    resources = find_resources()
    job = _job(kind, seed, seconds, resources, held_out=held_out, split=split, vocal_check=vocal_check,
               without=without, music=music)
    out = prepare_out_dir(out_dir)
    _check_same_sources(out, job.header)
    remove_stale_temp(out)
    tally = _Tally(tracks, progress, out / MANIFEST)
    todo = _reuse_complete(out, tracks, seed, seconds, kind, job, tally)
    t_start = time.perf_counter()
    tally.advance()
    try:
        _render_todo(job, out, seed, seconds, resources, todo, workers, tally)
    finally:
        if tally.entries or tally.failed:
            job.header["wall_s"] = round(time.perf_counter() - t_start, 2)
            _write_manifest(out, job.header, tally.entries, tally.failed)
    return json.loads((out / MANIFEST).read_text())
