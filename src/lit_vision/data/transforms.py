"""Batched image transforms that run on the batch's device (after transfer), one random draw per sample."""

import math

import torch
import torch.nn.functional as F

from lit_vision.data.rand_augment import rand_augment, torchvision_rand_augment

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "normalize", "rand_augment", "random_crop", "random_erasing", "random_hflip",
    "random_resized_crop", "random_rotation", "resize", "rotate", "to_float", "torchvision_rand_augment",
]  # fmt: skip


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating-point batches pass through."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad by `padding` (zeros) and crop back to the original size at a random offset per sample."""
    if padding <= 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=images.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


def random_hflip(images: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_resized_crop(
    images: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random box per sample (area fraction in `scale`, aspect ratio in `ratio`, clipped to the image), resampled
    bilinearly to `size` x `size` in one `grid_sample`. Float batches only."""
    b, device = images.shape[0], images.device
    area = torch.empty(b, device=device).uniform_(scale[0], scale[1], generator=generator)
    log_ratio = torch.empty(b, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # fractions of the image side
    height = (area / aspect).sqrt().clamp(max=1.0)
    center_x = (torch.rand(b, device=device, generator=generator) * 2 - 1) * (1 - width)
    center_y = (torch.rand(b, device=device, generator=generator) * 2 - 1) * (1 - height)
    theta = torch.zeros(b, 2, 3, device=device, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = width, center_x
    theta[:, 1, 1], theta[:, 1, 2] = height, center_y
    grid = F.affine_grid(theta, [b, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def rotate(
    images: torch.Tensor, degrees: torch.Tensor, interpolation: str = "nearest", fill: float | None = 0.0
) -> torch.Tensor:
    """Rotate each sample counter-clockwise by its angle (degrees) about the image centre, keeping the size and
    filling uncovered pixels with `fill` (None: zero padding without blending): torchvision's `rotate`
    (expand=False), batched in one `grid_sample`."""
    b, c, h, w = images.shape
    radians = torch.deg2rad(degrees.to(device=images.device, dtype=torch.float32))
    cos, sin = radians.cos(), radians.sin()
    theta = torch.zeros(b, 2, 3, device=images.device)  # output -> input sampling, normalized coordinates
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
    source = images.float()
    inside = torch.ones(b, 1, h, w, device=images.device)  # which output pixels sample the image at all
    rotated = F.grid_sample(torch.cat([source, inside], dim=1), grid, mode=interpolation, align_corners=False)
    rotated, coverage = rotated[:, :c], rotated[:, c:]
    if fill is not None and interpolation == "nearest":
        rotated = rotated.masked_fill(coverage < 0.5, fill)
    elif fill is not None:  # torchvision blends the (zero-padded) sample with the fill by the coverage
        rotated = (rotated - fill) * coverage + fill
    if images.dtype == torch.uint8:
        return rotated.round_().clamp_(0, 255).to(torch.uint8)
    return rotated.to(images.dtype)


def random_rotation(
    images: torch.Tensor, degrees: float, interpolation: str = "nearest", generator: torch.Generator | None = None
) -> torch.Tensor:
    """torchvision's RandomRotation(degrees) per sample: an angle uniform in [-degrees, degrees], zeros outside."""
    if degrees <= 0:
        return images
    angles = torch.empty(images.shape[0], device=images.device).uniform_(-degrees, degrees, generator=generator)
    return rotate(images, angles, interpolation)


def random_erasing(
    images: torch.Tensor,
    p: float = 0.25,
    area: tuple[float, float] = (0.02, 1 / 3),
    aspect: tuple[float, float] = (0.3, 1 / 0.3),
    attempts: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random erasing (Zhong et al.) in timm's "pixel" mode: with probability `p` a box of random area and aspect per
    sample is filled with normal noise. Runs on normalized float batches; the first of `attempts` boxes that fits."""
    if p <= 0:
        return images
    b, _, h, w = images.shape
    device = images.device
    target = torch.empty(b, attempts, device=device).uniform_(area[0], area[1], generator=generator) * (h * w)
    log_aspect = torch.empty(b, attempts, device=device).uniform_(
        math.log(aspect[0]), math.log(aspect[1]), generator=generator
    )
    box_h = (target * log_aspect.exp()).sqrt().round()
    box_w = (target / log_aspect.exp()).sqrt().round()
    fits = (box_h < h) & (box_w < w) & (box_h > 0) & (box_w > 0)
    first = fits.float().argmax(dim=1, keepdim=True)
    box_h, box_w = box_h.gather(1, first).squeeze(1), box_w.gather(1, first).squeeze(1)
    erase = fits.any(dim=1) & (torch.rand(b, device=device, generator=generator) < p)
    top = (torch.rand(b, device=device, generator=generator) * (h - box_h + 1)).floor()
    left = (torch.rand(b, device=device, generator=generator) * (w - box_w + 1)).floor()
    rows = torch.arange(h, device=device)[None, :]
    cols = torch.arange(w, device=device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None])[:, None]
    noise = torch.randn(images.shape, device=device, dtype=images.dtype, generator=generator)
    return torch.where(mask, noise, images)


def resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(x - mean) / std per channel. uint8 batches ([0, 255]) are converted and normalized in one fused pass."""
    if images.dtype == torch.uint8:
        std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device)[None, :, None, None]
        mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device)[None, :, None, None]
        return images.float().mul_(1.0 / (255.0 * std_t)).add_(-mean_t / std_t)
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device)[None, :, None, None]
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device)[None, :, None, None]
    return (images - mean_t) / std_t
