"""Tint grey images with random, seeded foreground and background colors.

A grey digit has no hue or saturation, so a color model has nothing to read but brightness. `random_tint` paints each
image: pixel = g * foreground + (1 - g) * background, with per-image colors of random hue, drawn from a seeded
generator so the tinted data set is the same on every run. Foreground and background hues are kept at least
`min_hue_gap` apart (as a fraction of the color wheel) so the digit stays visible.
"""

import torch


def hsv_color(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Per-image RGB colors (N, 3) from HSV with hue in turns [0, 1)."""
    k = torch.remainder(torch.tensor([5.0, 3.0, 1.0], device=hue.device) + 6.0 * hue[:, None], 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return value[:, None] * (1.0 - saturation[:, None] * ramp)


def random_tint(
    images: torch.Tensor,
    seed: int = 0,
    saturation: tuple[float, float] = (0.5, 1.0),
    foreground_value: tuple[float, float] = (0.7, 1.0),
    background_value: tuple[float, float] = (0.1, 0.4),
    min_hue_gap: float = 1 / 6,
) -> torch.Tensor:
    """Grey images (N, 1, H, W) in [0, 1] -> RGB (N, 3, H, W) in [0, 1] with seeded random per-image colors."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"random_tint expects grey images of shape (N, 1, H, W), got {tuple(images.shape)}")
    if not 0 <= min_hue_gap <= 0.5:
        raise ValueError(f"random_tint min_hue_gap={min_hue_gap} must lie in [0, 0.5] (a fraction of the hue circle)")
    n = images.shape[0]
    generator = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    fg_hue = torch.rand(n, generator=generator)
    bg_hue = torch.remainder(fg_hue + uniform(min_hue_gap, 1.0 - min_hue_gap), 1.0)
    foreground = hsv_color(fg_hue, uniform(*saturation), uniform(*foreground_value))
    background = hsv_color(bg_hue, uniform(*saturation), uniform(*background_value))
    foreground = foreground.to(images)[:, :, None, None]
    background = background.to(images)[:, :, None, None]
    return images * foreground + (1.0 - images) * background
