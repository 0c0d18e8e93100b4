"""Image folders in the ImageNet layout: `train/<class>/*`, `val/<class>/*`, optional `test/<class>/*`, and an
unlabeled `predict_dir` for `lit-vision predict`.

Workers read and decode each file (TorchCodec, PIL for the rest), cut the crop (random-resized for training,
resize + center crop by `crop_pct` for evaluation), resize it to `image_size` and flip it, all in uint8 (cheap per
image). Batches travel as uint8 (a quarter of float32); RandAugment, normalization (fused with the float conversion)
and random erasing run batched on the device. Unreadable files are skipped
with a counted warning (`on_corrupt: skip`), training draws a substitute so batches keep their size, or stop the run
with the file's name (`on_corrupt: error`).
"""

import os
import random
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import DataLoader, Dataset

from lit_vision.data.checks import check_non_negative, check_positive
from lit_vision.data.crops import sample_box
from lit_vision.data.decode import (
    IMG_EXTENSIONS,
    UnreadableImage,
    crop_resize,
    decode_for_crop,
    decode_rgb,
    is_image_file,
    jpeg_size,
    read_bytes,
    read_rgb,
)
from lit_vision.data.device_augment import DeviceAugmentation, check_crop_options
from lit_vision.data.device_decode import EncodedBatch, EncodedCrop, collate_encoded
from lit_vision.data.loading import default_num_workers, make_loader, on_cuda
from lit_vision.data.rand_augment import check_rand_augment_options
from lit_vision.data.sampling import ResumableDataModule
from lit_vision.data.transforms import IMAGENET_MEAN, IMAGENET_STD

Sample = tuple[str, int]


# --- scanning --------------------------------------------------------------------------------------------------------
def image_files(directory: Path) -> list[str]:
    """Image files under `directory`, recursively, sorted; other files are ignored."""
    found = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in sorted(files) if is_image_file(name)]
    return found


def class_folders(directory: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith("."))


def scan_split(directory: Path, split: str) -> tuple[list[str], list[Sample]]:
    """(class names, [(path, label)]) of one split; one-line errors for a missing split, no classes, empty classes."""
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{split} split not found: {directory} is not a directory; expected the ImageNet layout "
            f"{directory}/<class>/<image files>"
        )
    classes = class_folders(directory)
    if not classes:
        hint = " (ImageNet's flat val/ must first be sorted into class folders)" if split == "val" else ""
        raise ValueError(f"{split} split {directory} has no class folders; expected {directory}/<class>/<images>{hint}")
    samples = []
    for label, name in enumerate(classes):
        files = image_files(directory / name)
        if not files:
            raise ValueError(
                f"class folder {directory / name} has no images (extensions {', '.join(IMG_EXTENSIONS)}); "
                "add images or remove the folder from every split"
            )
        samples += [(path, label) for path in files]
    return classes, samples


def check_same_classes(reference: list[str], other: list[str], reference_dir: Path, other_dir: Path) -> None:
    if reference == other:
        return
    only_ref = sorted(set(reference) - set(other))
    only_other = sorted(set(other) - set(reference))
    raise ValueError(
        f"class folders differ between {reference_dir} and {other_dir}: only in {reference_dir.name}/: "
        f"{only_ref[:5]}{'...' if len(only_ref) > 5 else ''} ({len(only_ref)}), only in {other_dir.name}/: "
        f"{only_other[:5]}{'...' if len(only_other) > 5 else ''} ({len(only_other)}); every split needs the same "
        "class folders"
    )


# --- datasets ------------------------------------------------------------------------------------------------------
class ImageFiles(Dataset):
    """Items `(uint8 image (3, size, size), target, problem)`: `target` is the label, or the path for unlabeled
    files; `problem` is "" or "<path>: <reason>" for a file that could not be decoded. With `substitute` (training)
    the next readable file stands in for it; otherwise the item is a blank to be dropped after transfer. With
    `decode_on_device`, a JPEG's item carries an `EncodedCrop` (bytes, box, flip) instead of its image."""

    def __init__(
        self,
        samples: list[Sample],
        size: int,
        train: bool,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        crop_pct: float = 0.875,
        interpolation: str = "bilinear",
        labeled: bool = True,
        substitute: bool = False,
        hflip: bool = False,
        decode_on_device: bool = False,
        reduced_decode: bool = False,
    ) -> None:
        self.samples = samples
        self.size, self.train = size, train
        self.scale, self.ratio, self.crop_pct = scale, ratio, crop_pct
        self.interpolation = interpolation
        self.labeled, self.substitute = labeled, substitute
        self.hflip = hflip
        self.decode_on_device = decode_on_device  # JPEGs become `EncodedCrop`s (see `collate_encoded`)
        self.reduced_decode = reduced_decode  # JPEGs with crops >= 2x size decode at 1/2, 1/4, 1/8 (`decode_for_crop`)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> torch.Tensor | EncodedCrop:
        path = self.samples[index][0]
        size = None
        if self.decode_on_device or self.reduced_decode:  # the box from the header: the same draws, in the same order
            data = read_bytes(path)
            size = jpeg_size(data)
        if size is None:
            image = read_rgb(path) if not (self.decode_on_device or self.reduced_decode) else decode_rgb(data)
            box = self.box(image.shape[1], image.shape[2])
        elif self.decode_on_device:
            return EncodedCrop(data, self.box(*size), self.hflip and random.random() < 0.5, path)
        else:
            image, box = decode_for_crop(data, self.box(*size), self.size)
        image = crop_resize(image, box, self.size, self.interpolation)
        return image.flip(-1) if self.hflip and random.random() < 0.5 else image

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        return sample_box(height, width, self.size, self.train, self.scale, self.ratio, self.crop_pct)

    def target(self, index: int) -> int | str:
        path, label = self.samples[index]
        return label if self.labeled else path

    def __getitem__(self, index: int):
        try:
            return self.load(index), self.target(index), ""
        except UnreadableImage as error:
            problem = f"{self.samples[index][0]}: {error}"
        if self.substitute:
            for step in range(1, min(len(self), 64)):
                other = (index + step) % len(self)
                try:
                    return self.load(other), self.target(other), problem
                except UnreadableImage:
                    continue
        blank = torch.zeros(3, self.size, self.size, dtype=torch.uint8)
        return blank, self.target(index) if self.labeled else self.samples[index][0], problem


# --- the DataModule ------------------------------------------------------------------------------------------------
class ImageFolderDataModule(DeviceAugmentation, ResumableDataModule):
    """Image folders in the ImageNet layout (``<split>/<class>/<image>``), decoded and cropped in the loader workers.

    RandAugment runs per sample on the device, drawn from the per-rank, per-batch generator, resampling with
    ``interpolation`` (``lit_vision.data.rand_augment``).

    Args:
        data_dir: root folder holding the split folders.
        batch_size: images per batch (per process).
        image_size: side of the (square) images the model sees.
        crop_pct: evaluation resizes the shorter side to image_size / crop_pct, then center-crops image_size.
        scale: area range of the training random-resized crop, as fractions of the image.
        ratio: aspect-ratio range of the training random-resized crop.
        interpolation: resampling of the crops (and of RandAugment): "bilinear" or "bicubic".
        hflip: random horizontal flips of training images.
        rotation_degrees: torchvision's RandomRotation (nearest, zero fill) on the device after the crop and flip,
            as in FCCN's ImageNet recipe; 0 turns it off.
        aug_repeats: > 1: repeated augmentation over the DDP processes (DeiT uses 3), see
            ``ResumableDistributedSampler``.
        randaugment_ops: operations per image (timm's `n`); 0 turns RandAugment off.
        randaugment_magnitude: timm's `m` (0-10), or torchvision's magnitude bin (0-30).
        randaugment_magnitude_std: std of timm's Gaussian magnitude noise per operation (`mstd`).
        randaugment_increasing: timm's "increasing" op set (`inc1`) instead of the original one.
        randaugment_policy: 'timm' (rand-m{m}-mstd{std}-inc1, fill: round(255 * mean)) or 'torchvision'
            (transforms.RandAugment(ops, magnitude): always applied, black fill, nearest).
        erase_prob: probability of random erasing (timm's "pixel" mode) per training image, after normalization.
        normalize: normalize by ``mean`` and ``std``; false leaves RGB in [0, 1].
        mean: per-channel mean of the normalization; None: the model's ``pretrained`` weights' (filled in by the
            CLI), else ImageNet's.
        std: per-channel std of the normalization; None as ``mean``.
        num_workers: data-loading processes; None picks min(8, CPUs available).
        on_corrupt: unreadable files: "skip" (counted warning; training draws a substitute) or "error" (stop, naming
            the file).
        train_dir: training split folder, relative to ``data_dir``.
        val_dir: validation split folder, relative to ``data_dir``.
        test_dir: test split folder, relative to ``data_dir`` (optional).
        predict_dir: a folder of unlabeled images (searched recursively) for ``lit-vision predict``.
        num_classes: read from the training class folders when None; give it when ``data_dir`` has no training
            split (prediction on another machine).
        decode_device: where JPEGs are decoded: "cpu" (in the workers) or "cuda" (the workers read the files, the
            GPU decodes each batch in one nvJPEG call, then crops and resizes; other formats stay on the workers).
        reduced_decode: JPEGs whose crop spans >= 2x image_size decode at 1/2, 1/4 or 1/8 scale (DCT scaling, as
            fast loaders do): less work on large photos, slightly different pixels; off: exact (CPU decoding only).
    """

    in_chans = 3

    def __init__(
        self,
        data_dir: str = "data/imagenet",
        batch_size: int = 128,
        image_size: int = 224,
        crop_pct: float = 0.875,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: Literal["bilinear", "bicubic"] = "bilinear",
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
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        num_workers: int | None = None,
        on_corrupt: Literal["skip", "error"] = "skip",
        train_dir: str = "train",
        val_dir: str = "val",
        test_dir: str = "test",
        predict_dir: str | None = None,
        num_classes: int | None = None,
        decode_device: Literal["cpu", "cuda"] = "cpu",
        reduced_decode: bool = False,
    ) -> None:
        super().__init__()
        check_positive(batch_size=batch_size, image_size=image_size)
        check_crop_options(crop_pct, scale, ratio, interpolation)
        if on_corrupt not in ("skip", "error"):
            raise ValueError(f"on_corrupt={on_corrupt!r} is not supported; use 'skip' or 'error'")
        check_non_negative(rotation_degrees=rotation_degrees, aug_repeats=aug_repeats)
        check_rand_augment_options(
            randaugment_ops, randaugment_magnitude, randaugment_magnitude_std, randaugment_policy
        )
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers={num_workers} must be >= 0 (or null for min(8, CPUs))")
        if decode_device not in ("cpu", "cuda"):
            raise ValueError(f"decode_device={decode_device!r} is not supported; use 'cpu' or 'cuda'")
        if decode_device == "cuda" and not torch.cuda.is_available():
            raise ValueError("decode_device='cuda' needs a CUDA GPU and this machine has none; use decode_device: cpu")
        self.save_hyperparameters(ignore=["num_classes"])  # the model's num_classes is the one logged
        self.hparams.mean = tuple(mean) if mean is not None else IMAGENET_MEAN
        self.hparams.std = tuple(std) if std is not None else IMAGENET_STD
        self.data_dir = Path(data_dir).expanduser()
        self.batch_size = batch_size
        self.image_size = image_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.class_names: list[str] | None = None
        self.datasets: dict[str, ImageFiles] = {}
        self.unreadable: dict[str, str] = {}
        train_root = self.data_dir / train_dir
        if num_classes is None:
            if train_root.is_dir():
                num_classes = len(class_folders(train_root))
                if num_classes == 1:
                    raise ValueError(
                        f"data_dir={str(self.data_dir)!r}: {train_root} has one class folder "
                        f"({class_folders(train_root)[0]}); a classifier needs two or more: add a folder per class"
                    )
            elif predict_dir is not None:
                raise ValueError(
                    f"num_classes is unknown: {train_root} does not exist; pass --data.init_args.num_classes with "
                    "the class count of the checkpoint"
                )
            else:
                scan_split(train_root, "train")  # raises the missing-split error
        self.num_classes = num_classes

    def _dataset(self, samples: list[Sample], train: bool, labeled: bool = True) -> ImageFiles:
        hp = self.hparams
        return ImageFiles(
            samples,
            size=self.image_size,
            train=train,
            scale=tuple(hp.scale),
            ratio=tuple(hp.ratio),
            crop_pct=hp.crop_pct,
            interpolation=hp.interpolation,
            labeled=labeled,
            substitute=train,
            hflip=train and hp.hflip,
            decode_on_device=hp.decode_device != "cpu",
            reduced_decode=hp.reduced_decode,
        )

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        train_root = self.data_dir / hp.train_dir
        if stage == "predict":
            if hp.predict_dir is None:
                raise ValueError("predict needs a folder of images: pass --data.init_args.predict_dir <folder>")
            if train_root.is_dir() and self.class_names is None:
                self.class_names = class_folders(train_root)
            root = Path(hp.predict_dir).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"predict_dir={str(root)!r} is not a directory")
            files = image_files(root)
            if not files:
                raise ValueError(f"predict_dir={str(root)!r} holds no images (extensions {', '.join(IMG_EXTENSIONS)})")
            self.datasets["predict"] = self._dataset([(path, -1) for path in files], train=False, labeled=False)
            return
        if "train" in self.datasets:
            return
        classes, train = scan_split(train_root, "train")
        if self.num_classes != len(classes):
            raise ValueError(
                f"num_classes={self.num_classes} does not match the {len(classes)} class folders of {train_root}; "
                "leave num_classes unset to read it from the folders"
            )
        val_root = self.data_dir / hp.val_dir
        val_classes, val = scan_split(val_root, "val")
        check_same_classes(classes, val_classes, train_root, val_root)
        self.class_names = classes
        self.datasets["train"] = self._dataset(train, train=True)
        self.datasets["val"] = self._dataset(val, train=False)
        test_root = self.data_dir / hp.test_dir
        if test_root.is_dir():
            test_classes, test = scan_split(test_root, "test")
            check_same_classes(classes, test_classes, train_root, test_root)
            self.datasets["test"] = self._dataset(test, train=False)

    # --- loaders ---------------------------------------------------------------------------------------------------
    def _loader(self, split: str) -> DataLoader:
        return make_loader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=on_cuda(self.trainer),
            collate_fn=self.collate_fn,
        )

    @property
    def collate_fn(self):
        return collate_encoded if self.hparams.decode_device != "cpu" else None

    def train_dataloader(self) -> DataLoader:
        """Sharded over DDP ranks, seeded per epoch, resumable mid-epoch (see `lit_vision.data.sampling`); the
        crops drawn in worker processes follow the workers' per-epoch seeds."""
        dataset = self.datasets["train"]
        return self.training_order.loader(
            dataset,
            self.batch_size,
            self.trainer,
            num_workers=self.num_workers,
            pin_memory=on_cuda(self.trainer),
            drop_last=len(dataset) > self.batch_size,
            aug_repeats=self.hparams.aug_repeats,
            persistent_workers=self.num_workers > 0,
            collate_fn=self.collate_fn,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader | list:
        """The test/ split; without one, no batches (`lit-vision fit` then skips its final test)."""
        return self._loader("test") if "test" in self.datasets else []

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    # --- after transfer: unreadable files, then batched augmentation on the device ---------------------------------------
    def report_unreadable(self, problems: list[str]) -> None:
        for problem in problems:
            path, _, reason = problem.partition(": ")
            if self.hparams.on_corrupt == "error":
                raise ValueError(
                    f"unreadable image {path} ({reason}); remove or replace it, or pass --data.init_args.on_corrupt skip"
                )
            if path not in self.unreadable:
                self.unreadable[path] = reason
                warnings.warn(
                    f"skipped unreadable image {path} ({reason}); {len(self.unreadable)} unreadable file(s) so far",
                    stacklevel=2,
                )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # the model's example_input_array (Lightning's model summary)
            return batch
        images, targets, problems = batch
        if isinstance(images, EncodedBatch):  # decode_device: the JPEGs of the batch, decoded where it now lives
            images, failed = images.decode(self.image_size, self.hparams.interpolation)
            problems = [failed.get(position, problem) for position, problem in enumerate(problems)]
        training = self.trainer is not None and self.trainer.training
        failed = [problem for problem in problems if problem]
        if failed:
            self.report_unreadable(failed)
            if not training:  # evaluation and prediction drop the blanks
                keep = [not problem for problem in problems]
                images = images[torch.tensor(keep, device=images.device)]
                if isinstance(targets, list | tuple):  # paths of unlabeled images
                    targets = [target for target, kept in zip(targets, keep) if kept]
                else:
                    targets = targets[torch.tensor(keep, device=targets.device)]
        return self.augment_on_device(images, training), targets
