"""RandAugment per sample on whole batches on the device: timm's policies (e.g. `rand-m9-mstd0.5-inc1`) and
torchvision's.

Every sample draws its own operations, coin flips, magnitudes and signs from one `torch.Generator` (the DataModules
pass the per-rank, per-batch seeded one); then each operation runs once per layer, vectorized over the samples that
drew it, with one host sync per layer. The kernels (`lit_vision.data.augment_ops`) work on uint8 as PIL does.

timm (`rand_augment`): `num_ops` operations chosen uniformly with replacement from the 15 of the policy, each applied
with probability `prob` (0.5), at a magnitude drawn per application from N(magnitude, magnitude_std) (uniform on
[0, magnitude] for an infinite std) and clipped to [0, magnitude_max]; rotations, shears, translations and the
"increasing" enhancements take a random sign. torchvision (`torchvision_rand_augment`): `num_ops` of 14 operations,
always applied, at bin `magnitude` of `num_magnitude_bins`, with random signs, nearest interpolation and black fill.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lit_vision.data.augment_ops import apply_op

Tensor = torch.Tensor
LEVEL_DENOM = 10.0  # timm's magnitude scale: level / 10 is the fraction of each operation's range
IMAGENET_FILL = (124, 116, 104)  # round(255 * ImageNet mean): timm's `img_mean` fill in its training transforms

# timm's `_RAND_INCREASING_TRANSFORMS` (inc1) and `_RAND_TRANSFORMS` (inc0), in timm's order
TIMM_INCREASING_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
    "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
    "TranslateXRel", "TranslateYRel",
)  # fmt: skip
TIMM_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
)  # fmt: skip
# torchvision's RandAugment operations (transforms.v2.RandAugment._AUGMENTATION_SPACE), in its order
TORCHVISION_OPS = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
    "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)  # fmt: skip
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "random")


def kernel_name(name: str) -> str:
    """The operation behind a policy's name: 'ColorIncreasing' -> 'Color', 'TranslateXRel' -> 'TranslateX'."""
    return name.removesuffix("Increasing").removesuffix("Rel")


def timm_argument(name: str, level: Tensor, sign: Tensor, translate_pct: float = 0.45) -> Tensor:
    """timm's `LEVEL_TO_ARG[name]` per sample: `level` the clipped magnitude, `sign` +-1 (timm's `_randomly_negate`)."""
    fraction = level.float() / LEVEL_DENOM
    if name == "Rotate":
        return sign * fraction * 30.0
    if name in ("ShearX", "ShearY"):
        return sign * fraction * 0.3
    if name in ("TranslateXRel", "TranslateYRel"):
        return sign * fraction * translate_pct
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return fraction * 1.8 + 0.1
    if name.endswith("Increasing") and kernel_name(name) in ("Color", "Contrast", "Brightness", "Sharpness"):
        return (1.0 + sign * fraction * 0.9).clamp(min=0.1)
    if name == "Posterize":
        return (fraction * 4).floor()
    if name == "PosterizeIncreasing":
        return 4 - (fraction * 4).floor()
    if name == "Solarize":
        return (fraction * 256).floor().clamp(max=256)
    if name == "SolarizeIncreasing":
        return 256 - (fraction * 256).floor().clamp(max=256)
    if name == "SolarizeAdd":
        return (fraction * 110).floor().clamp(max=128)
    return torch.zeros_like(fraction)  # AutoContrast, Equalize, Invert take no argument


def torchvision_argument(name: str, magnitude: int, sign: Tensor, num_bins: int, height: int, width: int) -> Tensor:
    """torchvision's RandAugment argument at bin `magnitude`, as the kernels take it (translation as a fraction)."""
    fraction = magnitude / (num_bins - 1)  # torch.linspace(0, top, num_bins)[magnitude] = top * fraction
    if name in ("ShearX", "ShearY"):
        return sign * 0.3 * fraction
    if name in ("TranslateX", "TranslateY"):
        top = 150.0 / 331.0 * (width if name == "TranslateX" else height)
        return sign * math.trunc(top * fraction) / (width if name == "TranslateX" else height)
    if name == "Rotate":
        return sign * 30.0 * fraction
    if name in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 1.0 + sign * 0.9 * fraction
    if name == "Posterize":
        return torch.full_like(sign, 8 - round(magnitude / ((num_bins - 1) / 4)))
    if name == "Solarize":
        return torch.full_like(sign, math.ceil(255.0 * (1.0 - fraction)))  # x >= float threshold
    return torch.zeros_like(sign)


@dataclass
class RandAugmentDraws:
    """Per sample and layer (B, num_ops): the operation index, whether it applies, its magnitude level, its sign
    (+-1) and, for interpolation 'random', whether it resamples bicubic (else bilinear)."""

    ops: Tensor
    applied: Tensor
    level: Tensor
    sign: Tensor
    bicubic: Tensor | None = None


def draw_rand_augment(
    batch: int,
    num_ops: int,
    num_choices: int,
    magnitude: float,
    magnitude_std: float = 0.0,
    magnitude_max: float = LEVEL_DENOM,
    prob: float = 1.0,
    random_interpolation: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> RandAugmentDraws:
    """All random numbers of a batch's RandAugment, in a fixed order, from `generator`. `magnitude_std` > 100 or
    infinite: uniform on [0, magnitude] (timm's convention)."""
    shape = (batch, num_ops)
    ops = torch.randint(num_choices, shape, device=device, generator=generator)
    applied = torch.rand(shape, device=device, generator=generator) < prob
    if magnitude_std > 100 or math.isinf(magnitude_std):
        level = torch.rand(shape, device=device, generator=generator) * magnitude
    else:
        level = magnitude + magnitude_std * torch.randn(shape, device=device, generator=generator)
    sign = torch.where(torch.rand(shape, device=device, generator=generator) < 0.5, -1.0, 1.0)
    bicubic = torch.rand(shape, device=device, generator=generator) < 0.5 if random_interpolation else None
    return RandAugmentDraws(ops, applied, level.clamp_(0.0, magnitude_max), sign, bicubic)


def apply_rand_augment(
    images: Tensor,
    draws: RandAugmentDraws,
    names: Sequence[str],
    argument: Callable[[str, Tensor, Tensor], Tensor],
    interpolation: str,
    fill: Sequence[float],
) -> Tensor:
    """Run the drawn operations layer by layer, each once over the samples that drew and apply it. uint8 in and out."""
    out = images.clone()
    skipped = len(names)
    for layer in range(draws.ops.shape[1]):
        op_ids = torch.where(draws.applied[:, layer], draws.ops[:, layer], skipped)
        order = torch.argsort(op_ids, stable=True)
        choices = torch.arange(skipped + 1, device=op_ids.device)  # (not bincount: no deterministic CUDA kernel)
        counts = (op_ids[:, None] == choices).sum(0).tolist()  # the layer's one host sync
        for name, members in zip(names, order.split(counts)):
            if members.numel() == 0 or name == "Identity":
                continue
            value = argument(name, draws.level[members, layer], draws.sign[members, layer])
            mode = draws.bicubic[members, layer] if draws.bicubic is not None else interpolation
            out[members] = apply_op(kernel_name(name), out[members], value, mode, fill)
    return out


def _as_uint8(images: Tensor) -> Tensor:
    if images.dtype == torch.uint8:
        return images
    return images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _like(result: Tensor, images: Tensor) -> Tensor:
    return result if images.dtype == torch.uint8 else result.to(images.dtype).div_(255.0)


def _fill_values(fill: Sequence[float] | float, channels: int) -> list[float]:
    values = [float(fill)] if isinstance(fill, int | float) else [float(value) for value in fill]
    if len(values) == channels:
        return values
    return [sum(values) / len(values)] * channels  # one value for all channels, or the mean color's gray


def _check(images: Tensor, num_ops: int, interpolation: str) -> None:
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"RandAugment takes images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if num_ops < 0:
        raise ValueError(f"num_ops={num_ops} must be >= 0 (0 turns RandAugment off)")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r} is not supported; use one of {', '.join(INTERPOLATIONS)}")


def rand_augment(
    images: Tensor,
    num_ops: int = 2,
    magnitude: float = 9,
    magnitude_std: float = 0.5,
    increasing: bool = True,
    generator: torch.Generator | None = None,
    *,
    prob: float = 0.5,
    magnitude_max: float = LEVEL_DENOM,
    translate_pct: float = 0.45,
    interpolation: str = "bicubic",
    fill: Sequence[float] | float = IMAGENET_FILL,
) -> Tensor:
    """timm's RandAugment (`rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc{increasing}`) per sample.

    Args:
        images: uint8 (N, C, H, W), or float in [0, 1] (quantized to uint8 for the operations, as timm's PIL images).
        num_ops: operations per sample (timm's `n`); 0 returns `images` unchanged.
        magnitude: timm's `m` on its 0-10 scale.
        magnitude_std: std of the Gaussian magnitude noise drawn per application (`mstd`); > 100: uniform.
        increasing: timm's `inc1` policy (severity grows with the magnitude) instead of the original op set.
        generator: the random source (e.g. the DataModule's per-rank, per-batch generator); None: the global one.
        prob: probability that each drawn operation applies (timm's `p`, 0.5).
        magnitude_max: upper clip of the noisy magnitude (timm's `mmax`, 10).
        translate_pct: largest translation, a fraction of the side (timm's hparam, 0.45).
        interpolation: resampling of rotations, shears and translations: 'bicubic' (DeiT, Swin), 'bilinear',
            'nearest', or 'random' (bilinear or bicubic per application, timm's default).
        fill: color of the uncovered pixels, 0-255 per channel (timm: round(255 * mean)).
    """
    _check(images, num_ops, interpolation)
    if num_ops == 0:
        return images
    names = TIMM_INCREASING_OPS if increasing else TIMM_OPS
    draws = draw_rand_augment(
        images.shape[0], num_ops, len(names), magnitude, magnitude_std, magnitude_max, prob,
        interpolation == "random", generator, images.device,
    )  # fmt: skip

    def argument(name: str, level: Tensor, sign: Tensor) -> Tensor:
        return timm_argument(name, level, sign, translate_pct)

    fill_values = _fill_values(fill, images.shape[1])
    out = apply_rand_augment(_as_uint8(images), draws, names, argument, interpolation, fill_values)
    return _like(out, images)


def torchvision_rand_augment(
    images: Tensor,
    num_ops: int = 2,
    magnitude: int = 9,
    generator: torch.Generator | None = None,
    *,
    num_magnitude_bins: int = 31,
    interpolation: str = "nearest",
    fill: Sequence[float] | float = 0,
) -> Tensor:
    """torchvision's `RandAugment(num_ops, magnitude)` per sample (each sample its own operations and signs).

    Args:
        images: uint8 (N, C, H, W), or float in [0, 1] (quantized to uint8 for the operations).
        num_ops: operations per sample, always applied; 0 returns `images` unchanged.
        magnitude: the magnitude bin, 0 .. num_magnitude_bins - 1.
        generator: the random source; None: the global one.
        num_magnitude_bins: torchvision's bin count (31).
        interpolation: resampling of the geometric operations (torchvision's default: 'nearest').
        fill: color of the uncovered pixels, 0-255 (torchvision's default: black).
    """
    _check(images, num_ops, interpolation)
    if not 0 <= magnitude < num_magnitude_bins:
        raise ValueError(f"magnitude={magnitude} must lie in [0, {num_magnitude_bins - 1}] (torchvision's bins)")
    if num_ops == 0:
        return images
    h, w = images.shape[-2:]
    draws = draw_rand_augment(
        images.shape[0], num_ops, len(TORCHVISION_OPS), magnitude, prob=1.0,
        random_interpolation=interpolation == "random", generator=generator, device=images.device,
    )  # fmt: skip

    def argument(name: str, level: Tensor, sign: Tensor) -> Tensor:
        return torchvision_argument(name, int(magnitude), sign, num_magnitude_bins, h, w)

    fill_values = _fill_values(fill, images.shape[1])
    out = apply_rand_augment(_as_uint8(images), draws, TORCHVISION_OPS, argument, interpolation, fill_values)
    return _like(out, images)


def fill_from_mean(mean: Sequence[float]) -> tuple[int, ...]:
    """timm's fill for the geometric operations: the data set's mean color in 0-255."""
    return tuple(min(255, round(255 * value)) for value in mean)


def check_rand_augment_options(num_ops: int, magnitude: int, magnitude_std: float, policy: str) -> None:
    """The DataModules' RandAugment options, checked at construction with one-line errors."""
    if num_ops < 0:
        raise ValueError(f"randaugment_ops={num_ops} must be >= 0 (0 turns RandAugment off)")
    if policy not in ("timm", "torchvision"):
        raise ValueError(f"randaugment_policy={policy!r} is not supported; use 'timm' or 'torchvision'")
    if magnitude_std < 0:
        raise ValueError(f"randaugment_magnitude_std={magnitude_std} must be >= 0 (0: a fixed magnitude)")
    top = LEVEL_DENOM if policy == "timm" else 30
    if not 0 <= magnitude <= top:
        raise ValueError(f"randaugment_magnitude={magnitude} must lie in [0, {top:g}] for the {policy} policy")


def rand_augment_by_policy(
    images: Tensor,
    policy: str,
    num_ops: int,
    magnitude: int,
    magnitude_std: float,
    increasing: bool,
    generator: torch.Generator | None,
    mean: Sequence[float],
    interpolation: str = "bicubic",
) -> Tensor:
    """The DataModules' RandAugment: timm's (fill: the data set's mean color) or torchvision's (black fill, nearest)."""
    if policy == "torchvision":
        return torchvision_rand_augment(images, num_ops, magnitude, generator)
    return rand_augment(
        images, num_ops, magnitude, magnitude_std, increasing, generator,
        interpolation=interpolation, fill=fill_from_mean(mean),
    )  # fmt: skip
