"""TorchCodec decoding gives the pixels the torchvision.io decoder (the previous one) and PIL give, mode by mode;
the batched device-decoding helpers; the channels-last resize equals torchvision's."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps, features
from torchvision.io import ImageReadMode
from torchvision.io import decode_image as torchvision_decode_image
from torchvision.transforms.v2 import functional as TF

from lit_vision.data.decode import UnreadableImage, crop_resize, decode_jpegs, decode_rgb, jpeg_size

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB(A) PNG written by hand (PIL cannot write one)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    h, w, c = pixels.shape
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 6 if c == 4 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def torchvision_rgb(data: bytes) -> torch.Tensor:
    """The previous decoder: torchvision.io to RGB, 16 bit -> high byte."""
    image = torchvision_decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    return (image.to(torch.int32) >> 8).to(torch.uint8) if image.dtype == torch.uint16 else image


IMAGE = Image.fromarray(RGB)
MODES = {
    "jpeg-RGB": lambda: encode(IMAGE, "JPEG", quality=90),
    "jpeg-RGB-progressive-420": lambda: encode(IMAGE, "JPEG", progressive=True, subsampling=2),
    "jpeg-L": lambda: encode(IMAGE.convert("L"), "JPEG"),
    "jpeg-CMYK": lambda: encode(IMAGE.convert("CMYK"), "JPEG"),
    "png-RGB": lambda: encode(IMAGE, "PNG"),
    "png-RGBA": lambda: encode(IMAGE.convert("RGBA"), "PNG"),
    "png-L": lambda: encode(IMAGE.convert("L"), "PNG"),
    "png-LA": lambda: encode(IMAGE.convert("LA"), "PNG"),
    "png-1": lambda: encode(IMAGE.convert("1"), "PNG"),
    "png-P": lambda: encode(IMAGE.convert("P"), "PNG"),
    "png-P-transparency": lambda: encode(IMAGE.convert("P"), "PNG", transparency=0),
    "png-I16": lambda: encode(Image.fromarray(RGB16[..., 0]), "PNG"),
    "png-RGB16": lambda: png16(RGB16),
    "png-RGBA16": lambda: png16(np.concatenate([RGB16, RGB16[..., :1]], -1)),
    "gif-P": lambda: encode(IMAGE.convert("P"), "GIF"),
    "webp-lossless": lambda: encode(IMAGE, "WEBP", lossless=True),
    "webp-lossy": lambda: encode(IMAGE, "WEBP"),
    "webp-RGBA": lambda: encode(IMAGE.convert("RGBA"), "WEBP", lossless=True),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_torchcodec_gives_the_pixels_of_the_previous_torchvision_decoder(mode):
    data = MODES[mode]()
    image = decode_rgb(data)
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    assert torch.equal(image, torchvision_rgb(data))
    assert torch.equal(decode_rgb(torch.frombuffer(bytearray(data), dtype=torch.uint8)), image)  # tensor input


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow cannot write AVIF")
def test_avif_decodes_close_to_pil():
    data = encode(IMAGE, "AVIF", quality=90)
    image = decode_rgb(data)
    reference = torch.from_numpy(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()).permute(2, 0, 1)
    assert image.shape == (3, 37, 53) and (image.float() - reference.float()).abs().mean() < 2.0


def test_animated_gif_gives_its_first_frame_as_pil_does():
    frames = [Image.fromarray(RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    image = decode_rgb(buffer.getvalue())
    first = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert image.shape == (3, 20, 30) and torch.equal(image, torch.from_numpy(first.copy()).permute(2, 0, 1))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])  # TorchCodec, then the PIL fallback
def test_exif_orientation_turns_images_upright_in_both_decoders(fmt, orientation):
    exif = IMAGE.getexif()
    exif[0x0112] = orientation
    data = encode(IMAGE, fmt, exif=exif.tobytes())
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert torch.equal(decode_rgb(data), torch.from_numpy(upright.copy()).permute(2, 0, 1))


def test_corrupt_files_name_torchcodecs_reason():
    with pytest.raises(UnreadableImage, match=r"torchcodec: decode_png failed: Out of bound read in decode_png$"):
        decode_rgb(encode(IMAGE, "PNG")[:200])


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_channels_last_crop_resize_equals_torchvision_resize(interpolation):
    image = decode_rgb(encode(Image.fromarray(RNG.integers(0, 256, (120, 90, 3), dtype=np.uint8)), "JPEG"))
    box = (7, 5, 100, 70)
    ours = crop_resize(image, box, 48, interpolation)
    reference = TF.resize(
        image[:, 7:107, 5:75].contiguous(), [48, 48], interpolation=TF.InterpolationMode(interpolation), antialias=True
    )
    assert ours.shape == (3, 48, 48) and torch.equal(ours, reference)


def test_jpeg_size_reads_only_what_the_device_decodes_as_is():
    exif = IMAGE.getexif()
    exif[0x0112] = 6
    assert jpeg_size(MODES["jpeg-RGB"]()) == (37, 53)
    assert jpeg_size(MODES["jpeg-L"]()) == (37, 53)
    for other in ("jpeg-CMYK", "jpeg-RGB-progressive-420", "png-RGB", "webp-lossy"):
        assert jpeg_size(MODES[other]()) is None, other
    assert jpeg_size(encode(IMAGE, "JPEG", exif=exif.tobytes())) is None
    assert jpeg_size(b"\xff\xd8\xff broken") is None


def test_decode_jpegs_batches_and_isolates_a_broken_file():
    files = [MODES["jpeg-RGB"](), MODES["jpeg-L"]()]
    decoded = decode_jpegs([torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in files], "cpu")
    assert all(torch.equal(image, decode_rgb(f)) for image, f in zip(decoded, files))
    broken = [files[0], files[1][:300]]
    decoded = decode_jpegs([torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in broken], "cpu")
    assert torch.equal(decoded[0], decode_rgb(files[0])) and isinstance(decoded[1], UnreadableImage)
