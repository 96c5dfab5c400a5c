"""Benchmark: the weak-argmax pipeline against a plain rasterio windowed copy, side by side.

For each raster size, writes a 4-band uint8 GeoTIFF (1 m, UTM 17N, a nodata corner) and a
30 m NLCD raster in EPSG:5070 over it, then runs, each in its own process and alternating:
  * a plain rasterio windowed read-and-write copy of the imagery (tiled, deflate), and
  * `geoppp run` of a weak-argmax pipeline on it (class map, tiled, deflate),
and reports wall time, megapixels per second and peak RSS of each, beside the peak RSS of
`python -c "import rasterio"` (the floor every process pays) measured in the same run.

Peak RSS is the process's own VmHWM (/proc/self/status): `ru_maxrss` survives exec on Linux,
so a child's would count this process's memory (the imagery written here) as its own.

    python tests/benchmarks/bench_weak_argmax.py --sizes 16384 32768 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

UTM_17N, CONUS_ALBERS = "EPSG:32617", "EPSG:5070"
NLCD_CODES = np.array([11, 21, 22, 23, 24, 31, 41, 43, 81, 82], dtype=np.uint8)


def write_imagery(path: Path, size: int, seed: int = 0) -> None:
    """A compressible but non-trivial 4-band image, written strip by strip (bounded memory)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 220, (4, size // 64 + 1, size // 64 + 1), dtype=np.uint8)
    transform = Affine(1.0, 0.0, 584_000.0, 0.0, -1.0, 4_478_000.0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint8",
        crs=UTM_17N,
        transform=transform,
        nodata=0,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        photometric="RGB",
        alpha="UNSPECIFIED",
        BIGTIFF="YES",
    ) as dataset:
        strip = 1024
        for row in range(0, size, strip):
            height = min(strip, size - row)
            rows = (np.arange(row, row + height) // 64)[:, None]
            cols = (np.arange(size) // 64)[None, :]
            block = coarse[:, rows, cols] + rng.integers(0, 8, (4, height, size), dtype=np.uint8)
            corner = (np.arange(row, row + height)[:, None] + np.arange(size)[None, :]) > 1.9 * size
            block[:, corner] = 0
            dataset.write(block, window=Window(0, row, size, height))


def write_nlcd(path: Path, imagery: Path, seed: int = 0) -> None:
    with rasterio.open(imagery) as image:
        transform, width, height = calculate_default_transform(
            image.crs, CONUS_ALBERS, image.width, image.height, *image.bounds, resolution=30.0
        )
    codes = np.random.default_rng(seed).choice(NLCD_CODES, size=(height, width))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs=CONUS_ALBERS,
        transform=transform,
        nodata=0,
    ) as dataset:
        dataset.write(codes[np.newaxis])


REGION = """\
name: bench
imagery: {{paths: [imagery.tif], bands: [1, 2, 3, 4]}}
classes:
  classes:
    - {{value: 1, name: water, colour: "#0000ff"}}
    - {{value: 2, name: impervious, colour: "#808080"}}
    - {{value: 3, name: barren, colour: "#c2a36b"}}
    - {{value: 4, name: trees, colour: "#008000"}}
    - {{value: 5, name: grass, colour: "#80ff80"}}
weak_labels:
  - kind: class_codes
    path: nlcd.tif
    table: {{11: water, 21: grass, 22: impervious, 23: impervious, 24: impervious,
             31: barren, 41: trees, 43: trees, 81: grass, 82: grass}}
"""

PIPELINE = """\
region: region.yaml
execution: {{workers: 2, batch_size: 4}}
steps:
  - name: weak-argmax
    kind: weak_argmax
    tile_size: 1024
    halo: {halo}
    outputs: {{class_map: out/map-{halo}.tif, overwrite: true}}
"""

COPY = textwrap.dedent(
    """
    import sys, time
    import rasterio
    source, target = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20), rasterio.open(source) as src:
        profile = src.profile | {"tiled": True, "blockxsize": 512, "blockysize": 512,
                                 "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        with rasterio.open(target, "w", **profile) as dst:
            for _, window in src.block_windows(1):
                dst.write(src.read(window=window), window=window)
    print(time.perf_counter() - started, PEAK_KIB())
    """
)

IMPORT_RASTERIO = "import rasterio; print(0, PEAK_KIB())"

GEOPPP = textwrap.dedent(
    """
    import sys, time
    from geoppp.cli import main
    started = time.perf_counter()
    code = main(["run", sys.argv[1], "--no-progress"])
    assert code == 0, code
    print(time.perf_counter() - started, PEAK_KIB())
    """
)

PEAK = """
def PEAK_KIB():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""


def measure(script: str, *arguments: str) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``script`` run in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK + script, *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss_kib = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16384, 32768])
    parser.add_argument("--halos", type=int, nargs="+", default=[0, 64])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=None, help="scratch folder")
    arguments = parser.parse_args()
    scratch = arguments.folder or Path(tempfile.mkdtemp(prefix="geoppp-bench-"))
    results = []
    for size in arguments.sizes:
        folder = scratch / str(size)
        (folder / "out").mkdir(parents=True, exist_ok=True)
        imagery = folder / "imagery.tif"
        if not imagery.exists():
            started = time.perf_counter()
            write_imagery(imagery, size)
            print(f"wrote {size}² imagery in {time.perf_counter() - started:.0f} s", flush=True)
        write_nlcd(folder / "nlcd.tif", imagery)
        (folder / "region.yaml").write_text(REGION.format())
        megapixels = size * size / 1e6
        for repeat in range(arguments.repeats):
            copy_s, copy_rss = measure(COPY, str(imagery), str(folder / "out" / "copy.tif"))
            row = {
                "size": size,
                "repeat": repeat,
                "import_rasterio_rss_mib": measure(IMPORT_RASTERIO)[1],
                "copy_mpx_s": megapixels / copy_s,
                "copy_rss_mib": copy_rss,
            }
            for halo in arguments.halos:
                pipeline = folder / f"pipeline-{halo}.yaml"
                pipeline.write_text(PIPELINE.format(halo=halo))
                seconds, rss = measure(GEOPPP, str(pipeline))
                row[f"geoppp_halo{halo}_mpx_s"] = megapixels / seconds
                row[f"geoppp_halo{halo}_rss_mib"] = rss
                row[f"ratio_halo{halo}"] = (megapixels / seconds) / row["copy_mpx_s"]
            results.append(row)
            print(
                json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}),
                flush=True,
            )
    print(f"scratch folder: {scratch}")


if __name__ == "__main__":
    main()
