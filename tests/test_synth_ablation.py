"""``rtsep synth --without GROUP``: songs made without one group of real sources (an
ablation), the rest of each composition as it is with them
(:data:`rtsep.training.synth.sourcing.ABLATIONS`)."""

from __future__ import annotations

import json

import pytest
from synth_needs import need_synth  # tests/synth_needs.py

from rtsep.cli.main import main
from rtsep.errors import EXIT_USAGE

SEED, N, SECONDS = 31, 40, 5.0
PACKAGES = ("klettres-data", "hydrogen-data", "avldrums.lv2-soundfont", "guitarix-common")


def _uses(song) -> dict[str, bool]:
    """Which groups of real sources a composed song uses."""
    return {
        "voices": song.singer.source == "real" or any(p.role == "choir" for p in song.parts),
        "kits": bool(song.real_kit) or any(p.source == "avl" for p in song.parts),
        "instruments": song.gm_font == "musescore"
        or any(p.source == "strums" or p.fx.ir for p in song.parts),
        "mixing": song.mix.hall_kind != "none" or song.mix.sidechain_db > 0
        or song.mix.other_width != 1.0,
    }


@pytest.fixture(scope="module")
def compositions():
    need_synth(*PACKAGES)
    from rtsep.training.synth import compose_song
    from rtsep.training.synth.sourcing import ABLATIONS

    full = [compose_song(SEED, i, SECONDS) for i in range(N)]
    without = {g: [compose_song(SEED, i, SECONDS, (g,)) for i in range(N)] for g in ABLATIONS}
    return full, without


def test_each_group_left_out_and_the_composition_kept(compositions):
    full, without = compositions
    for group, songs in without.items():
        assert sum(_uses(s)[group] for s in full) >= 5, group  # the full songs use it
        for f, a in zip(full, songs):
            uses = _uses(a)
            assert not uses[group], (group, a.name)
            assert a.without == (group,) and a.manifest()["without"] == [group]
            # the composition itself is the same song
            assert (a.style, a.grid, a.sections, a.harmony, a.drum_hits) == \
                   (f.style, f.grid, f.sections, f.harmony, f.drum_hits), (group, a.name)
            assert [p.notes for p in a.parts if p.role != "choir" and p.source != "avl"
                    and p.name != "drums_gm"] == \
                   [p.notes for p in f.parts if p.role != "choir" and p.source != "avl"
                    and p.name != "drums_gm"], (group, a.name)
            if group != "kits":
                assert a.real_kit == f.real_kit
            if group != "instruments":
                assert a.gm_font == f.gm_font
            if group not in ("mixing", "voices"):
                assert a.mix == f.mix and a.vocal_lines == f.vocal_lines and a.singer == f.singer
            if group == "voices":
                assert all(s.singer.source == "espeak" for s in songs)
            if group == "kits" and f.real_kit:
                assert any(p.name == "drums_gm" for p in a.parts) or a.kit.mode != f.kit.mode


def test_unknown_group_is_refused():
    from rtsep.errors import ConfigError
    from rtsep.training.synth import compose_song

    with pytest.raises(ConfigError, match="unknown source group"):
        compose_song(SEED, 0, SECONDS, ("guitars",))


def test_cli_records_the_ablation_and_refuses_to_mix_folders(tmp_path, capsys):
    need_synth(*PACKAGES)
    out = tmp_path / "no-kits"
    rc = main(["synth", "--out", str(out), "--tracks", "1", "--seconds", "3", "--seed", str(SEED),
               "--without", "kits", "--without", "mixing", "--quiet"])
    assert rc == 0
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["without"] == ["kits", "mixing"]
    (track,) = doc["tracks"]
    assert track["without"] == ["kits", "mixing"] and track["drums"]["real_kit"] == ""
    assert track["mix"]["hall_kind"] == "none" and track["mix"]["sidechain_db"] == 0
    packages = {entry["package"] for entry in track["sources"]}
    assert packages and not packages & {"hydrogen-data", "hydrogen-drumkits",
                                        "avldrums.lv2-soundfont"}, packages
    capsys.readouterr()
    # the same folder with every source: refused, nothing reused as if it were that
    rc = main(["synth", "--out", str(out), "--tracks", "2", "--seconds", "3", "--seed", str(SEED),
               "--quiet"])
    assert rc == EXIT_USAGE
    assert "--without kits --without mixing" in capsys.readouterr().err
    assert len(json.loads((out / "manifest.json").read_text())["tracks"]) == 1


@pytest.mark.parametrize("args, message", [
    (["--without", "guitars"], "unknown source group"),
    (["--without", "kits", "--kind", "accompaniment"], "--kind songs only"),
])
def test_bad_without_exits_2(tmp_path, capsys, args, message):
    rc = main(["synth", "--out", str(tmp_path / "o"), "--quiet", *args])
    assert rc == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
