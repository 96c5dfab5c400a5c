"""The QGIS plugin in a real QGIS: `geoppp qgis-plugin install` into a fresh profile, then
QGIS's own Python (tests/qgis_session.py) loads it and runs its algorithms through
Processing, and ``qgis_process`` runs one headless. Skipped where QGIS is not installed
(`.ci/run` installs it from Debian when it can)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from geoppp import api
from geoppp.cli import main
from geoppp.qgis_plugin.bridge import clean_environment

pytestmark = pytest.mark.qgis

QGIS_PYTHON = os.environ.get("GEOPPP_QGIS_PYTHON", "/usr/bin/python3")
"""The Python QGIS's bindings are installed for (Debian's python3-qgis: the system one)."""

SESSION = Path(__file__).with_name("qgis_session.py")
REPOSITORY = Path(__file__).resolve().parents[1]
ALGORITHMS = {"geoppp:map_region", "geoppp:run_pipeline", "geoppp:transfer", "geoppp:evaluate"}


@dataclass(frozen=True)
class QgisSetup:
    """A demo region and a QGIS profile with the plugin installed."""

    folder: Path
    region: Path
    imagery: Path
    profile: Path
    environment: dict[str, str]


def _qgis_missing() -> str | None:
    """Why QGIS cannot be tested here, or None."""
    if shutil.which(QGIS_PYTHON) is None:
        return f"no {QGIS_PYTHON} (set GEOPPP_QGIS_PYTHON to QGIS's Python)"
    check = subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        text=True,
        env=clean_environment(),
        check=False,
    )
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["failed"])[-1]
        return f"QGIS is not installed for {QGIS_PYTHON} (`import qgis.core`: {last})"
    return None


@pytest.fixture(scope="module")
def qgis(tmp_path_factory: pytest.TempPathFactory) -> QgisSetup:
    reason = _qgis_missing()
    if reason is not None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("qgis")
    files = api.make_demo_region(folder / "region", "target", size=128)
    # The plugin runs geoppp with the Python it is given; this one sees this checkout's
    # geoppp whatever the environment's install points at.
    python = folder / "geoppp-python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={REPOSITORY} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    base = folder / "qgis-config"
    profile = base / "profiles" / "default"
    assert main(["qgis-plugin", "install", "--profile", str(profile), "--python", str(python)]) == 0
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700)
    environment = {
        **clean_environment(),
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_CUSTOM_CONFIG_PATH": str(base),  # where qgis_process finds its profiles
        "XDG_RUNTIME_DIR": str(runtime),
    }
    return QgisSetup(folder, files.region_yaml, files.imagery, profile, environment)


@pytest.fixture(scope="module")
def session(qgis: QgisSetup) -> dict[str, Any]:
    """What tests/qgis_session.py saw in QGIS (one QGIS start for all its checks)."""
    config = qgis.folder / "session.json"
    config.write_text(
        json.dumps(
            {
                "profile": str(qgis.profile),
                "region": str(qgis.region),
                "imagery": str(qgis.imagery),
                "work": str(qgis.folder / "work"),
            }
        )
    )
    finished = subprocess.run(
        [QGIS_PYTHON, str(SESSION), str(config)],
        capture_output=True,
        text=True,
        env=qgis.environment,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:] + finished.stdout[-4000:]
    report: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return report


def test_the_provider_lists_geoppps_algorithms(session: dict[str, Any]) -> None:
    algorithms = session["algorithms"]
    assert set(algorithms) == ALGORITHMS
    assert algorithms["geoppp:map_region"]["parameters"] == [
        "REGION",
        "METHOD",
        "PRIOR",
        "STEPS",
        "OUTPUT",
        "PROBABILITIES",
    ]
    transfer = algorithms["geoppp:transfer"]
    assert transfer["parameters"] == ["SOURCE", "TARGET", "PRIOR", "STEPS", "OUTPUT_FOLDER"]
    assert "OUTPUTS" in transfer["outputs"]
    assert {"ACCURACY", "MIOU", "OUTPUT"} <= set(algorithms["geoppp:evaluate"]["outputs"])


def test_a_mapped_region_loads_with_the_schemes_colours_and_names(
    qgis: QgisSetup, session: dict[str, Any]
) -> None:
    mapped = session["map_region"]
    imagery = mapped["imagery"]
    class_map = mapped["loaded"]["landcover.tif"]
    assert class_map["valid"] and class_map["bands"] == 1
    assert class_map["crs"] == imagery["crs"] == "EPSG:32612"
    assert class_map["extent"] == pytest.approx(imagery["extent"])
    assert class_map["size"] == imagery["size"] == [128, 128]
    scheme = api.load_region(qgis.region).classes.classes
    assert class_map["renderer"] == "paletted"
    assert class_map["classes"] == [[item.value, item.colour, item.name] for item in scheme]
    probabilities = mapped["loaded"]["probabilities.tif"]
    assert probabilities["valid"] and probabilities["bands"] == len(scheme)
    assert mapped["progress"][-1] == 100
    assert "wrote" in mapped["log"]


def test_evaluate_gives_a_table_of_scores(qgis: QgisSetup, session: dict[str, Any]) -> None:
    scores = api.evaluate(qgis.region, session["map_region"]["results"]["OUTPUT"])
    table = session["evaluate"]
    assert table["accuracy"] == pytest.approx(scores.accuracy)
    names = api.load_region(qgis.region).classes.names
    assert [row[0] for row in table["rows"]] == ["accuracy", "mIoU"] + [f"IoU {n}" for n in names]
    assert table["rows"][1][1] == pytest.approx(scores.miou)


def test_a_pipeline_returns_its_class_maps_to_load(session: dict[str, Any]) -> None:
    pipeline = session["pipeline"]
    [class_map] = pipeline["outputs"]
    assert Path(class_map).name == "weak.tif" and Path(class_map).is_file()
    assert pipeline["to_load"] == {class_map: "weak"}


def test_cancelling_stops_geoppp_and_leaves_nothing(session: dict[str, Any]) -> None:
    cancelled = session["cancel"]
    assert cancelled["cancelled"] and "cancelled" in cancelled["error"]
    assert "tile store" in cancelled["log"]  # it was computing when cancelled
    assert cancelled["stopped_after"] < 20
    assert cancelled["left"] == []


def _qgis_process() -> str | None:
    found = shutil.which("qgis_process")
    if found is None:
        return None
    # Debian's qgis_process 3.22 is a wrapper passing an option qgis_process rejects
    # ("Command --noversioncheck not known!", qgis/QGIS#57683); the binary beside it works.
    binary = Path(found).with_name("qgis_process.bin")
    return str(binary) if binary.is_file() else found


def test_qgis_process_maps_a_region_headless(qgis: QgisSetup) -> None:
    executable = _qgis_process()
    if executable is None:
        pytest.skip("QGIS is installed without qgis_process")
    out = qgis.folder / "qgis_process" / "landcover.tif"
    out.parent.mkdir()
    finished = subprocess.run(
        [
            executable,
            "--json",
            "run",
            "geoppp:map_region",
            "--",
            f"REGION={qgis.region}",
            "METHOD=1",
            f"OUTPUT={out}",
        ],
        capture_output=True,
        text=True,
        env=qgis.environment,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:] + finished.stdout[-4000:]
    report = json.loads(finished.stdout)
    assert report["results"]["OUTPUT"] == str(out)
    assert any(line.strip() == f"wrote {out}" for line in report["log"]["info"])
    assert out.is_file() and out.with_suffix(".qml").is_file()
