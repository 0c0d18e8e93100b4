"""CIFAR-10 / CIFAR-100 from the official python-pickle batches, held in memory as uint8.

Batches travel to the device as uint8 (4x less than float) and are augmented there in `on_after_batch_transfer`:
random-resized crop (`crop_scale`), padded random crop, flip, RandAugment, resize to `image_size`, normalization and
random erasing, all batched, so the loader is never the bottleneck.
"""

import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from lit_vision.data.checks import check_non_negative, check_positive
from lit_vision.data.loading import make_loader, on_cuda
from lit_vision.data.rand_augment import check_rand_augment_options, rand_augment_by_policy
from lit_vision.data.sampling import ResumableDataModule
from lit_vision.data.transforms import (
    normalize,
    random_crop,
    random_erasing,
    random_hflip,
    random_resized_crop,
    random_rotation,
    resize,
    to_float,
)


class InMemoryImages(Dataset):
    """uint8 images (N, C, H, W) and labels; a whole batch is gathered with one index (`__getitems__`)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.images[index], self.labels[index]


def collate_batch(data: Any) -> Any:
    """Batches gathered by `__getitems__` pass through; lists of samples are collated as usual."""
    return data if isinstance(data, tuple) else default_collate(data)


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (rest, held_out): `fraction` of every class held out, chosen by a seeded permutation."""
    generator = torch.Generator().manual_seed(seed)
    rest, held_out = [], []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        count = int(fraction * len(members) + 0.5)
        if fraction > 0 and len(members) > 1:
            count = min(max(count, 1), len(members) - 1)  # tiny classes still give one of each
        held_out.append(members[:count])
        rest.append(members[count:])
    return torch.cat(rest).sort().values, torch.cat(held_out).sort().values


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_pickle_batch(path: Path) -> dict[str, Any]:
    """One official batch file (a python-2 pickle); keys come back as str whatever the pickling side used."""
    with open(path, "rb") as file:
        content = pickle.load(file, encoding="latin1")
    if not isinstance(content, dict):
        raise ValueError(f"{path} is not a CIFAR python batch (expected a pickled dict, got {type(content).__name__})")
    return {_text(key): value for key, value in content.items()}


class _CIFARDataModule(ResumableDataModule):
    """CIFAR held in memory as uint8; batches are augmented, resized and normalized on the device.

    RandAugment runs per sample, drawn from the per-rank, per-batch generator (``lit_vision.data.rand_augment``).

    Args:
        data_dir: folder holding the extracted batches (``data_dir/<cifar folder>/`` or ``data_dir/`` itself).
        download: download the archive into ``data_dir`` when the files are missing (needs network).
        batch_size: images per batch (per process).
        image_size: side the images are resized to on the device (e.g. 56 or 224); 32 keeps the native size.
        val_split: fraction of each class of the training set held out for validation (stratified, seeded); 0
            validates on the test set and trains on all 50,000 images.
        seed: seed of the validation split, the training order and the augmentation.
        augment: augment training batches; false turns every augmentation below off.
        crop_padding: zero padding of the random crop (at the native 32 px); 0 for no crop.
        crop_scale: < 1: random-resized crop with area in [crop_scale, 1] and square aspect before the padded crop.
        hflip: random horizontal flips.
        rotation_degrees: torchvision's RandomRotation (nearest, zero fill) after the resize, as in FCCN's recipe.
        aug_repeats: > 1: repeated augmentation over the DDP processes (see ``ResumableDistributedSampler``).
        randaugment_ops: operations per image (timm's `n`); 0 turns RandAugment off.
        randaugment_magnitude: timm's `m` (0-10), or torchvision's magnitude bin (0-30).
        randaugment_magnitude_std: std of timm's Gaussian magnitude noise per operation (`mstd`).
        randaugment_increasing: timm's "increasing" op set (`inc1`) instead of the original one.
        randaugment_policy: 'timm' (rand-m{m}-mstd{std}-inc1, fill: the data set's mean, bicubic) or
            'torchvision' (transforms.RandAugment(ops, magnitude): always applied, black fill, nearest).
        erase_prob: probability of random erasing (timm's "pixel" mode) per image, after normalization.
        normalize: normalize by the data set's mean and std; false leaves RGB in [0, 1].
        num_workers: data-loading processes; 0 loads in the main process.
    """

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    names_key: str
    archive: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int
    in_chans = 3
    native_size = 32

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 128,
        image_size: int = 32,
        val_split: float = 0.1,
        seed: int = 0,
        augment: bool = True,
        crop_padding: int = 4,
        crop_scale: float = 1.0,
        hflip: bool = True,
        rotation_degrees: float = 0.0,
        aug_repeats: int = 0,
        randaugment_ops: int = 0,
        randaugment_magnitude: int = 9,
        randaugment_magnitude_std: float = 0.5,
        randaugment_increasing: bool = True,
        randaugment_policy: Literal["timm", "torchvision"] = "timm",
        erase_prob: float = 0.0,
        normalize: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_positive(batch_size=batch_size, image_size=image_size)
        if not 0 <= val_split < 1:
            raise ValueError(f"val_split={val_split} must lie in [0, 1); 0 validates on the test set")
        if not 0 < crop_scale <= 1:
            raise ValueError(f"crop_scale={crop_scale} must lie in (0, 1]; 1 turns the random-resized crop off")
        check_non_negative(
            crop_padding=crop_padding,
            num_workers=num_workers,
            randaugment_ops=randaugment_ops,
            rotation_degrees=rotation_degrees,
            aug_repeats=aug_repeats,
        )
        if not 0 <= erase_prob <= 1:
            raise ValueError(f"erase_prob={erase_prob} must lie in [0, 1]")
        check_rand_augment_options(
            randaugment_ops, randaugment_magnitude, randaugment_magnitude_std, randaugment_policy
        )
        self.save_hyperparameters()
        self.data_dir = Path(data_dir).expanduser()
        self.batch_size = batch_size
        self.image_size = image_size
        self.class_names: list[str] | None = None
        self.splits: dict[str, InMemoryImages] = {}

    # --- locating and reading the files ----------------------------------------------------------------------------
    def required_files(self) -> tuple[str, ...]:
        return (*self.train_files, *self.test_files, self.meta_file)

    def locate(self) -> Path:
        """The directory holding the batch files: `data_dir/<folder>/` (torchvision's layout) or `data_dir/` itself."""
        for candidate in (self.data_dir / self.folder, self.data_dir):
            if all((candidate / name).is_file() for name in self.required_files()):
                return candidate
        expected = self.data_dir / self.folder
        missing = [name for name in self.required_files() if not (expected / name).is_file()]
        raise FileNotFoundError(
            f"{self.name} not found: {expected}/ lacks {', '.join(missing)}; extract {self.archive} into "
            f"{self.data_dir}/ (it creates {self.folder}/), or pass --data.init_args.download true where the "
            "network allows"
        )

    def prepare_data(self) -> None:
        if not self.hparams.download:
            return
        try:
            self.locate()
            return
        except FileNotFoundError:
            pass
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, self.name.replace("-", ""))
        try:
            dataset_class(str(self.data_dir), train=True, download=True)
        except Exception as error:  # no network, proxy, disk full: say where the files go instead
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise FileNotFoundError(
                f"could not download {self.name} into {self.data_dir} ({reason}); download {self.archive} elsewhere "
                f"and extract it into {self.data_dir}/"
            ) from None

    def read_split(self, directory: Path, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in files:
            batch = read_pickle_batch(directory / name)
            data = np.asarray(batch.get("data"))
            label_values = batch.get(self.label_key)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or label_values is None:
                raise ValueError(
                    f"{directory / name} is not a {self.name} python batch: expected 'data' of shape (N, 3072) and "
                    f"'{self.label_key}', got data shape {data.shape} and keys {sorted(batch)}"
                )
            images.append(torch.from_numpy(data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32)))
            labels.append(torch.as_tensor(np.asarray(label_values), dtype=torch.long))
        return torch.cat(images), torch.cat(labels)

    @property
    def label_key(self) -> str:
        return "labels"

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        directory = self.locate()
        meta = read_pickle_batch(directory / self.meta_file)
        self.class_names = [_text(name) for name in meta[self.names_key]]
        train_images, train_labels = self.read_split(directory, self.train_files)
        test_images, test_labels = self.read_split(directory, self.test_files)
        bad = train_labels.max().item() >= self.num_classes or test_labels.max().item() >= self.num_classes
        if bad or train_labels.min().item() < 0:
            raise ValueError(f"{directory} holds labels outside 0..{self.num_classes - 1}; is it {self.name}?")
        self.splits["test"] = InMemoryImages(test_images, test_labels)
        if self.hparams.val_split > 0:
            train, val = stratified_split(train_labels, self.hparams.val_split, self.hparams.seed)
            self.splits["train"] = InMemoryImages(train_images[train], train_labels[train])
            self.splits["val"] = InMemoryImages(train_images[val], train_labels[val])
        else:
            self.splits["train"] = InMemoryImages(train_images, train_labels)
            self.splits["val"] = self.splits["test"]

    # --- loaders ---------------------------------------------------------------------------------------------------
    def _loader(self, split: str) -> DataLoader:
        return make_loader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.hparams.num_workers,
            pin_memory=on_cuda(self.trainer),
            collate_fn=collate_batch,
        )

    def train_dataloader(self) -> DataLoader:
        """Sharded over DDP ranks, seeded per epoch, resumable mid-epoch (see `lit_vision.data.sampling`)."""
        dataset = self.splits["train"]
        return self.training_order.loader(
            dataset,
            self.batch_size,
            self.trainer,
            num_workers=self.hparams.num_workers,
            pin_memory=on_cuda(self.trainer),
            drop_last=len(dataset) > self.batch_size,
            aug_repeats=self.hparams.aug_repeats,
            collate_fn=collate_batch,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")

    # --- on-device augmentation --------------------------------------------------------------------------------------
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # the model's example_input_array (Lightning's model summary)
            return batch
        images, labels = batch  # uint8 until a step needs floats: a quarter of the memory traffic
        hp = self.hparams
        training = self.trainer is not None and self.trainer.training
        augment = training and hp.augment
        if augment:  # one generator per batch, seeded from (seed, rank, batch): a resumed run draws the same
            generator = self.training_order.augmentation_generator(
                images.device, getattr(self.trainer, "global_rank", 0)
            )
            if hp.crop_scale < 1:
                images = random_resized_crop(
                    to_float(images), self.native_size, (hp.crop_scale, 1.0), (1.0, 1.0), generator=generator
                )
            images = random_crop(images, hp.crop_padding, generator=generator)
            if hp.hflip:
                images = random_hflip(images, generator=generator)
            images = self.rand_augment(images, generator)
        if self.image_size != images.shape[-1]:
            images = resize(to_float(images), self.image_size)
        if augment:
            images = random_rotation(images, hp.rotation_degrees, generator=generator)
        images = normalize(images, self.mean, self.std) if hp.normalize else to_float(images)
        if augment and hp.erase_prob > 0:
            images = random_erasing(images, hp.erase_prob, generator=generator)
        return images.contiguous(), labels

    def rand_augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        hp = self.hparams
        return rand_augment_by_policy(
            images, hp.randaugment_policy, hp.randaugment_ops, hp.randaugment_magnitude, hp.randaugment_magnitude_std,
            hp.randaugment_increasing, generator, self.mean,
        )  # fmt: skip


class CIFAR10DataModule(_CIFARDataModule):
    """CIFAR-10: 50,000 train + 10,000 test 32x32 images, 10 classes."""

    name = "CIFAR-10"
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    meta_file = "batches.meta"
    names_key = "label_names"
    archive = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    num_classes = 10


class CIFAR100DataModule(_CIFARDataModule):
    """CIFAR-100: 50,000 train + 10,000 test 32x32 images, 100 fine classes or 20 coarse superclasses.

    Args:
        label_type: "fine" (100 classes) or "coarse" (the 20 superclasses).
    """

    name = "CIFAR-100"
    folder = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    meta_file = "meta"
    archive = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)

    def __init__(self, label_type: Literal["fine", "coarse"] = "fine", **kwargs) -> None:
        if label_type not in ("fine", "coarse"):
            raise ValueError(f"label_type={label_type!r} is not supported; use 'fine' (100 classes) or 'coarse' (20)")
        self.label_type = label_type
        super().__init__(**kwargs)
        self.num_classes = 100 if label_type == "fine" else 20

    @property
    def label_key(self) -> str:
        return f"{self.label_type}_labels"

    @property
    def names_key(self) -> str:
        return f"{self.label_type}_label_names"


__all__ = ["CIFAR10DataModule", "CIFAR100DataModule", "InMemoryImages", "stratified_split"]
