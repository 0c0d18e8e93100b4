"""scikit-learn's digits (1,797 8x8 grey images, 10 classes) as the embedded default data set: no download."""

from typing import Literal

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from lit_vision.data.checks import check_positive
from lit_vision.data.sampling import ResumableDataModule
from lit_vision.data.tint import random_tint
from lit_vision.data.transforms import normalize, random_crop, resize


class DigitsDataModule(ResumableDataModule):
    """Stratified, seeded train/val/test split held in memory; resize, channels, augmentation and normalization run
    batched on the device in `on_after_batch_transfer`.

    Args:
        batch_size: images per batch (per process).
        image_size: side the 8x8 images are resized to on the device.
        in_chans: 1 (grey) or 3 (grey repeated, or colored with ``tint``).
        val_fraction: fraction of the images held out for validation (stratified, seeded).
        test_fraction: fraction of the images held out for testing (stratified, seeded).
        seed: seed of the split, the training order and the augmentation.
        augment: random padded crops of training batches.
        crop_padding: zero padding of the random crop, in native 8 px pixels.
        normalize: normalize by the training split's mean and std per channel; false leaves [0, 1].
        num_workers: data-loading processes; 0 loads in the main process.
        tint: paint each digit with seeded random foreground/background colors (needs ``in_chans=3``).
        classes: keep only these digits, relabelled 0..k-1 in the given order (e.g. [5, 6, 7, 8, 9] for a transfer
            task); None keeps all ten.
        train_fraction: fraction of each class's training images kept (stratified, seeded), for few-shot
            fine-tuning; the validation and test splits stay whole.
        mean: normalization mean per channel (one value or in_chans values); None uses the training split's, or the
            pretrained weights' when the model has ``pretrained`` (filled in by the CLI).
        std: normalization standard deviation per channel, as ``mean``.
    """

    native_size = 8

    def __init__(
        self,
        batch_size: int = 64,
        image_size: int = 8,
        in_chans: Literal[1, 3] = 1,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        augment: bool = True,
        crop_padding: int = 1,
        normalize: bool = True,
        num_workers: int = 0,
        tint: bool = False,
        classes: list[int] | None = None,
        train_fraction: float = 1.0,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        check_positive(batch_size=batch_size, image_size=image_size)
        classes = list(range(10)) if classes is None else [int(c) for c in classes]
        if not classes or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
            raise ValueError(f"classes={classes} must be distinct digits 0-9, e.g. [5, 6, 7, 8, 9], or null for all")
        if not 0 < train_fraction <= 1:
            raise ValueError(f"train_fraction={train_fraction} must lie in (0, 1]; 1 keeps every training image")
        for name, values in (("mean", mean), ("std", std)):
            if values is not None and len(values) not in (1, in_chans):
                raise ValueError(f"{name}={list(values)} needs 1 or in_chans={in_chans} values")
        if (mean is None) != (std is None):
            raise ValueError(f"give both mean and std or neither (mean={mean}, std={std})")
        if tint and in_chans != 3:
            raise ValueError(f"tint=True paints digits in color and needs in_chans=3, got in_chans={in_chans}")
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"val_fraction={val_fraction} and test_fraction={test_fraction} must each lie in (0, 1) and sum below 1"
            )
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.image_size = image_size
        self.in_chans = in_chans
        self.classes = classes
        self.num_classes = len(classes)
        self.class_names = [str(c) for c in classes]
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        hp = self.hparams
        if hp.tint:  # seeded foreground/background hues, so a color model has hue and saturation to read
            images = random_tint(images, seed=hp.seed)
        relabel = torch.full((10,), -1, dtype=torch.long)
        relabel[self.classes] = torch.arange(len(self.classes))
        keep = relabel[labels] >= 0
        images, labels = images[keep], relabel[labels[keep]]
        index = torch.arange(len(labels))
        rest, test = train_test_split(index, test_size=hp.test_fraction, stratify=labels, random_state=hp.seed)
        train, val = train_test_split(
            rest, test_size=hp.val_fraction / (1 - hp.test_fraction), stratify=labels[rest], random_state=hp.seed
        )
        if hp.train_fraction < 1:
            train, _ = train_test_split(
                train, train_size=hp.train_fraction, stratify=labels[train], random_state=hp.seed
            )
        self.splits = {
            name: TensorDataset(images[idx], labels[idx])
            for name, idx in (("train", train), ("val", val), ("test", test))
        }
        # statistics of the training split, per channel after the grey -> in_chans expansion
        channels = images[train].transpose(0, 1).flatten(1)
        mean, std = channels.mean(dim=1).tolist(), channels.std(dim=1).tolist()
        if hp.mean is not None:
            mean, std = list(hp.mean), list(hp.std)
        self.mean = tuple(mean * self.in_chans if len(mean) == 1 else mean)
        self.std = tuple(std * self.in_chans if len(std) == 1 else std)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self.training_order.loader(
            self.splits["train"], self.batch_size, self.trainer, num_workers=self.hparams.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # the model's example_input_array (Lightning's model summary)
            return batch
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        if training and self.hparams.augment:
            generator = self.training_order.augmentation_generator(images.device, self.trainer.global_rank)
            images = random_crop(images, self.hparams.crop_padding, generator=generator)
        images = resize(images, self.image_size)
        if images.shape[1] != self.in_chans:
            images = images.expand(-1, self.in_chans, -1, -1)
        if self.hparams.normalize:
            images = normalize(images, self.mean, self.std)
        return images.contiguous(), labels
