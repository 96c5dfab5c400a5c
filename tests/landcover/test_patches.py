"""Training patches for the prior: averaging to a gsd, channels, sampling, augmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from geoppp.landcover.coarsen import GsdError, coarsen
from geoppp.landcover.normalisation import (
    Normalisation,
    PatchError,
    array_statistics,
    band_statistics,
)
from geoppp.landcover.patches import (
    PatchLayout,
    PatchWindow,
    RegionPatches,
    band_means,
    class_frequencies,
    dihedral,
)
from geoppp.landcover.synthetic.region import DemoRegion, make_demo_region
from tests.rasters import PITTSBURGH_UTM, random_image, write_raster

BANDS = [1, 2, 3, 4]
DEMO_CLASSES = {value: value - 1 for value in range(1, 6)}  # enviroatlas-5 values 1..5


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRegion:
    return make_demo_region(tmp_path_factory.mktemp("demo"), domain="source", size=256, seed=0)


def demo_patches(demo: DemoRegion, **options: Any) -> RegionPatches:
    settings: dict[str, Any] = {"gsd": 4.0, "size": 16} | options
    return RegionPatches([demo.imagery], BANDS, [demo.labels], DEMO_CLASSES, 5, **settings)


def block_mean(array: np.ndarray, weights: np.ndarray, factor: int) -> np.ndarray:
    """Weighted mean of ``(..., H, W)`` over ``factor`` blocks, by hand."""
    *lead, h, w = array.shape
    shape = (*lead, h // factor, factor, w // factor, factor)
    sums = (array * weights).reshape(shape).sum(axis=(-3, -1))
    return sums / weights.reshape(shape[-4:]).sum(axis=(-3, -1))


# ---------------------------------------------------------------- normalisation


def test_normalisation_maps_sigmas_to_one_and_inverts() -> None:
    norm = Normalisation((100.0, 10.0), (20.0, 2.0))
    image = np.array([[[100.0, 160.0, 40.0, 500.0]], [[10.0, 16.0, 4.0, 11.0]]])
    out = norm.apply(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.array([[[0, 1, -1, 1]], [[0, 1, -1, 1 / 6]]]), atol=1e-6)
    # 500 was clipped: it comes back at mean + 3 std.
    expected = image.copy()
    expected[0, 0, 3] = 160.0
    np.testing.assert_allclose(norm.invert(out), expected, atol=1e-4)
    assert Normalisation.from_dict(norm.to_dict()) == norm
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, H, W\)"):
        norm.apply(np.zeros((3, 4, 4)))


def test_band_statistics_ignore_nodata(tmp_path: Path) -> None:
    image = random_image(40, 50, bands=2, seed=1)
    image[:, :10] = 0
    image[0, 20:, 30:] = 0  # nodata only where all bands are: these pixels stay valid
    path = write_raster(tmp_path / "image.tif", image, nodata=0)
    valid = ~np.all(image == 0, axis=0)
    expected = image[:, valid].astype(np.float64)
    stats = band_statistics([path], [1, 2])
    np.testing.assert_allclose(stats.mean, expected.mean(axis=1))
    np.testing.assert_allclose(stats.std, expected.std(axis=1))
    # The same pixels in memory.
    assert array_statistics([image], [valid]) == stats
    # Nodata the file does not declare, given by the caller.
    undeclared = write_raster(tmp_path / "undeclared.tif", image)
    assert band_statistics([undeclared], [1, 2], nodata=0) == stats
    # Two files pool their pixels.
    pooled = band_statistics([path, path], [1, 2])
    np.testing.assert_allclose(pooled.mean, stats.mean)


def test_band_statistics_read_large_files_decimated(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    image = rng.normal(120, 15, (1, 600, 600)).clip(1, 255).astype(np.uint8)
    path = write_raster(tmp_path / "image.tif", image, nodata=0)
    decimated = band_statistics([path], [1], max_pixels=10_000)
    assert decimated.mean[0] == pytest.approx(image.mean(), abs=1.0)
    assert decimated.std[0] == pytest.approx(image.std(), rel=0.05)


def test_band_statistics_of_nothing_valid(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "empty.tif", np.zeros((1, 8, 8), np.uint8), nodata=0)
    with pytest.raises(PatchError, match=r"no valid pixel .*empty\.tif"):
        band_statistics([path], [1])
    with pytest.raises(PatchError, match="no valid pixel in 1 image"):
        array_statistics([np.ones((1, 8, 8))], [np.zeros((8, 8), bool)])


# ---------------------------------------------------------------- averaging to a gsd


def hand_made(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """8 × 8 m at 1 m: two uint16 bands with a nodata pixel, and labels with unknown codes."""
    rng = np.random.default_rng(3)
    image = rng.integers(1, 1000, (2, 8, 8)).astype(np.uint16)
    image[:, 1, 2] = 0
    codes = rng.choice(np.array([10, 20, 30], np.uint8), (8, 8))
    codes[5, 5], codes[6, 1] = 99, 0  # not in the table, nodata
    imagery = write_raster(tmp_path / "image.tif", image, nodata=0)
    labels = write_raster(tmp_path / "labels.tif", codes, nodata=0)
    return imagery, labels, image, codes


TABLE = {10: 0, 20: 1, 30: 2}


def test_gsd_averages_valid_pixels_and_class_fractions(tmp_path: Path) -> None:
    imagery, labels, image, codes = hand_made(tmp_path)
    norm = Normalisation((500.0, 500.0), (1000.0, 1000.0))  # no clipping
    patches = RegionPatches(
        [imagery], [1, 2], [labels], TABLE, 3, gsd=4.0, size=2, max_invalid=0.5,
        normalisation=norm,
    )  # fmt: skip
    assert patches.cells(0) == (2, 2)
    assert len(patches) == 1
    patch = patches.patch(PatchWindow(0, 0, 0)).numpy()
    assert patch.shape == (5, 2, 2)

    image_valid = (image != 0).all(axis=0).astype(np.float64)
    np.testing.assert_allclose(
        norm.invert(patch[:2]), block_mean(image.astype(np.float64), image_valid, 4), rtol=1e-5
    )
    classes = np.vectorize(lambda code: TABLE.get(code, -1))(codes)
    labelled = (classes >= 0).astype(np.float64)
    one_hot = np.stack([classes == index for index in range(3)]).astype(np.float64)
    np.testing.assert_allclose((patch[2:] + 1) / 2, block_mean(one_hot, labelled, 4), atol=1e-6)
    # 3 of 64 fine pixels are nodata or unlabelled.
    assert patches.invalid_fraction(PatchWindow(0, 0, 0)) == pytest.approx(3 / 64)


def test_gsd_that_is_not_a_multiple_of_the_pixel(tmp_path: Path) -> None:
    image = np.full((1, 12, 12), 50, np.uint8)
    imagery = write_raster(tmp_path / "image.tif", image, nodata=0)
    labels = write_raster(tmp_path / "labels.tif", np.full((12, 12), 20, np.uint8))
    coarse = coarsen(imagery, [1], 1.5, labels=None)
    assert coarse.grid.factor == 2
    assert (coarse.grid.height, coarse.grid.width) == (8, 8)
    assert coarse.grid.transform.a == pytest.approx(1.5)
    assert coarse.image is not None
    np.testing.assert_allclose(coarse.image, 50)
    np.testing.assert_allclose(coarse.valid, 1)
    patches = RegionPatches([imagery], [1], [labels], TABLE, 3, gsd=1.5, size=8, mode="labels")
    patch = patches.patch(PatchWindow(0, 0, 0)).numpy()
    np.testing.assert_array_equal(
        patch, np.stack([-np.ones((8, 8)), np.ones((8, 8)), -1 + 0 * patch[0]])
    )


def test_gsd_refuses_degrees(tmp_path: Path) -> None:
    transform = Affine(1e-5, 0, -80.0, 0, -1e-5, 40.0)
    path = write_raster(
        tmp_path / "wgs84.tif", np.ones((1, 8, 8), np.uint8), crs="EPSG:4326", transform=transform
    )
    with pytest.raises(GsdError, match="geographic"):
        coarsen(path, [1], 4.0)


# ---------------------------------------------------------------- channels


def test_joint_patches_on_the_demo_region(demo: DemoRegion) -> None:
    patches = demo_patches(demo, band_names=["red", "green", "blue", "nir"])
    layout = patches.layout
    assert patches.channels == layout.channels == 9
    assert PatchLayout.from_dict(layout.to_dict()) == layout
    assert layout.to_dict()["band_names"] == ["red", "green", "blue", "nir"]
    batch = patches.sample(16, torch.Generator().manual_seed(0))
    assert batch.shape == (16, 9, 16, 16)
    assert batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    np.testing.assert_allclose(((batch[:, 4:] + 1) / 2).sum(dim=1), 1.0, atol=1e-5)

    # The image channels are the 4 m averages of the valid 1 m pixels, normalised.
    with rasterio.open(demo.imagery) as dataset:
        image = dataset.read().astype(np.float64)
    window = patches.sample_windows(1, torch.Generator().manual_seed(1))[0]
    rows = slice(window.row * 4, (window.row + 16) * 4)
    cols = slice(window.col * 4, (window.col + 16) * 4)
    crop = image[:, rows, cols]
    expected = block_mean(crop, (crop != 0).all(axis=0).astype(np.float64), 4)
    normalised = patches.patch(window).numpy()[:4]
    assert layout.normalisation is not None
    unclipped = np.abs(normalised) < 1
    assert unclipped.mean() > 0.9
    np.testing.assert_allclose(
        layout.normalisation.invert(normalised)[unclipped], expected[unclipped], rtol=1e-4
    )


def test_label_patches_on_the_demo_region(demo: DemoRegion) -> None:
    patches = demo_patches(demo, mode="labels", class_names=["w", "i", "b", "t", "g"])
    assert patches.channels == 5
    assert patches.layout.normalisation is None
    assert patches.layout.to_dict()["class_names"] == ["w", "i", "b", "t", "g"]
    batch = patches.sample(16, torch.Generator().manual_seed(0))
    assert batch.shape == (16, 5, 16, 16)
    assert batch.min() >= -1 and batch.max() <= 1
    np.testing.assert_allclose(((batch + 1) / 2).sum(dim=1), 1.0, atol=1e-5)
    # Mostly pure cells: many values sit at -1 or 1.
    assert torch.isclose(batch.abs(), torch.tensor(1.0)).float().mean() > 0.5


# ---------------------------------------------------------------- sampling


def one_window_region(tmp_path: Path) -> RegionPatches:
    """32 × 32 m of noise at 4 m: a single 8 × 8 window, so every sample is an augmentation."""
    image = random_image(32, 32, bands=2, seed=4)
    codes = np.random.default_rng(5).choice(np.array([10, 20, 30], np.uint8), (32, 32))
    imagery = write_raster(tmp_path / "image.tif", image, nodata=0)
    labels = write_raster(tmp_path / "labels.tif", codes)
    return RegionPatches([imagery], [1, 2], [labels], TABLE, 3, gsd=4.0, size=8)


def test_flips_and_rotations(tmp_path: Path) -> None:
    patches = one_window_region(tmp_path)
    assert len(patches) == 1
    base = patches.patch(PatchWindow(0, 0, 0))
    variants = [dihedral(base, s) for s in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in variants}) == 8
    batch = patches.sample(64, torch.Generator().manual_seed(0))
    seen = set()
    for sample in batch:
        matches = [s for s, v in enumerate(variants) if torch.equal(sample, v)]
        assert len(matches) == 1
        seen.add(matches[0])
        # The same values, permuted, in every channel.
        np.testing.assert_array_equal(
            np.sort(sample.flatten(1).numpy(), axis=1), np.sort(base.flatten(1).numpy(), axis=1)
        )
    assert seen == set(range(8))


def test_sampling_is_deterministic_under_the_generator(demo: DemoRegion) -> None:
    patches = demo_patches(demo)
    first = patches.sample(8, torch.Generator().manual_seed(7))
    again = patches.sample(8, torch.Generator().manual_seed(7))
    other = patches.sample(8, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_patches_in_the_nodata_collar_are_rejected(demo: DemoRegion) -> None:
    patches = demo_patches(demo, max_invalid=0.0)
    with rasterio.open(demo.imagery) as dataset:
        valid = dataset.read_masks(1) > 0
    positions = (64 - 16 + 1) ** 2
    assert 0 < len(patches) < positions  # the collar rules some windows out
    windows = patches.sample_windows(200, torch.Generator().manual_seed(0))
    for window in windows:
        assert patches.invalid_fraction(window) == 0.0
        rows = slice(window.row * 4, (window.row + 16) * 4)
        cols = slice(window.col * 4, (window.col + 16) * 4)
        assert valid[rows, cols].all()
    lenient = demo_patches(demo, max_invalid=0.05)
    assert len(lenient) >= len(patches)
    for window in lenient.sample_windows(200, torch.Generator().manual_seed(0)):
        assert lenient.invalid_fraction(window) <= 0.05


def test_an_all_nodata_region_says_what_is_wrong(tmp_path: Path) -> None:
    imagery = write_raster(tmp_path / "image.tif", np.zeros((2, 64, 64), np.uint8), nodata=0)
    labels = write_raster(tmp_path / "labels.tif", np.zeros((64, 64), np.uint8), nodata=0)
    with pytest.raises(PatchError, match=r"(?s)image\.tif.*labels\.tif: 16×16 cells, 0% valid"):
        RegionPatches([imagery], [1, 2], [labels], TABLE, 3, gsd=4.0, size=8, mode="labels")
    with pytest.raises(PatchError, match=r"no valid pixel .*image\.tif"):
        RegionPatches([imagery], [1, 2], [labels], TABLE, 3, gsd=4.0, size=8)


def test_a_region_smaller_than_a_patch(tmp_path: Path) -> None:
    imagery = write_raster(tmp_path / "image.tif", random_image(64, 64, bands=1), nodata=0)
    labels = write_raster(tmp_path / "labels.tif", np.full((64, 64), 10, np.uint8))
    with pytest.raises(PatchError, match=r"16×16 cells, smaller than a patch"):
        RegionPatches([imagery], [1], [labels], TABLE, 3, gsd=4.0, size=64)


def test_unlabelled_codes_count_as_invalid(tmp_path: Path) -> None:
    imagery = write_raster(tmp_path / "image.tif", random_image(64, 64, bands=1), nodata=0)
    labels = write_raster(tmp_path / "labels.tif", np.full((64, 64), 99, np.uint8))
    with pytest.raises(PatchError, match="label table"):
        RegionPatches([imagery], [1], [labels], TABLE, 3, gsd=4.0, size=8)


def test_several_files_and_a_lookup_array(tmp_path: Path) -> None:
    paths = []
    for index in range(2):
        transform = Affine(1, 0, PITTSBURGH_UTM[0] + 1000 * index, 0, -1, PITTSBURGH_UTM[1])
        image = random_image(32 * (index + 1), 32, bands=1, seed=index)
        imagery = write_raster(tmp_path / f"i{index}.tif", image, transform=transform, nodata=0)
        codes = np.full(image.shape[1:], 20, np.uint8)
        labels = write_raster(tmp_path / f"l{index}.tif", codes, transform=transform)
        paths.append((imagery, labels))
    lookup = np.full(256, -1)
    lookup[[10, 20, 30]] = [0, 1, 2]
    patches = RegionPatches(
        [p[0] for p in paths], [1], [p[1] for p in paths], lookup, 3, gsd=4.0, size=8
    )
    assert [patches.cells(i) for i in range(2)] == [(8, 8), (16, 8)]
    assert len(patches) == 1 + 9
    files = {w.file for w in patches.sample_windows(100, torch.Generator().manual_seed(0))}
    assert files == {0, 1}
    assert [w.file for w in patches.windows()] == [0, 1, 1]


def test_invalid_arguments(tmp_path: Path) -> None:
    imagery, labels, _, _ = hand_made(tmp_path)
    with pytest.raises(ValueError, match="one label raster per imagery file"):
        RegionPatches([imagery], [1], [], TABLE, 3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        RegionPatches([imagery], [1], [labels], {10: 3}, 3, size=2)
    with pytest.raises(ValueError, match="max_invalid"):
        RegionPatches([imagery], [1], [labels], TABLE, 3, max_invalid=1.0)


# ---------------------------------------------------------------- comparing patches


def test_all_patches_and_their_statistics(demo: DemoRegion) -> None:
    patches = demo_patches(demo)
    windows = patches.windows()
    assert windows == patches.windows()
    assert all(w.row % 16 == 0 and w.col % 16 == 0 for w in windows)
    batches = list(patches.all_patches(batch_size=4))
    assert [len(b) for b in batches[:-1]] == [4] * (len(batches) - 1)
    training = torch.cat(batches)
    assert len(training) == len(windows)
    frequencies = class_frequencies(training, patches.layout)
    assert frequencies.shape == (5,)
    assert frequencies.sum() == pytest.approx(1.0)
    with rasterio.open(demo.labels) as dataset:
        labels = dataset.read(1)
    truth = np.bincount(labels[labels > 0] - 1, minlength=5) / (labels > 0).sum()
    np.testing.assert_allclose(frequencies, truth, atol=0.08)
    means = band_means(training, patches.layout, image_units=True)
    with rasterio.open(demo.imagery) as dataset:
        image = dataset.read()
    valid = (image != 0).all(axis=0)
    np.testing.assert_allclose(means, image[:, valid].mean(axis=1), rtol=0.1)


def test_class_frequencies_and_band_means_by_hand() -> None:
    layout = PatchLayout(
        "joint", 4.0, 2, 2, bands=(1,), normalisation=Normalisation((10.0,), (1.0,))
    )
    patches = torch.tensor([[[[0.0, 0.3], [0.3, 0.0]], [[1, 1], [-1, -1]], [[-1, -1], [0.5, 1]]]])
    np.testing.assert_allclose(class_frequencies(patches, layout), [0.5, 0.5])
    np.testing.assert_allclose(band_means(patches, layout), [0.15])
    np.testing.assert_allclose(band_means(patches.numpy(), layout, image_units=True), [10.45])
    with pytest.raises(PatchError, match=r"\(N, 3, H, W\)"):
        class_frequencies(patches[:, 1:], layout)
    labels_only = PatchLayout("labels", 4.0, 2, 2)
    np.testing.assert_allclose(class_frequencies(patches[:, 1:], labels_only), [0.5, 0.5])
    with pytest.raises(PatchError, match="no image channels"):
        band_means(patches[:, 1:], labels_only)
