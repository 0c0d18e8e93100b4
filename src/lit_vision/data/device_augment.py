"""The on-device part of the image pipeline shared by the image DataModules (ImageFolder and streamed shards).

Batches arrive as uint8; training batches get random rotation and RandAugment drawn from the per-rank, per-batch
generator of `training_order` (see `lit_vision.data.sampling`), then every batch is normalized (fused with the float
conversion) and training batches get random erasing. The DataModule's `hparams` hold the options.
"""

import torch

from lit_vision.data.checks import check_non_negative
from lit_vision.data.rand_augment import check_rand_augment_options, rand_augment_by_policy
from lit_vision.data.transforms import normalize, random_erasing, random_rotation, to_float


def check_crop_options(
    crop_pct: float, scale: tuple[float, float], ratio: tuple[float, float], interpolation: str
) -> None:
    """One-line errors for the per-sample crop options of the image DataModules."""
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct={crop_pct} must lie in (0, 1]; 0.875 is the usual ImageNet value")
    if not (0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]):
        raise ValueError(f"scale={scale} must satisfy 0 < min <= max <= 1 and ratio={ratio} 0 < min <= max")
    if interpolation not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolation={interpolation!r} is not supported; use 'bilinear' or 'bicubic'")


def check_device_augmentation_options(
    rotation_degrees: float, ops: int, magnitude: int, magnitude_std: float, policy: str
) -> None:
    """One-line errors for the options `DeviceAugmentation` reads."""
    check_non_negative(rotation_degrees=rotation_degrees)
    check_rand_augment_options(ops, magnitude, magnitude_std, policy)


class DeviceAugmentation:
    """Mixin of a DataModule with `hparams` (rotation_degrees, randaugment_*, interpolation, normalize, mean, std,
    erase_prob), `training_order` and `trainer`: `augment_on_device(images, training)` -> float batch."""

    def augment_on_device(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        hp = self.hparams
        if training:  # one generator per batch, seeded from (seed, rank, batch): a resumed run draws the same
            generator = self.training_order.augmentation_generator(
                images.device, getattr(self.trainer, "global_rank", 0)
            )
            images = random_rotation(images, hp.rotation_degrees, generator=generator)
            images = self.rand_augment(images, generator)
        images = normalize(images, tuple(hp.mean), tuple(hp.std)) if hp.normalize else to_float(images)
        if training and hp.erase_prob > 0:
            images = random_erasing(images, hp.erase_prob, generator=generator)
        return images.contiguous()

    def rand_augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        hp = self.hparams
        return rand_augment_by_policy(
            images, hp.randaugment_policy, hp.randaugment_ops, hp.randaugment_magnitude, hp.randaugment_magnitude_std,
            hp.randaugment_increasing, generator, tuple(hp.mean), hp.interpolation,
        )  # fmt: skip
