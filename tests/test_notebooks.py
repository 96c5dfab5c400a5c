"""Every notebook runs, on tiny settings, so that none rots.

Each notebook has a cell tagged ``parameters`` (papermill's convention); the test runs a cell
of small settings right after it, then every cell in order, in a fresh kernel.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"

TINY = {
    "quickstart.ipynb": "SIZE = 160\nSTEPS = 2",
    "bring-your-own-region.ipynb": "STEPS = 2",
    "tsp.ipynb": "N = 12\nSTEPS = 2",
    "digits.ipynb": "N = 2\nSTEPS = 2",
}


def test_every_notebook_has_tiny_settings() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    [position] = [
        i
        for i, cell in enumerate(notebook.cells)
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    notebook.cells.insert(position + 1, nbformat.v4.new_code_cell(TINY[name]))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, "a notebook shows its maps"
