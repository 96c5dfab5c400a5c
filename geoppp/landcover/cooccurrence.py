"""P(high-resolution class | NLCD class): the real EnviroAtlas co-occurrence tables.

Four tables ship with geoppp (Pittsburgh PA, Durham NC, Austin TX, Phoenix AZ; Rolf et al.
2022), as CSV in ``geoppp/landcover/data/cooccurrence`` with their source in the header.
Rows are the 11 EnviroAtlas classes, columns the NLCD codes. A table is folded into a class
scheme through each class's ``enviroatlas`` list.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from geoppp.landcover.schemes import ClassSchemeConfig

TABLES = resources.files("geoppp.landcover") / "data" / "cooccurrence"
NLCD_CODES = (0, 11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95)
"""NLCD class codes in the order of EnviroAtlas's 0-16 NLCD indices (0: no data)."""
UNCLASSIFIED = 0
ENVIROATLAS_CLASSES = 11
"""EnviroAtlas classes 0 (unclassified) to 10: the rows of a table."""


@dataclass(frozen=True)
class CooccurrenceTable:
    """``probabilities[k, j]`` = P(EnviroAtlas class k | NLCD code ``codes[j]``)."""

    name: str
    codes: tuple[int, ...]
    probabilities: np.ndarray

    def fold(
        self, scheme: ClassSchemeConfig, fallback: CooccurrenceTable | None = None
    ) -> dict[int, dict[int, float]]:
        """``{NLCD code: {class index: probability}}`` for the classes of ``scheme``.

        The unclassified row is dropped and each column renormalised. A code for which the
        table has no classified pixel (the city has no such NLCD class: Phoenix has no
        forest) is taken from ``fallback`` if it has it, else left out (no weak label).

        Raises:
            ValueError: a class of the scheme names no EnviroAtlas class.
        """
        missing = [item.name for item in scheme.classes if not item.enviroatlas]
        if missing:
            raise ValueError(
                f"classes {missing} of scheme {scheme.name or 'inline'} say nothing of which "
                "EnviroAtlas classes they hold (`enviroatlas: [...]`), so a co-occurrence "
                "table cannot be folded into them"
            )
        folded = np.stack(
            [self.probabilities[item.enviroatlas].sum(axis=0) for item in scheme.classes]
        )
        mapping = fallback.fold(scheme) if fallback is not None else {}
        for j, code in enumerate(self.codes):
            total = folded[:, j].sum()
            if code != 0 and total > 0:
                mapping[code] = {i: float(p / total) for i, p in enumerate(folded[:, j]) if p > 0}
        return mapping


def builtin_tables() -> list[str]:
    return sorted(e.name.removesuffix(".csv") for e in TABLES.iterdir() if e.name.endswith(".csv"))


def load_table(name_or_path: str | Path) -> CooccurrenceTable:
    """A built-in table (``pittsburgh_pa``, ``durham_nc``, ``austin_tx``, ``phoenix_az``) or
    a CSV file in the same format.

    Raises:
        ValueError: the name is neither a built-in table nor a readable CSV of that format.
    """
    if str(name_or_path) in builtin_tables():
        text = (TABLES / f"{name_or_path}.csv").read_text()
        name = str(name_or_path)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ValueError(
                f"co-occurrence table {str(name_or_path)!r} is neither a built-in table "
                f"{builtin_tables()} nor a CSV file"
            )
        text, name = path.read_text(), path.stem
    rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))
    if len(rows) < 2 or rows[0][:2] != ["class", "name"]:
        raise ValueError(
            f"co-occurrence table {name}: expected a `class,name,<codes>` header and rows "
            "of `<EnviroAtlas class>,<name>,<probabilities>`"
        )
    header, body = rows[0], rows[1:]
    codes = tuple(int(code) for code in header[2:])
    # Every EnviroAtlas class has a row (0 where the file gives none): a scheme may fold any.
    probabilities = np.zeros((ENVIROATLAS_CLASSES, len(codes)))
    for row in body:
        if len(row) != len(header) or not 0 <= int(row[0]) < ENVIROATLAS_CLASSES:
            raise ValueError(
                f"co-occurrence table {name}: row {row} should be an EnviroAtlas class "
                f"0-{ENVIROATLAS_CLASSES - 1}, a name and {len(codes)} probabilities"
            )
        probabilities[int(row[0])] = [float(value) for value in row[2:]]
    return CooccurrenceTable(name, codes, probabilities)


def mean_of_builtin_tables() -> CooccurrenceTable:
    """The four cities' tables averaged over the cities that have each NLCD class."""
    tables = [load_table(name) for name in builtin_tables()]
    stacked = np.stack([table.probabilities for table in tables])
    present = stacked[:, UNCLASSIFIED + 1 :].sum(axis=1, keepdims=True) > 0
    counts = np.maximum(present.sum(axis=0), 1)
    mean = (stacked * present).sum(axis=0) / counts
    return CooccurrenceTable("mean of " + ", ".join(builtin_tables()), tables[0].codes, mean)
