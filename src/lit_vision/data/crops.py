"""The per-sample part of the image pipeline, in uint8 on the CPU: the training random-resized crop and flip, or the
evaluation resize + center crop, resized to the model's square input. Shared by the image DataModules."""

import random

import torch

from lit_vision.data.decode import center_box, crop_resize, random_resized_box


def sample_box(
    height: int,
    width: int,
    size: int,
    train: bool,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    crop_pct: float = 0.875,
    rng: random.Random | None = None,
) -> tuple[int, int, int, int]:
    """The (top, left, height, width) box a sample keeps: a random-resized box drawn from `rng` (default: the `random`
    module) when `train`, else the center box that keeps `crop_pct`."""
    if train:
        return random_resized_box(height, width, scale, ratio, rng or random)
    return center_box(height, width, size, crop_pct)


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
    box = sample_box(height, width, size, train, scale, ratio, crop_pct, rng)
    image = crop_resize(image, box, size, interpolation)
    return image.flip(-1) if train and hflip and rng.random() < 0.5 else image
