"""Benchmark: how fast the command line starts, beside `python -c "import rasterio"`.

Copies the checkout's `regions/` and `pipelines/` into a scratch folder, writes the demo
regions there (`geoppp make-demo-region`, once), then runs, each in a fresh process and
alternating, `repeats` times:
  * `python -c "import rasterio"` (the floor: Python, numpy and GDAL),
  * `python -m geoppp --help`,
  * `python -m geoppp validate pipelines/demo-transfer.yaml` (every step checked, nothing run),
and reports each one's wall time (from start to exit) and peak RSS, and their medians.

    PYTHONPATH=. python tests/benchmarks/bench_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def measure(command: list[str], folder: Path) -> tuple[float, float]:
    """(seconds from start to exit, peak RSS in MiB) of ``command``, run in ``folder``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command} exited with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None, help="scratch folder")
    arguments = parser.parse_args()
    scratch = arguments.folder or Path(tempfile.mkdtemp(prefix="geoppp-startup-"))
    for name in ("regions", "pipelines"):
        if not (scratch / name).exists():
            shutil.copytree(REPOSITORY / name, scratch / name)
    python = sys.executable
    if not (scratch / "demo-data" / "target" / "region.yaml").exists():
        measure([python, "-m", "geoppp", "make-demo-region", "--out", "demo-data"], scratch)
    commands = {
        "import rasterio": [python, "-c", "import rasterio"],
        "geoppp --help": [python, "-m", "geoppp", "--help"],
        "geoppp validate": [python, "-m", "geoppp", "validate", "pipelines/demo-transfer.yaml"],
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for repeat in range(arguments.repeats):
        row: dict[str, object] = {"repeat": repeat}
        for name, command in commands.items():
            seconds, rss = measure(command, scratch)
            runs[name].append((seconds, rss))
            row[name] = f"{seconds:.2f} s {rss:.0f} MiB"
        print(json.dumps(row), flush=True)
    medians = {
        name: {
            "seconds": round(statistics.median(s for s, _ in values), 2),
            "rss_mib": round(statistics.median(r for _, r in values)),
        }
        for name, values in runs.items()
    }
    print("medians:", json.dumps(medians))
    print(f"scratch folder: {scratch}")


if __name__ == "__main__":
    main()
