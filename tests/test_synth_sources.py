"""Tests of the real recorded sources of ``rtsep synth`` (:mod:`rtsep.training.synth`):
the inventory, re-sung recorded voices, Hydrogen/AVL kits, strums, amp responses,
choirs, the mix additions, and the accompaniment kind (partial labels).

They read the Debian packages where Debian installs them. The small ones CI installs
(``sources.CI_PACKAGES``) are required when ``RTSEP_REQUIRE_SYNTH=1``; the large ones
of ``bash bootstrap.sh data`` are required only with ``RTSEP_REQUIRE_SYNTH_DATA=1``
(tests that need them are skipped otherwise, saying why).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth_needs import need_synth as _need  # tests/synth_needs.py

from rtsep.cli.main import main
from rtsep.constants import SAMPLE_RATE
from rtsep.errors import EXIT_USAGE

SECONDS = 5.0


def _find(pred, seed: int = 31, limit: int = 400):
    """The first song index of ``seed`` whose composition satisfies ``pred``."""
    from rtsep.training.synth import compose_song

    for i in range(limit):
        song = compose_song(seed, i, SECONDS)
        if pred(song):
            return i
    raise AssertionError("no composition among the first songs uses this source")


KINDS = {
    "real_voice": (lambda s: s.singer.source == "real", ("klettres-data",)),
    "hydrogen_kit": (lambda s: s.real_kit.startswith("hydrogen:"), ("hydrogen-data",)),
    "avl_kit": (lambda s: s.real_kit.startswith("avl:") and any(p.notes for p in s.parts
                                                                 if p.source == "avl"),
                ("avldrums.lv2-soundfont",)),
    "amp_response": (lambda s: any(p.fx.ir for p in s.parts if p.notes), ("guitarix-common",)),
    "choir": (lambda s: any(p.role == "choir" for p in s.parts), ()),
    "hall_and_sidechain": (lambda s: s.mix.hall_kind == "greathall", ("guitarix-common",)),
    "strums": (lambda s: any(p.source == "strums" and p.notes for p in s.parts),
               ("hydrogen-drumkits-effects",)),
    "musescore": (lambda s: s.gm_font == "musescore", ("musescore-general-soundfont-lossless",)),
}


@pytest.fixture(scope="module")
def small_set():
    """One short song per source kind that is installed, written by the CLI."""
    _need("klettres-data", "hydrogen-data", "avldrums.lv2-soundfont", "guitarix-common")
    from rtsep.training.synth import sources
    from rtsep.training.synth.song import render_song_int16

    wanted = {}
    for kind, (pred, pkgs) in KINDS.items():
        if all(sources.installed(p) for p in pkgs):
            wanted[kind] = _find(pred)
    rendered = {}
    for kind, i in sorted(wanted.items(), key=lambda kv: kv[1]):
        if i in rendered:
            continue
        used: set = set()
        song, audio = render_song_int16(31, i, SECONDS, used=used)
        rendered[i] = (song, audio, used)
    return wanted, rendered


def test_every_source_kind_is_used_in_a_small_set(small_set):
    wanted, rendered = small_set
    for kind in ("real_voice", "hydrogen_kit", "avl_kit", "amp_response", "choir"):
        assert kind in wanted, kind
    for kind, i in wanted.items():
        song, audio, used = rendered[i]
        if kind == "real_voice":
            assert any("/klettres/" in p or "fillets" in p or "ktuberling" in p or "festival" in p
                       for p in used), used
            assert np.abs(audio["vocals"]).max() > 0
        elif kind == "hydrogen_kit":
            assert any("/hydrogen/data/drumkits/" in p for p in used)
            assert np.abs(audio["drums"]).max() > 0
        elif kind == "avl_kit":
            assert any(p.endswith("_LV2.sf2") for p in used)
        elif kind == "amp_response":
            assert any("/gx_head/sounds/" in p for p in used)
        elif kind == "strums":
            assert any("GuitarStrums" in p for p in used)
        elif kind == "musescore":
            assert any("MuseScore" in p for p in used)


def test_mixture_is_exact_sum_with_real_sources(small_set):
    _, rendered = small_set
    for song, audio, _ in rendered.values():
        total = sum(audio[s].astype(np.int32) for s in ("vocals", "drums", "bass", "other"))
        assert np.array_equal(total, audio["mixture"].astype(np.int32)), song.name  # exact


def test_inventory_lists_every_file_a_song_used(small_set):
    from rtsep.training.synth import sources

    inv = sources.inventory(durations=False)
    listed = {f["path"]: f for f in inv["files"]}
    _, rendered = small_set
    for song, _, used in rendered.values():
        assert used, song.name
        for path in used:
            assert path in listed, path
            assert listed[path]["licence"] not in ("", "unknown")
        for entry in sources.describe(used):
            assert entry["package"] in sources.PACKAGE_BY_NAME and entry["licence"] != "unknown"


def test_same_seed_same_audio_with_real_sources(small_set):
    from rtsep.training.synth.song import render_song_int16

    wanted, rendered = small_set
    i = wanted["hydrogen_kit"]
    _, again = render_song_int16(31, i, SECONDS)
    for k, v in rendered[i][1].items():
        assert np.array_equal(v, again[k]), k  # bit for bit


def test_voicebank_cuts_singable_syllables():
    _need("klettres-data")
    from rtsep.training.synth import voicebank

    spk = voicebank.speaker_by_key("klettres/fr")
    units = voicebank.choose_units(spk, 6, np.random.default_rng(0))
    assert len(units) == 6
    for ref, wf in units:
        dur = (ref.end - ref.start) / ref.sr
        assert voicebank.MIN_UNIT_S <= dur <= voicebank.MAX_UNIT_S + 0.02
        a, b = wf.nucleus
        assert b - a >= 4 and wf.voiced[a:b].all()  # a voiced vowel of at least 20 ms
    f0 = voicebank.speaker_f0(spk.key)
    assert 70 < f0 < 400


def test_voicebank_searches_past_the_first_recordings(tmp_path):
    """ktuberling's Galician speaker has 6 singable syllables in 71 recordings, so the
    first 14 files drawn could hold none and song 43 of seed 21 stopped the whole run
    ("no singable syllable"). The search now goes on through the speaker's other files."""
    _need("klettres-data")
    import soundfile as sf

    from rtsep.training.synth import voicebank

    real = voicebank.speaker_by_key("klettres/fr")
    n_files = 30
    last = int(np.random.default_rng(0).permutation(n_files)[-1])  # drawn last
    files = []
    for k in range(n_files):
        if k == last:
            files.append(real.files[0])
        else:
            path = tmp_path / f"silent{k}.wav"
            sf.write(path, np.zeros(22050, np.float32), 44100)
            files.append(str(path))
    spk = voicebank.Speaker("test/silent", "test", tuple(files), 44100)
    units = voicebank.choose_units(spk, 3, np.random.default_rng(0), max_files=14)
    assert units and all(ref.path == real.files[0] for ref, _ in units)


def test_voicebank_hot_recordings_give_finite_syllables():
    """klettres' Setswana speaker is stored up to +36 dBFS (peak 61). WORLD's D4C
    returned NaN aperiodicities for 19 of its 46 syllables, which sang NaN and made
    song 9 of seed 515151 silent. Each recording now peaks at most at 1 after loading,
    and every syllable analyses to finite frames."""
    _need("klettres-data")
    from rtsep.training.synth import voicebank

    try:
        spk = voicebank.speaker_by_key("klettres/tn")
    except KeyError:
        pytest.skip("klettres-data has no Setswana speaker (klettres/tn) in this version")
    sr = voicebank.voice_rate(spk)
    hot = [p for p in spk.files if np.abs(sf.read(p, dtype="float32")[0]).max() > voicebank.MAX_PEAK]
    assert hot, "the recordings are no longer stored hot: this test checks nothing"
    for path in hot:
        assert np.abs(voicebank.load(path, sr)).max() <= 1.0 + 1e-12, path
    n_units = 0
    for path in spk.files:
        for ref in voicebank.file_units(path, sr):
            wf = voicebank.analyse_unit(ref)
            if wf is None:
                continue
            n_units += 1
            assert np.isfinite(wf.sp).all() and np.isfinite(wf.ap).all(), ref
    assert n_units >= 20


def test_hydrogen_kit_velocity_layers_and_round_robin():
    _need("hydrogen-data")
    from rtsep.training.synth import drumkits, grooves

    assert drumkits.voice_of("Hat Pedal") == "phh" and drumkits.voice_of("Floor Tom") == "tom_lo"
    kit = drumkits.kit_by_name("GMRockKit")
    hits = tuple(grooves.DrumHit(0.25 * k, "kick", 100) for k in range(8)) + \
        tuple(grooves.DrumHit(2.1 + 0.2 * k, "kick", 20) for k in range(4))
    used: set = set()
    y = drumkits.render_hydrogen(kit.name, {}, {}, hits, 3 * SAMPLE_RATE,
                                 np.random.default_rng(0), used)
    assert len(used) >= 3  # hits move between neighbouring layers; soft ones take the soft layer
    soft = [lay.path for lay in kit.voices()["kick"][0].layers if lay.vmax <= 0.25]
    assert set(soft) & used
    assert np.abs(y).max() > 0


@pytest.fixture(scope="module")
def acc_dataset(tmp_path_factory):
    _need("asc-music", "klettres-data")
    out = tmp_path_factory.mktemp("acc") / "ds"
    # the CI package set has one music package: hold out a (not installed) other one
    rc = main(["synth", "--kind", "accompaniment", "--out", str(out), "--tracks", "2",
               "--seconds", str(SECONDS), "--seed", "3", "--held-out", "wesnoth-1.16-music",
               "--quiet"])
    assert rc == 0
    return out


def test_accompaniment_kind_writes_documented_files(acc_dataset):
    manifest = json.loads((acc_dataset / "manifest.json").read_text())
    assert manifest["kind"] == "accompaniment" and manifest["held_out_packages"] == ["wesnoth-1.16-music"]
    assert manifest["stems"] == ["vocals", "accompaniment"]
    for t in manifest["tracks"]:
        folder = acc_dataset / t["name"]
        assert sorted(p.name for p in folder.iterdir()) == ["accompaniment.wav", "mixture.wav", "vocals.wav"]
        a = {k: sf.read(folder / f"{k}.wav", dtype="int16")[0].astype(np.int32)
             for k in ("vocals", "accompaniment", "mixture")}
        assert a["mixture"].shape == (round(SECONDS * SAMPLE_RATE), 2)
        assert np.array_equal(a["vocals"] + a["accompaniment"], a["mixture"])  # exact
        assert np.abs(a["vocals"]).max() > 0 and np.abs(a["accompaniment"]).max() > 0
        assert t["stems_known"] == ["vocals", "accompaniment"]
        assert t["accompaniment"]["package"] != "wesnoth-1.16-music"
        assert t["accompaniment"]["path"] in {s["path"] for s in t["sources"]}


def test_accompaniment_same_seed_same_audio(acc_dataset):
    from rtsep.training.synth import accompaniment
    from rtsep.training.synth.resources import find_resources

    files = accompaniment.pool("train", ("wesnoth-1.16-music",), frozenset())
    _, audio = accompaniment.render_track(3, 1, SECONDS, files, find_resources())
    on_disk = sf.read(acc_dataset / accompaniment.track_name(3, 1, "train") / "mixture.wav",
                      dtype="int16")[0]
    assert np.array_equal(audio["mixture"], on_disk)


def test_held_out_split_uses_only_the_held_out_package():
    _need("asc-music", "klettres-data")
    from rtsep.training.synth import accompaniment

    files = accompaniment.pool("held-out", ("asc-music",), frozenset())
    assert {f.package for f in files} == {"asc-music"}
    train = accompaniment.pool("train", ("supertux-data",), frozenset())
    assert "supertux-data" not in {f.package for f in train}
    with pytest.raises(Exception, match="--held-out"):
        accompaniment.pool("train", ("no-such-package",), frozenset())


def test_default_held_out_packages_are_accompaniment_packages_kept_out_of_training():
    """Both default held-out packages are known accompaniment packages, and the training
    pool of the default leaves every one of their files out (where they are installed)."""
    _need("asc-music")
    from rtsep.training.synth import accompaniment

    held = accompaniment.HELD_OUT_DEFAULT
    assert set(held) == {"supertux-data", "hedgewars-data"}
    assert set(held) <= set(accompaniment.packages())
    train = accompaniment.pool("train", held, frozenset())
    assert not {f.package for f in train} & set(held)
    assert {f.package for f in train} >= {"asc-music"}


def test_music_chooses_the_train_pool_and_the_default_is_the_first_survey():
    """The train split draws from MUSIC_DEFAULT unless --music says otherwise (so a seed's
    tracks do not change when more music is installed); --music PKG draws from PKG
    alone; a held-out, unknown or held-out-split --music is refused."""
    _need("asc-music")
    from rtsep.errors import ConfigError
    from rtsep.training.synth import accompaniment

    held = accompaniment.HELD_OUT_DEFAULT
    default = accompaniment.pool("train", held, frozenset())
    assert {f.package for f in default} <= set(accompaniment.MUSIC_DEFAULT)
    assert set(accompaniment.MUSIC_DEFAULT) <= set(accompaniment.packages())
    assert not set(accompaniment.MUSIC_DEFAULT) & set(held)
    alone = accompaniment.pool("train", held, frozenset(), ("asc-music",))
    assert {f.package for f in alone} == {"asc-music"}
    assert [f for f in default if f.package == "asc-music"] == list(alone)
    every = accompaniment.pool("train", held, frozenset(), ("all",))
    assert set(default) <= set(every) and not {f.package for f in every} & set(held)
    assert accompaniment.music_packages("train", held, ("all",)) == tuple(
        p for p in accompaniment.packages() if p not in held)
    with pytest.raises(ConfigError, match="held out"):
        accompaniment.pool("train", held, frozenset(), ("supertux-data",))
    with pytest.raises(ConfigError, match="not an accompaniment package"):
        accompaniment.pool("train", held, frozenset(), ("no-such-music",))
    with pytest.raises(ConfigError, match="held-out split"):
        accompaniment.pool("held-out", held, frozenset(), ("asc-music",))


def test_music_is_recorded_and_a_folder_of_another_pool_is_refused(tmp_path, capsys):
    _need("asc-music", "klettres-data")
    out = tmp_path / "acc"
    base = ["synth", "--kind", "accompaniment", "--out", str(out), "--seconds", "3", "--seed", "5",
            "--quiet"]
    assert main([*base, "--tracks", "1", "--music", "asc-music"]) == 0
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["music"] == ["asc-music"] and doc["pool"]["packages"] == ["asc-music"]
    assert doc["tracks"][0]["accompaniment"]["package"] == "asc-music"
    capsys.readouterr()
    # more tracks into the same folder from the default pool: refused, nothing added
    assert main([*base, "--tracks", "2"]) == EXIT_USAGE
    assert "--music asc-music" in capsys.readouterr().err
    assert len(json.loads((out / "manifest.json").read_text())["tracks"]) == 1
    # --music with full songs is refused before anything is written
    assert main(["synth", "--out", str(tmp_path / "s"), "--music", "asc-music", "--quiet"]) == EXIT_USAGE
    assert "--kind accompaniment only" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_vocal_check_exclusions_and_manual_overrides(tmp_path):
    from rtsep.training.synth import vocalcheck

    doc = {"files": [{"path": "/a.ogg", "excluded": True}, {"path": "/b.ogg", "excluded": False},
                     {"path": "/c.ogg", "excluded": True}],
           "manual": {"/c.ogg": False, "/d.ogg": True}}
    path = tmp_path / "check.json"
    path.write_text(json.dumps(doc))
    assert vocalcheck.excluded(path) == frozenset({"/a.ogg", "/d.ogg"})


def test_inventory_cli_writes_packages_and_licences(tmp_path):
    _need("klettres-data")
    path = tmp_path / "inv.json"
    rc = main(["synth", "--inventory", str(path), "--quiet"])
    assert rc == 0
    inv = json.loads(path.read_text())
    by = {p["package"]: p for p in inv["packages"]}
    assert by["klettres-data"]["installed"] and by["klettres-data"]["files"] > 1000
    assert by["klettres-data"]["licences"] == {"GPL-2+": by["klettres-data"]["files"]}
    assert by["klettres-data"]["minutes"] > 40
    assert all(Path(f["path"]).is_file() for f in inv["files"][:50])


def test_dep5_paths_with_dot_slash_and_an_empty_licence(tmp_path, monkeypatch):
    """A copyright file's "./dat/x.ogg" names the installed ".../dat/x.ogg" (naev-data
    writes its Files: that way), and a paragraph whose License is empty says so instead
    of failing the whole inventory."""
    from rtsep.training.synth import sources

    doc = tmp_path / "test-dep5-pkg"
    doc.mkdir()
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-3+\n\n"
        "Files: ./dat/snd/music/a.ogg ./dat/snd/music/b.ogg\nCopyright: composer\n"
        "License: CC-BY-3.0\n\n"
        "Files: ./dat/gfx/logo.png\nCopyright: artist\nLicense: \n")
    monkeypatch.setattr(sources, "DOC_DIR", str(tmp_path))
    paras = sources._dep5("test-dep5-pkg")
    assert [p.licence for p in paras] == ["GPL-3+", "CC-BY-3.0", "(not stated)"]
    assert paras[1].patterns == ("dat/snd/music/a.ogg", "dat/snd/music/b.ogg")
    assert sources._matches(paras[1].patterns[1], "/usr/share/naev/dat/snd/music/b.ogg")
    assert not sources._matches(paras[1].patterns[1], "/usr/share/naev/dat/snd/music/c.ogg")
