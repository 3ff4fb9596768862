"""rtsep.io.tracks: the MUSDB18-HQ layout checker, reading and listing track folders."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rtsep.constants import SAMPLE_RATE, STEMS
from rtsep.errors import DatasetError
from rtsep.io.tracks import check_track, list_tracks, read_track


def _write(folder, n=4000, rate=SAMPLE_RATE, lengths=None, channels=2, ext=".wav"):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for s in STEMS:
        m = (lengths or {}).get(s, n)
        sf.write(folder / f"{s}{ext}", rng.uniform(-0.5, 0.5, (m, channels)).astype(np.float32), rate)
    return folder


def test_check_track_describes_the_files(tmp_path):
    t = _write(tmp_path / "t", lengths={"bass": 3900}, ext=".flac")
    files = check_track(t)
    assert [p.name for p in files.stem_paths] == [f"{s}.flac" for s in STEMS]
    assert files.sample_rates == (SAMPLE_RATE,) * 4 and files.n_samples == 3900


def test_check_track_refuses_bad_layouts(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        check_track(tmp_path / "nope")
    t = _write(tmp_path / "missing")
    (t / "drums.wav").unlink()
    with pytest.raises(DatasetError, match="missing drums.wav"):
        check_track(t)
    with pytest.raises(DatasetError, match="differ in length"):
        check_track(_write(tmp_path / "len", n=20000, lengths={"other": 10000}))
    with pytest.raises(DatasetError, match="3 channels"):
        check_track(_write(tmp_path / "ch", channels=3))
    t = _write(tmp_path / "corrupt")
    (t / "vocals.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(DatasetError, match="cannot read audio"):
        check_track(t)


def test_read_track_cuts_to_the_shortest_and_sums_a_missing_mixture(tmp_path):
    t = _write(tmp_path / "t", lengths={"vocals": 3990})
    tr = read_track(t)
    assert set(tr) == {*STEMS, "mixture"}
    assert all(v.shape == (3990, 2) and v.dtype == np.float32 for v in tr.values())
    np.testing.assert_allclose(tr["mixture"], sum(tr[s] for s in STEMS), atol=1e-6)


def test_list_tracks_skips_hidden_and_incomplete_folders(tmp_path):
    _write(tmp_path / "b")
    _write(tmp_path / "a")
    _write(tmp_path / ".a.tmp-1-x")
    (tmp_path / "c").mkdir()
    assert [p.name for p in list_tracks(tmp_path)] == ["a", "b"]
    assert list_tracks(tmp_path / "a") == [tmp_path / "a"]
    with pytest.raises(DatasetError, match="no track folders"):
        list_tracks(tmp_path / "c")
