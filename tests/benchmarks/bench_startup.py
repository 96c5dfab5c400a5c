"""Benchmark: how fast the command line starts, beside `python -c "import rasterio"`.

Copies the checkout's `regions/` and `pipelines/` into a scratch folder, writes the demo
regions there (`geoppp make-demo-region`, once), then runs, each in a fresh process and
alternating, `repeats` times:
  * `python -c "import rasterio"` (the floor: Python, numpy and GDAL),
  * `python -m geoppp --help`,
  * `python -m geoppp validate pipelines/demo-transfer.yaml` (every step checked, nothing run),
and reports each one's wall time (from start to exit) and peak RSS (the process's own VmHWM,
read at exit: `ru_maxrss` survives exec on Linux and would count this process's memory too),
and their medians.

    PYTHONPATH=. python tests/benchmarks/bench_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


# Runs Python code (-c CODE) or a module (-m NAME ARGS...) as `python` would, then prints the
# process's peak RSS (kB) on stderr's last line.
SHIM = """
import atexit, runpy, sys

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print(line.split()[1], file=sys.stderr)

atexit.register(peak)
flag, target, *sys.argv[1:] = sys.argv[1:]
if flag == "-c":
    exec(compile(target, "<string>", "exec"))
else:
    sys.argv[0] = target
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def measure(arguments: list[str], folder: Path) -> tuple[float, float]:
    """(seconds from start to exit, peak RSS in MiB) of ``python ARGUMENTS`` in ``folder``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SHIM, *arguments],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"python {' '.join(arguments)} exited with {done.returncode}")
    return seconds, int(done.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None, help="scratch folder")
    arguments = parser.parse_args()
    scratch = arguments.folder or Path(tempfile.mkdtemp(prefix="geoppp-startup-"))
    for name in ("regions", "pipelines"):
        if not (scratch / name).exists():
            shutil.copytree(REPOSITORY / name, scratch / name)
    if not (scratch / "demo-data" / "target" / "region.yaml").exists():
        measure(["-m", "geoppp", "make-demo-region", "--out", "demo-data"], scratch)
    commands = {
        "import rasterio": ["-c", "import rasterio"],
        "geoppp --help": ["-m", "geoppp", "--help"],
        "geoppp validate": ["-m", "geoppp", "validate", "pipelines/demo-transfer.yaml"],
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
