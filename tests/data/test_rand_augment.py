"""RandAugment per sample against timm's `rand-m9-mstd0.5-inc1` (PIL, one image at a time) and torchvision's."""

import itertools
import random

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from dataset_fixtures import write_cifar10
from lit_vision.data import CIFAR10DataModule
from lit_vision.data.augment_ops import apply_op
from lit_vision.data.rand_augment import (
    TIMM_INCREASING_OPS,
    TIMM_OPS,
    TORCHVISION_OPS,
    draw_rand_augment,
    fill_from_mean,
    kernel_name,
    timm_argument,
    torchvision_argument,
    torchvision_rand_augment,
)
from lit_vision.data.sampling import global_seed, mix_seed
from lit_vision.data.transforms import rand_augment

FILL = (124, 116, 104)
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


def natural_image(height: int, width: int, seed: int) -> torch.Tensor:
    """A smooth color field plus noise (3, H, W) uint8: histograms and edges like a photo's, not flat noise."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 5, 6, generator=generator)
    image = torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    image = image * 200 + 20 + torch.randn(1, 3, height, width, generator=generator) * 12
    return image.round().clamp(0, 255).to(torch.uint8)[0]


def timm_op(name: str, image: torch.Tensor, level: float, sign: float, resample: int) -> torch.Tensor:
    """timm's operation `name` at magnitude `level` with the sign fixed (its `_randomly_negate` made deterministic)."""
    from timm.data import auto_augment as aa

    level_fn = aa.LEVEL_TO_ARG[name]
    negate = aa._randomly_negate
    aa._randomly_negate = (lambda v: -v) if sign < 0 else (lambda v: v)
    try:
        args = level_fn(level, dict(aa._HPARAMS_DEFAULT)) if level_fn else ()
    finally:
        aa._randomly_negate = negate
    if name.startswith("Posterize") and args[0] == 0:  # Pillow >= 11 rejects 0 bits; older Pillow gave black
        return torch.zeros_like(image)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    out = aa.NAME_TO_OP[name](pil, *args, fillcolor=FILL, resample=resample)
    return torch.from_numpy(np.array(out)).permute(2, 0, 1)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_every_operation_equals_timms_pil_operation_on_the_same_image(interpolation):
    """Every pixel within 1 gray level of timm's operation (PIL) at magnitudes 3, 7.4 and 10 with both signs, on two
    image sizes; on average within 0.15 (float32 here vs PIL's float64 / integer arithmetic at truncation edges)."""
    resample = Image.BILINEAR if interpolation == "bilinear" else Image.BICUBIC
    images = [natural_image(h, w, seed) for seed, (h, w) in enumerate([(24, 40), (41, 29)])]
    names = sorted(set(TIMM_INCREASING_OPS) | set(TIMM_OPS)) if interpolation == "bilinear" else GEOMETRIC
    for name in names:
        for image, level, sign in itertools.product(images, (3.0, 7.4, 10.0), (-1.0, 1.0)):
            argument = timm_argument(name, torch.tensor([level]), torch.tensor([sign]))
            ours = apply_op(kernel_name(name), image[None], argument, interpolation, FILL)[0].int()
            difference = (ours - timm_op(name, image, level, sign, resample).int()).abs()
            assert difference.max() <= 1 and difference.float().mean() < 0.15, (name, level, sign)


def record_timm_draws(count: int, seed: int = 0) -> tuple[list[str], dict[str, list[float]]]:
    """Run timm's RandAugment('rand-m9-mstd0.5-inc1') on `count` images with the operations replaced by recorders:
    per op slot the applied op's name or 'skip', and the arguments each op received."""
    from timm.data.auto_augment import rand_augment_transform

    transform = rand_augment_transform("rand-m9-mstd0.5-inc1", {"img_mean": FILL})
    slots, arguments = [], {name: [] for name in TIMM_INCREASING_OPS}
    for op in transform.ops:

        def record(image, *args, name=op.name, **kwargs):
            slots.append(name)
            arguments[name].append(float(args[0]) if args else 0.0)
            return image

        op.aug_fn = record
    random.seed(seed)
    np.random.seed(seed)
    image = Image.new("RGB", (2, 2))
    for _ in range(count):
        before = len(slots)
        transform(image)
        slots.extend(["skip"] * (2 - (len(slots) - before)))
    return slots, arguments


def test_operation_frequencies_and_magnitudes_match_timm_per_sample():
    """N = 12,000 images (24,000 op slots) each side. Frequencies of the 15 ops + 'skipped': chi-square homogeneity
    p > 0.001 and every frequency within 0.01. Arguments of each op (angle, factor, bits, threshold, ...): two-sample
    Kolmogorov-Smirnov p > 0.001 and means within 3 standard errors."""
    count = 12_000
    timm_slots, timm_arguments = record_timm_draws(count)
    draws = draw_rand_augment(count, 2, 15, 9, 0.5, 10.0, 0.5, generator=torch.Generator().manual_seed(0))
    names = [*TIMM_INCREASING_OPS, "skip"]
    ours_ids = torch.where(draws.applied, draws.ops, 15).flatten()
    ours_counts = torch.bincount(ours_ids, minlength=16).numpy()
    timm_counts = np.array([timm_slots.count(name) for name in names])
    assert ours_counts.sum() == timm_counts.sum() == 2 * count
    assert stats.chi2_contingency(np.stack([ours_counts, timm_counts])).pvalue > 0.001
    assert np.abs(ours_counts - timm_counts).max() / (2 * count) < 0.01
    for index, name in enumerate(TIMM_INCREASING_OPS):
        chosen = draws.applied & (draws.ops == index)
        ours = timm_argument(name, draws.level[chosen], draws.sign[chosen]).numpy()
        theirs = np.array(timm_arguments[name])
        assert len(ours) > 600 and len(theirs) > 600
        if ours.std() == 0 and theirs.std() == 0:  # AutoContrast, Equalize, Invert take no argument
            continue
        assert stats.ks_2samp(ours, theirs).pvalue > 0.001, name
        error = np.sqrt(ours.var() / len(ours) + theirs.var() / len(theirs))
        assert abs(ours.mean() - theirs.mean()) < 3 * error + 1e-9, name
    # the magnitude itself: N(9, 0.5) clipped to [0, 10], about 2.3 % of the applications at exactly 10
    assert 0.018 < (draws.level == 10).float().mean() < 0.028
    posterize = timm_argument("PosterizeIncreasing", draws.level, draws.sign)
    assert set(posterize.unique().tolist()) <= {0.0, 1.0, 2.0}


def test_batched_application_equals_the_drawn_operations_one_sample_at_a_time():
    images = torch.stack([natural_image(24, 20, seed) for seed in range(48)])
    out = rand_augment(images, generator=torch.Generator().manual_seed(3), fill=FILL)
    draws = draw_rand_augment(48, 2, 15, 9, 0.5, 10.0, 0.5, generator=torch.Generator().manual_seed(3))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    for i in range(48):
        expected = images[i : i + 1]
        for layer in range(2):
            if draws.applied[i, layer]:
                name = TIMM_INCREASING_OPS[draws.ops[i, layer]]
                argument = timm_argument(name, draws.level[i : i + 1, layer], draws.sign[i : i + 1, layer])
                expected = apply_op(kernel_name(name), expected, argument, "bicubic", FILL)
        assert torch.equal(out[i : i + 1], expected), i
    # each sample its own operations: copies of one image come out different
    copies = rand_augment(images[:1].expand(64, -1, -1, -1), generator=torch.Generator().manual_seed(0))
    assert len({tuple(copy.flatten().tolist()) for copy in copies}) > 45


def test_float_batches_keep_their_type_and_zero_ops_is_identity():
    images = torch.rand(6, 3, 16, 16)
    out = rand_augment(images, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert rand_augment(images, num_ops=0) is images
    gray = rand_augment((images[:, :1] * 255).to(torch.uint8), interpolation="random")
    assert gray.shape == (6, 1, 16, 16)
    with pytest.raises(ValueError, match="interpolation='box' is not supported"):
        rand_augment(images, interpolation="box")
    with pytest.raises(ValueError, match=r"RandAugment takes images \(N, 1 or 3, H, W\)"):
        rand_augment(images[0])


def test_torchvision_policy_has_torchvisions_operations_and_magnitudes():
    from torchvision.transforms import v2

    space = v2.RandAugment._AUGMENTATION_SPACE
    assert tuple(space) == TORCHVISION_OPS
    height, width, bins, magnitude = 32, 40, 31, 12
    for name, (magnitudes_of, signed) in space.items():
        if name in ("Identity", "AutoContrast", "Equalize"):
            continue
        value = float(magnitudes_of(bins, height, width)[magnitude])
        ours = float(torchvision_argument(name, magnitude, torch.tensor([1.0]), bins, height, width)[0])
        negated = float(torchvision_argument(name, magnitude, torch.tensor([-1.0]), bins, height, width)[0])
        assert (negated != ours) == signed, name  # the random sign goes to the same operations
        if name.startswith("Translate"):
            ours *= width if name == "TranslateX" else height
            value = float(int(value))  # torchvision truncates the translation to whole pixels
        elif name in ("Brightness", "Color", "Contrast", "Sharpness"):
            ours -= 1.0  # torchvision's argument is the factor - 1
        elif name == "Solarize":
            value = float(np.ceil(255 * value))
        assert ours == pytest.approx(value, abs=1e-5), name
    images = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = torchvision_rand_augment(images, 2, 12, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and (out != images).flatten(1).any(1).float().mean() > 0.8
    with pytest.raises(ValueError, match="magnitude=31 must lie in"):
        torchvision_rand_augment(images, 2, 31)


# --- through the DataModule: the per-rank, per-batch generator -------------------------------------------------------
@pytest.fixture(scope="module")
def cifar10_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    write_cifar10(root, per_class_per_batch=2, test_per_class=1)
    return root


def cifar(cifar10_dir, **kwargs) -> CIFAR10DataModule:
    options = dict(batch_size=8, val_split=0.0, crop_padding=0, hflip=False, randaugment_ops=2, normalize=False)
    dm = CIFAR10DataModule(data_dir=str(cifar10_dir), **{**options, **kwargs})
    dm.setup("fit")
    return dm


def training(rank: int):
    return type("Training", (), {"training": True, "global_rank": rank})()


def test_datamodule_draws_per_rank_and_batch_and_differs_across_ranks(cifar10_dir):
    dm = cifar(cifar10_dir)
    images, labels = next(iter(dm.train_dataloader()))
    outputs = []
    for rank in (0, 1):
        dm.training_order.load_state_dict({"augmentation": {"batches": 0}})
        dm.trainer = training(rank)
        outputs.append(dm.on_after_batch_transfer((images, labels), 0)[0])
        generator = torch.Generator().manual_seed(mix_seed(global_seed(), rank, 0))  # (seed, rank, batch)
        expected = rand_augment(images, generator=generator, fill=fill_from_mean(dm.mean)).float() / 255
        torch.testing.assert_close(outputs[-1], expected, atol=0, rtol=0)
    assert not torch.equal(*outputs)  # ranks (where repeated copies of an image land) draw differently
    copies = images[:1].expand(8, -1, -1, -1)  # repeated copies within one batch differ as well
    dm.trainer = training(0)
    out, _ = dm.on_after_batch_transfer((copies, labels), 0)
    assert len({tuple(row.flatten().tolist()) for row in out}) >= 6


def test_resumed_datamodule_replays_the_same_rand_augment(cifar10_dir):
    def augmented(dm, count=None):
        loader = dm.train_dataloader()
        dm.trainer = training(0)
        return [dm.on_after_batch_transfer(batch, 0) for batch in itertools.islice(loader, count)]

    expected = augmented(cifar(cifar10_dir, batch_size=25))
    stopped = cifar(cifar10_dir, batch_size=25)
    augmented(stopped, 2)
    resumed = cifar(cifar10_dir, batch_size=25)
    resumed.load_state_dict(stopped.state_dict())
    rest = augmented(resumed)
    assert len(expected) == 4 and len(rest) == 2
    for (images, labels), (want_images, want_labels) in zip(rest, expected[2:]):
        assert torch.equal(labels, want_labels) and torch.equal(images, want_images)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"randaugment_policy": "autoaugment"}, "randaugment_policy='autoaugment' is not supported"),
        ({"randaugment_magnitude": 12}, r"randaugment_magnitude=12 must lie in \[0, 10\] for the timm policy"),
        ({"randaugment_magnitude_std": -1.0}, "randaugment_magnitude_std=-1.0 must be >= 0"),
    ],
)
def test_bad_rand_augment_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message):
        CIFAR10DataModule(**options)


def test_image_folder_runs_timms_policy_with_its_interpolation_and_mean_fill(tmp_path):
    from dataset_fixtures import write_image_tree
    from lit_vision.data import ImageFolderDataModule

    write_image_tree(tmp_path, classes=("a", "b"), splits={"train": 4, "val": 1}, size=(40, 30))
    dm = ImageFolderDataModule(data_dir=str(tmp_path), batch_size=8, image_size=24, num_workers=0, hflip=False,
                               interpolation="bicubic", randaugment_ops=2, normalize=False)  # fmt: skip
    dm.setup("fit")
    images, targets, problems = next(iter(dm.train_dataloader()))
    dm.trainer = training(1)
    out, _ = dm.on_after_batch_transfer((images, targets, problems), 0)
    generator = torch.Generator().manual_seed(mix_seed(global_seed(), 1, 0))  # (seed, rank 1, batch 0)
    expected = rand_augment(images, generator=generator, interpolation="bicubic", fill=FILL)
    assert fill_from_mean(dm.hparams.mean) == FILL
    assert torch.equal(out, expected.float() / 255) and not torch.equal(out, images.float() / 255)


def test_torchvision_policy_operations_equal_torchvisions_on_pil_images():
    """The ConvMixer CIFAR script runs torchvision's RandAugment on PIL images. Color ops: every pixel within 1 gray
    level; geometric ops (nearest, black fill; the random sign makes the translation direction immaterial): under
    5 % of the pixels differ (rows where PIL's float64 and float32 here break an exact pixel-boundary tie apart)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.autoaugment import RandAugment as TorchvisionRandAugment
    from torchvision.transforms.autoaugment import _apply_op

    image = natural_image(32, 40, 0)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    space = TorchvisionRandAugment()._augmentation_space(31, (32, 40))
    for name in TORCHVISION_OPS:
        magnitudes, signed = space[name]
        value = float(magnitudes[12]) if magnitudes.ndim else 0.0
        differing = []
        for sign in (1.0, -1.0) if signed else (1.0,):
            theirs = _apply_op(pil, name, sign * value, InterpolationMode.NEAREST, None)
            theirs = torch.from_numpy(np.array(theirs)).permute(2, 0, 1).int()
            ours_sign = -sign if name.startswith("Translate") else sign  # torchvision shifts by +t, PIL's map by -t
            argument = torchvision_argument(name, 12, torch.tensor([ours_sign]), 31, 32, 40)
            ours = apply_op(name, image[None], argument, "nearest", [0.0, 0.0, 0.0])[0].int()
            differing.append(((ours - theirs).abs() > 1).float().mean().item())
        assert max(differing) < (0.05 if name in ("ShearX", "ShearY", "Rotate") else 1e-9), (name, differing)
