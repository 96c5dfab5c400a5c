"""The tile store: exact round trips, atomic files, and refusing another run's tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoppp.errors import GeopppError, TileStoreError
from geoppp.geo.tilestore import TileOutput, TileStore, file_identity, file_sha256

IDENTITY = {"step": {"kind": "plug_and_play", "seed": 0}, "models": {"prior": "abc"}}


def test_outputs_come_back_bit_for_bit(tmp_path: Path) -> None:
    store = TileStore.open(tmp_path / "run.tiles", IDENTITY)
    rng = np.random.default_rng(0)
    values = rng.random((5, 40, 30), dtype=np.float32)
    values[0, 0, 0] = np.nan
    answered = rng.random((40, 30)) > 0.2
    store.save((3, 4), TileOutput(values, answered))
    store.save((0, 1), None)
    loaded = store.load((3, 4))
    assert loaded is not None
    assert loaded.values.dtype == np.float32
    assert loaded.values.tobytes() == values.tobytes()
    np.testing.assert_array_equal(loaded.answered, answered)
    assert store.load((0, 1)) is None
    assert store.has((3, 4)) and store.has((0, 1)) and not store.has((0, 0))
    assert store.count() == 2
    assert not list(store.folder.glob(".partial-*"))


def test_the_same_run_reopens_its_store(tmp_path: Path) -> None:
    folder = tmp_path / "run.tiles"
    TileStore.open(folder, IDENTITY).save((0, 0), None)
    assert TileStore.open(folder, dict(IDENTITY)).has((0, 0))


def test_another_run_is_refused_naming_what_changed(tmp_path: Path) -> None:
    folder = tmp_path / "run.tiles"
    TileStore.open(folder, IDENTITY).save((0, 0), None)
    changed = {**IDENTITY, "models": {"prior": "def"}}
    with pytest.raises(TileStoreError, match=r"changed: models.*--restart") as caught:
        TileStore.open(folder, changed)
    assert isinstance(caught.value, GeopppError) and isinstance(caught.value, OSError)
    assert str(folder) in str(caught.value)


def test_restart_discards_the_earlier_tiles(tmp_path: Path) -> None:
    folder = tmp_path / "run.tiles"
    TileStore.open(folder, IDENTITY).save((0, 0), None)
    store = TileStore.open(folder, {**IDENTITY, "models": {}}, restart=True)
    assert store.count() == 0


def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    with pytest.raises(TileStoreError, match="not a geoppp tile store"):
        TileStore.open(folder, IDENTITY)


def test_a_missing_tile_says_how_to_recover(tmp_path: Path) -> None:
    store = TileStore.open(tmp_path / "run.tiles", IDENTITY)
    with pytest.raises(TileStoreError, match=r"missing.*file system.*again"):
        store.load((1, 1))


def test_file_identity_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"one")
    before, digest = file_identity(path), file_sha256(path)
    path.write_bytes(b"three")
    assert file_identity(path) != before
    assert file_sha256(path) != digest
