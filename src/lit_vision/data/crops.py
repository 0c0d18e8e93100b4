"""The per-sample part of the image pipeline, in uint8 on the CPU: the training random-resized crop and flip, or the
evaluation resize + center crop, resized to the model's square input. Shared by the image DataModules."""

import random

import torch

from lit_vision.data.decode import center_box, crop_resize, random_resized_box


def crop_sample(
    image: torch.Tensor,
    size: int,
    train: bool,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    crop_pct: float = 0.875,
    interpolation: str = "bilinear",
    hflip: bool = False,
    rng: random.Random | None = None,
) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (3, size, size): a random-resized crop (flipped with probability 1/2 if `hflip`)
    drawn from `rng` (default: the `random` module) when `train`, else the center crop that keeps `crop_pct`."""
    rng = rng or random
    _, height, width = image.shape
    box = random_resized_box(height, width, scale, ratio, rng) if train else center_box(height, width, size, crop_pct)
    image = crop_resize(image, box, size, interpolation)
    return image.flip(-1) if train and hflip and rng.random() < 0.5 else image
