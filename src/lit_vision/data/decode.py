"""Decode any image file to RGB uint8 (3, H, W) and cut per-sample crops, for DataLoader workers.

TorchCodec decodes JPEG (grey, RGB, CMYK), PNG (any mode, 8 or 16 bit), WebP, GIF (first frame of animations) and
AVIF; PIL takes the rest (BMP, TIFF, PPM, ...). Both turn images upright by their EXIF orientation, as viewers do.
Unreadable files raise `UnreadableImage` with the reason, for the DataModule to skip or report. `jpeg_size` and
`decode_jpegs` serve batched decoding on the GPU (nvJPEG): workers read the header only, the device decodes.
"""

import io
import math
import random
import re

import numpy as np
import torch
import torch.nn.functional as F
from torchcodec.decoders import decode_image, decode_jpeg
from torchvision.transforms.v2 import functional as TF

IMG_EXTENSIONS = (
    ".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".avif", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff",
)  # fmt: skip
INTERPOLATIONS = {"bilinear": TF.InterpolationMode.BILINEAR, "bicubic": TF.InterpolationMode.BICUBIC}

Box = tuple[int, int, int, int]  # top, left, height, width


class UnreadableImage(Exception):
    """A file that neither TorchCodec nor PIL can decode (corrupt, truncated, not an image)."""


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS) and not name.startswith(".")


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    if image.dtype == torch.uint8:
        return image
    if image.dtype == torch.uint16:  # 16-bit PNG
        return (image.to(torch.int32) >> 8).to(torch.uint8)
    return TF.to_dtype(image, torch.uint8, scale=True)


def _decode_with_pil(data: bytes) -> torch.Tensor:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)  # upright, as TorchCodec returns them
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            array = np.asarray(image).astype(np.int64)
            array = (array >> 8 if array.max() > 255 else array).clip(0, 255).astype(np.uint8)
            array = np.repeat(array[..., None], 3, axis=-1)
        else:
            if image.mode == "P":  # palette with transparency converts cleanly only through RGBA
                image = image.convert("RGBA")
            array = np.asarray(image.convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _reason(error: Exception) -> str:
    """ "decode_rows, .../DecodePng.cpp:316, decode_png failed: Out of bound read. ..." -> its first sentence
    without the source location."""
    return re.sub(r"^.*?\.cpp:\d+,\s*", "", " ".join(str(error).split())).split(". ")[0].rstrip(".")


def decode_rgb(data: bytes | torch.Tensor) -> torch.Tensor:
    """Bytes of an image file -> uint8 RGB (3, H, W); alpha is dropped, grey is repeated, 16 bit keeps the high byte,
    animations give their first frame."""
    if len(data) == 0:
        raise UnreadableImage("empty file")
    try:
        image = decode_image(data, mode="RGB", output_dtype="auto")
        return _to_uint8(image[0] if image.ndim == 4 else image)
    except Exception as error:  # ValueError: a format TorchCodec does not know (BMP, TIFF, ...); RuntimeError: broken
        torchcodec_reason = _reason(error)
    from PIL import UnidentifiedImageError

    data = data.numpy().tobytes() if isinstance(data, torch.Tensor) else data
    try:
        return _decode_with_pil(data)
    except UnidentifiedImageError:
        raise UnreadableImage("not an image in a format TorchCodec or PIL knows") from None
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ... on broken files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UnreadableImage(f"{reason}; torchcodec: {torchcodec_reason}") from None


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise UnreadableImage(f"cannot read: {error.strerror or error}") from None


def read_rgb(path: str) -> torch.Tensor:
    return decode_rgb(read_bytes(path))


# --- crop geometry -------------------------------------------------------------------------------------------------
def random_resized_box(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    rng: random.Random | None = None,
    attempts: int = 10,
) -> Box:
    """Inception-style crop: area fraction in `scale`, log-uniform aspect in `ratio`; after `attempts` misses, the
    largest central box with an aspect inside `ratio` (torchvision's RandomResizedCrop rule)."""
    rng = rng or random
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def center_box(height: int, width: int, size: int, crop_pct: float) -> Box:
    """The part of the image that "resize the shorter side to size / crop_pct, then center-crop size" keeps, in the
    original's pixels: cutting it first and resizing once is the same picture for fewer pixels."""
    scale_size = math.floor(size / crop_pct)
    side = min(height, width) * size / scale_size
    h, w = min(height, max(1, round(side))), min(width, max(1, round(side)))
    return int(round((height - h) / 2)), int(round((width - w) / 2)), h, w


def crop_resize(image: torch.Tensor, box: Box, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Cut `box` and resize it to `size` x `size` with antialiasing (torchvision's `resize`, the same pixels). uint8
    on the CPU resizes in the channels-last layout the decoders return and keeps it (strides (1, 3 * size, 3)):
    the batch collation makes the copy that `.contiguous()` would."""
    top, left, h, w = box
    crop = image[:, top : top + h, left : left + w]
    if image.dtype == torch.uint8 and image.device.type == "cpu":  # the native uint8 kernels run on channels-last
        crop = crop[None].contiguous(memory_format=torch.channels_last)
        return F.interpolate(crop, size=(size, size), mode=interpolation, antialias=True, align_corners=False)[0]
    return TF.resize(crop, [size, size], interpolation=INTERPOLATIONS[interpolation], antialias=True)


# --- reduced-size decoding (opt-in: other pixels) ---------------------------------------------------------------
def reduction_factor(box: Box, size: int) -> int:
    """The largest of 8, 4, 2 by which the crop `box` still covers `size` x `size` pixels; 1 when none does."""
    side = min(box[2], box[3])
    return next((factor for factor in (8, 4, 2) if side >= factor * size), 1)


def decode_for_crop(data: bytes, box: Box, size: int) -> tuple[torch.Tensor, Box]:
    """A JPEG whose crop `box` (in its full-size pixels) spans >= 2x `size` decoded at 1/2, 1/4 or 1/8 scale by
    libjpeg's DCT scaling (PIL's `draft`, as fast loaders do), and the box in the reduced image's pixels; otherwise
    the exact `decode_rgb` and the same box. The reduced pixels are a box-filtered downscale: close to, not equal to,
    the full decode resized. For JPEGs `jpeg_size` accepts (no EXIF rotation to apply)."""
    factor = reduction_factor(box, size)
    if factor == 1:
        return decode_rgb(data), box
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (image.width // factor, image.height // factor))
            array = np.asarray(image.convert("RGB"))
    except Exception:  # broken data: the exact decoder raises UnreadableImage with its reason
        return decode_rgb(data), box
    height, width = array.shape[:2]
    h, w = max(1, min(round(box[2] / factor), height)), max(1, min(round(box[3] / factor), width))
    top = round((box[0] + box[2] / 2) / factor - h / 2)  # the same centre, to the nearest reduced pixel
    left = round((box[1] + box[3] / 2) / factor - w / 2)
    return torch.from_numpy(array.copy()).permute(2, 0, 1), (
        min(max(top, 0), height - h), min(max(left, 0), width - w), h, w,
    )  # fmt: skip


# --- batched decoding on the device ------------------------------------------------------------------------------
def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG that `decode_jpegs` can decode on the GPU as is (baseline, grey or YCbCr, no EXIF
    rotation), read from its header; None for anything else (other formats, progressive, CMYK, rotated, unreadable
    header), which the workers decode on the CPU."""
    if data[:3] != b"\xff\xd8\xff":
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG" or image.mode not in ("RGB", "L") or image.info.get("progressive"):
                return None
            if "exif" in image.info and image.getexif().get(0x0112, 1) != 1:  # 0x0112: orientation
                return None
            return image.height, image.width
    except Exception:  # a broken header: the CPU path reports it with its reason
        return None


def decode_jpegs(encoded: list[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """JPEG bytes (1-D uint8 tensors on the CPU) -> uint8 RGB (3, H, W) tensors on `device`: one batched nvJPEG call
    on CUDA, one decode after another on the CPU. A batch with a file that fails is decoded again one by one, on the
    CPU, by `decode_rgb`, so that each failure raises `UnreadableImage` alone (the result then holds the exception)."""
    try:
        return decode_jpeg(list(encoded), mode="RGB", device=device)
    except RuntimeError:
        decoded = []
        for data in encoded:
            try:
                decoded.append(decode_rgb(data).to(device))
            except UnreadableImage as error:
                decoded.append(error)
        return decoded
