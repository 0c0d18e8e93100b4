import io
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from lit_vision.data.decode import (
    UnreadableImage,
    center_box,
    crop_resize,
    decode_rgb,
    random_resized_box,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def pil_rgb(data: bytes) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA").convert("RGB")).copy()).permute(
        2, 0, 1
    )


LOSSLESS = {
    "L.png": lambda im: encode(im.convert("L"), "PNG"),
    "LA.png": lambda im: encode(im.convert("LA"), "PNG"),
    "P.png": lambda im: encode(im.convert("P"), "PNG", transparency=0),
    "P.gif": lambda im: encode(im.convert("P"), "GIF"),
    "RGBA.png": lambda im: encode(im.convert("RGBA"), "PNG"),
    "RGB.webp": lambda im: encode(im, "WEBP", lossless=True),
    "RGB.bmp": lambda im: encode(im, "BMP"),  # PIL fallback
    "RGB.tiff": lambda im: encode(im, "TIFF"),  # PIL fallback
    "P.bmp": lambda im: encode(im.convert("P"), "BMP"),
}


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_modes_decode_to_the_rgb_pil_gives(name):
    data = LOSSLESS[name](Image.fromarray(RGB))
    image = decode_rgb(data)
    assert image.dtype == torch.uint8 and image.shape == (3, 37, 53)
    assert torch.equal(image, pil_rgb(data))


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_jpeg_modes_decode_close_to_pil(mode):
    data = encode(Image.fromarray(RGB).convert(mode), "JPEG", quality=95)
    image = decode_rgb(data)
    assert image.shape == (3, 37, 53)
    assert (image.float() - pil_rgb(data).float()).abs().mean() < 1.0


def test_16_bit_png_keeps_the_high_byte():
    values = RNG.integers(0, 65536, (9, 11), dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    image = decode_rgb(data)
    assert image.dtype == torch.uint8 and image.shape == (3, 9, 11)
    expected = torch.from_numpy((values >> 8).astype(np.uint8))
    assert torch.equal(image[0], expected) and torch.equal(image[2], expected)


@pytest.mark.parametrize(
    "data,reason",
    [
        (encode(Image.fromarray(RGB), "JPEG")[:300], "truncated"),
        (b"this is a text file called cat.jpg", "not an image in a format TorchCodec or PIL knows"),
        (b"", "empty file"),
    ],
    ids=["truncated-jpeg", "text", "empty"],
)
def test_unreadable_files_raise_with_the_reason(data, reason):
    with pytest.raises(UnreadableImage, match=reason):
        decode_rgb(data)


def test_random_resized_box_stays_inside_and_follows_scale():
    rng = random.Random(0)
    for _ in range(500):
        height, width = rng.randint(1, 300), rng.randint(1, 300)
        top, left, h, w = random_resized_box(height, width, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        assert top >= 0 and left >= 0 and h >= 1 and w >= 1 and top + h <= height and left + w <= width
    areas = [random_resized_box(375, 500, (0.25, 0.5), (1.0, 1.0), rng) for _ in range(200)]
    fractions = [h * w / (375 * 500) for _, _, h, w in areas]
    assert min(fractions) > 0.24 and max(fractions) < 0.51
    assert random_resized_box(10, 200, (0.9, 1.0), (3 / 4, 4 / 3), rng) == (0, 93, 10, 13)  # central fallback


@pytest.mark.parametrize("height,width", [(375, 500), (500, 333), (224, 224), (31, 400)])
def test_center_box_matches_resize_then_center_crop(height, width):
    """Cutting first then resizing once gives the picture timm/torchvision eval transforms give."""
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    image = (torch.stack([x, y, (x + y) / 2]) * 255).round().to(torch.uint8)
    ours = crop_resize(image, center_box(height, width, 224, 0.875), 224)
    reference = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(image)
    assert ours.shape == reference.shape == (3, 224, 224)
    assert (ours.float() - reference.float()).abs().mean() < 2.0
