"""A durable record of finished tiles, so that an interrupted run continues where it stopped.

A tile store is a folder with one file per finished tile (the model's exact float32 output
over the tile's read window and the pixels it answered, or a marker for a tile skipped as
all nodata) and a manifest holding the identity of the run that fills it: the step's
configuration, the model's files, the input files and the tiling. Each file is written under
a temporary name, flushed to disk and renamed, so a file under its final name is always
complete, whether the run is stopped by Ctrl-C, ``kill -9`` or a lost machine. A store made
by a different run is refused rather than mixed into this one.

numpy's ``.npz`` holds the arrays bit for bit; no chunked-array library is needed for files
that are written once, whole, and read back whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geoppp.errors import TileStoreError

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class TileOutput:
    """A model's output for one tile, over its read window (padding cropped).

    Attributes:
        values: ``(C, H, W)`` float32.
        answered: ``(H, W)`` bool, the pixels that were not nodata and got a finite answer.
    """

    values: np.ndarray
    answered: np.ndarray


def file_identity(path: Path) -> dict[str, Any]:
    """What identifies an input file cheaply: its absolute path, size and modification time."""
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (for model files, whose content is what matters)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class TileStore:
    """The finished tiles of one run, in ``folder``; safe to share between processes.

    Only the folder's path travels with the object, so it may be sent to dask workers.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(cls, folder: Path, identity: Mapping[str, Any], restart: bool = False) -> TileStore:
        """Open the store in ``folder`` for the run ``identity`` (JSON-serialisable), making
        it if absent.

        Raises:
            TileStoreError: the folder holds the tiles of a different run (and ``restart``
                is not set), or is not a tile store.
        """
        wanted = json.loads(json.dumps({"format": FORMAT, **identity}, sort_keys=True))
        manifest = folder / MANIFEST
        if folder.exists() and restart:
            cls(folder).remove()
        if folder.exists():
            if not manifest.is_file():
                raise TileStoreError(
                    f"tile store folder {folder} exists but has no {MANIFEST}; it is not a "
                    "geoppp tile store: delete it or set `execution.tile_store` elsewhere"
                )
            found = json.loads(manifest.read_text())
            if found != wanted:
                changed = sorted(
                    key for key in set(found) | set(wanted) if found.get(key) != wanted.get(key)
                )
                raise TileStoreError(
                    f"tile store {folder} holds tiles of a different run (changed: "
                    f"{', '.join(changed)}); its tiles cannot be mixed into this map. Delete "
                    "the folder, or run with `--restart` to discard it"
                )
            return cls(folder)
        folder.mkdir(parents=True)
        _write_atomic(manifest, json.dumps(wanted, indent=1, sort_keys=True).encode())
        return cls(folder)

    def path_of(self, index: tuple[int, int]) -> Path:
        return self.folder / f"tile-{index[0]:06d}-{index[1]:06d}.npz"

    def has(self, index: tuple[int, int]) -> bool:
        return self.path_of(index).is_file()

    def count(self) -> int:
        """How many tiles are stored."""
        return sum(1 for _ in self.folder.glob("tile-*.npz"))

    def save(self, index: tuple[int, int], output: TileOutput | None) -> None:
        """Record tile ``index``'s output (``None``: skipped as all nodata), atomically."""
        arrays: dict[str, Any] = {"skipped": np.array(output is None)}
        if output is not None:
            arrays["values"] = np.ascontiguousarray(output.values, dtype=np.float32)
            arrays["answered"] = np.ascontiguousarray(output.answered, dtype=bool)
        # A name of its own per writer (a rerun of a lost worker's batch may overlap it);
        # open() rather than tempfile, so the file gets the user's umask, not 0600.
        temporary = self.folder / f".partial-{uuid.uuid4().hex}.npz"
        try:
            with temporary.open("xb") as file:
                np.savez(file, **arrays)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path_of(index))
        finally:
            temporary.unlink(missing_ok=True)

    def load(self, index: tuple[int, int]) -> TileOutput | None:
        """Tile ``index``'s recorded output; ``None`` for a tile skipped as all nodata."""
        path = self.path_of(index)
        try:
            with np.load(path) as stored:
                if bool(stored["skipped"]):
                    return None
                return TileOutput(stored["values"], stored["answered"])
        except FileNotFoundError as error:
            raise TileStoreError(
                f"tile {index} is missing from tile store {self.folder}. On a cluster the "
                "store must be on a file system every worker sees (`execution."
                "tile_store_folder`); else the folder was changed during the run: run the "
                "same command again to compute it"
            ) from error

    def remove(self) -> None:
        """Delete the store and everything in it."""
        shutil.rmtree(self.folder)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
