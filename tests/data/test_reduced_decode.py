"""`reduced_decode`: JPEGs whose crop spans >= 2x the output decode at 1/2, 1/4 or 1/8 scale (DCT scaling); the
result is close to the exact path, which stays the default."""

import io
import random

import numpy as np
import pytest
import torch
from PIL import Image

from lit_vision.data import ImageFolderDataModule
from lit_vision.data.decode import UnreadableImage, crop_resize, decode_for_crop, decode_rgb, reduction_factor


def smooth_jpeg(height: int, width: int, seed: int = 0, period: float = 20.0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    phase = x[..., None] / rng.uniform(period, 3 * period) + y[..., None] / rng.uniform(period, 3 * period)
    pixels = 127 + 100 * np.sin(phase + rng.random(3))
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_reduction_factor_is_the_largest_that_still_covers_the_output():
    assert reduction_factor((0, 0, 500, 460), 224) == 2
    assert reduction_factor((0, 0, 447, 900), 224) == 1
    assert reduction_factor((0, 0, 900, 1000), 224) == 4
    assert reduction_factor((0, 0, 1800, 1900), 224) == 8


def test_reduced_decoding_is_close_to_the_exact_path():
    data = smooth_jpeg(480, 640)
    box = (40, 60, 400, 300)
    image, reduced_box = decode_for_crop(data, box, 64)
    assert image.shape == (3, 120, 160) and reduced_box == (10, 15, 100, 75)
    reduced = crop_resize(image, reduced_box, 64).float()
    exact = crop_resize(decode_rgb(data), box, 64).float()
    assert (reduced - exact).abs().mean() < 1.5 and not torch.equal(reduced, exact)


def test_small_crops_and_broken_files_take_the_exact_decoder():
    data = smooth_jpeg(100, 120)
    image, box = decode_for_crop(data, (0, 0, 100, 120), 64)
    assert box == (0, 0, 100, 120) and torch.equal(image, decode_rgb(data))
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_for_crop(smooth_jpeg(480, 640)[:400], (0, 0, 480, 640), 64)


@pytest.mark.parametrize("split", ["train", "val"])
def test_datamodule_option_changes_pixels_a_little_and_only_when_asked(tmp_path, split):
    for s in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            for i in range(4):
                path = tmp_path / s / name / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(smooth_jpeg(192, 256, seed=10 * c + i, period=60.0))  # photo-like: smooth at 24 px
    outputs = {}
    for reduced in (False, True):
        dm = ImageFolderDataModule(str(tmp_path), batch_size=8, image_size=24, num_workers=0, reduced_decode=reduced)
        dm.setup("fit")
        random.seed(0)
        outputs[reduced] = torch.stack([dm.datasets[split][i][0] for i in range(8)]).float()
    difference = (outputs[True] - outputs[False]).abs()
    assert 0 < difference.mean() < 2.0
