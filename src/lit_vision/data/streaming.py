"""Images streamed from LitData shards (`lit-vision data optimize`), from a local directory or an object store.

Layout of `data_dir` (local path or `s3://`, `gs://`, ... URL): `classes.json`, `train/`, `val/`, optional `test/`,
each split a litdata dataset of `{"image": file bytes, "label", "index"}` samples.

Order over DDP ranks and loader workers is litdata's: per epoch, the chunks are permuted (seeded by the
`seed_everything` seed and the epoch), split over ranks x workers, and each chunk's items are permuted. Every rank
gets the same number of full batches: the training samples of an epoch are seen at most once over all ranks, and the
remainder `N mod (ranks x batch_size)` is left out of that epoch (a different part of the split each epoch when there
are several chunks; no sample is repeated to pad). Validation and test see every sample once.

Per-sample work (decode, crop, flip) runs in the loader workers; the crop of a sample is drawn from a generator seeded
by (seed, epoch, sample index), so it does not depend on which worker reads it. The on-device augmentation is
ImageFolder's (`DeviceAugmentation`). `state_dict()` carries the loader's position (litdata's `StreamingDataLoader`
state) and the augmentation seeds: a run resumed mid-epoch sees the same remaining batches, augmented the same.
"""

import json
import random
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from litdata import StreamingDataLoader, StreamingDataset

from lit_vision.data.checks import check_positive
from lit_vision.data.crops import crop_sample
from lit_vision.data.decode import decode_rgb
from lit_vision.data.device_augment import (
    DeviceAugmentation,
    check_crop_options,
    check_device_augmentation_options,
)
from lit_vision.data.loading import default_num_workers, on_cuda
from lit_vision.data.optimize import CLASSES_FILE
from lit_vision.data.sampling import ResumableDataModule, TrainingOrder, global_seed, mix_seed
from lit_vision.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def is_url(path: str) -> bool:
    return "://" in path


def read_shard_info(data_dir: str, storage_options: dict | None = None) -> dict[str, Any]:
    """The `classes.json` written beside the shards (downloaded first when `data_dir` is a URL)."""
    if not is_url(data_dir):
        path = Path(data_dir).expanduser() / CLASSES_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"data_dir={data_dir!r} has no {CLASSES_FILE}: it is not a `lit-vision data optimize` output; run "
                f"`lit-vision data optimize --input <ImageFolder root> --output {data_dir}` first"
            )
        return json.loads(path.read_text())
    from litdata.streaming.downloader import get_downloader

    with tempfile.TemporaryDirectory() as local:
        target = str(Path(local) / CLASSES_FILE)
        try:
            get_downloader(data_dir, local, [], storage_options).download_file(
                f"{data_dir.rstrip('/')}/{CLASSES_FILE}", target
            )
            return json.loads(Path(target).read_text())
        except Exception as error:  # each object store raises its own errors, some over many lines
            reason = (str(error).strip().splitlines() or [""])[0][:200]
            raise FileNotFoundError(
                f"data_dir={data_dir!r}: cannot read {CLASSES_FILE} ({type(error).__name__}: {reason}); check the URL, "
                "the store's credentials (environment, storage_options) and that the `lit-vision data optimize` "
                "output was uploaded there"
            ) from None


class ShardedImages(StreamingDataset):
    """Items `(uint8 image (3, size, size), label, index)` of one optimized split; `train` shuffles (seeded by
    `seed` and the epoch), draws each sample's crop from (seed, epoch, index) and, unless `drop_last` is false, gives
    every rank and worker the same number of full batches. On a parallel file system litdata would assign whole
    chunks to workers and trim them to the shortest (the same samples left out every epoch); `window_shuffle` allows
    that, else the chunks are permuted over all workers as on other disks and object stores."""

    def __init__(
        self,
        input_dir: str,
        size: int,
        train: bool,
        seed: int,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        crop_pct: float = 0.875,
        interpolation: str = "bilinear",
        hflip: bool = False,
        drop_last: bool | None = None,
        window_shuffle: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("item_shuffle_window", "full")  # one permutation of each chunk, not of 256-item blocks
        drop_last = train if drop_last is None else drop_last
        super().__init__(input_dir, shuffle=train, drop_last=drop_last, seed=seed, **kwargs)
        if train and not window_shuffle and self.posix_fast is not None and self.posix_fast.window_shuffle:
            self.posix_fast = None  # litdata's default order: chunks permuted over all workers each epoch
        self.size, self.train = size, train
        self.scale, self.ratio, self.crop_pct = scale, ratio, crop_pct
        self.interpolation, self.hflip = interpolation, hflip

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, int, int]:
        sample = super().__getitem__(index)
        rng = random.Random(mix_seed(self.seed, self.current_epoch, sample["index"])) if self.train else None
        image = crop_sample(
            decode_rgb(bytes(sample["image"])), self.size, self.train, self.scale, self.ratio, self.crop_pct,
            self.interpolation, self.hflip, rng,
        )  # fmt: skip
        return image, sample["label"], sample["index"]


class ResumableStreamingLoader(StreamingDataLoader):
    """litdata's StreamingDataLoader for resumed Lightning runs: a restore may hand it the same state twice (the
    DataModule's copy, then Lightning's own), loaded once; and the pass after a restore ends the restored epoch even
    when Lightning stops it at len(self) without exhausting the loader (litdata would replay that epoch's remainder
    as the next epoch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restored_state: dict | None = None

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        if self.restored_state is not None and obj == self.restored_state:
            return
        super().load_state_dict(obj)
        self.restored_state = obj

    def __iter__(self) -> Any:
        if self.restored_state is None:  # a new epoch, also after a pass that Lightning ended at len(self)
            self.restore = False
        self.restored_state = None
        yield from super().__iter__()


class StreamingTrainingOrder(TrainingOrder):
    """`TrainingOrder` whose loader is a `ResumableStreamingLoader` (litdata keeps the position)."""

    def loader(self, dataset: Any, batch_size: int, trainer: Any = None, **kwargs: Any) -> ResumableStreamingLoader:
        self._loader = ResumableStreamingLoader(dataset, batch_size=batch_size, **kwargs)
        if self._pending_position is not None:
            self._loader.load_state_dict(self._pending_position)
            self._pending_position = None
        return self._loader


class StreamingImageDataModule(DeviceAugmentation, ResumableDataModule):
    """Images from LitData shards written by ``lit-vision data optimize``, read from a local directory or streamed
    from an object store (``s3://``, ``gs://``, ...), sharded over DDP ranks and nodes by litdata.

    Decoding, cropping and flipping run in the loader workers; RandAugment, rotation, normalization and random
    erasing run batched on the device, as in ``ImageFolderDataModule``.

    Args:
        data_dir: the ``lit-vision data optimize`` output: a local directory or an object-store URL (``s3://...``).
        batch_size: images per batch (per process).
        image_size: side of the (square) images the model sees.
        crop_pct: evaluation resizes the shorter side to image_size / crop_pct, then center-crops image_size.
        scale: area range of the training random-resized crop, as fractions of the image.
        ratio: aspect-ratio range of the training random-resized crop.
        interpolation: resampling of the crops (and of RandAugment): "bilinear" or "bicubic".
        hflip: random horizontal flips of training images.
        rotation_degrees: torchvision's RandomRotation (nearest, zero fill) on the device after the crop and flip;
            0 turns it off.
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
        num_workers: data-loading processes per DDP process; None picks min(8, CPUs available).
        cache_dir: local folder for chunks downloaded from an object store; None: litdata's default cache.
        max_cache_size: disk budget of that cache, e.g. "100GB"; None: litdata's default (75 % of the free disk).
        storage_options: options of the object-store client (e.g. ``{endpoint_url: ...}``); credentials come from
            the environment as for the store's own tools.
        window_shuffle: on a parallel file system (NFS, Lustre, GPFS, VAST), litdata's sequential-read order: whole
            chunks per worker, shuffled within a sliding window, every worker trimmed to the shortest (some samples
            are left out of every epoch); false: chunks permuted over all workers each epoch, as elsewhere.
    """

    in_chans = 3

    def __init__(
        self,
        data_dir: str = "data/imagenet_shards",
        batch_size: int = 128,
        image_size: int = 224,
        crop_pct: float = 0.875,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: Literal["bilinear", "bicubic"] = "bilinear",
        hflip: bool = True,
        rotation_degrees: float = 0.0,
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
        cache_dir: str | None = None,
        max_cache_size: str | None = None,
        storage_options: dict[str, Any] | None = None,
        window_shuffle: bool = False,
    ) -> None:
        super().__init__()
        self.training_order = StreamingTrainingOrder()
        check_positive(batch_size=batch_size, image_size=image_size)
        check_crop_options(crop_pct, scale, ratio, interpolation)
        check_device_augmentation_options(
            rotation_degrees, randaugment_ops, randaugment_magnitude, randaugment_magnitude_std, randaugment_policy
        )
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers={num_workers} must be >= 0 (or null for min(8, CPUs))")
        self.save_hyperparameters(ignore=["storage_options"])  # may hold credentials: kept out of logged hparams
        self.storage_options = storage_options
        self.hparams.mean = tuple(mean) if mean is not None else IMAGENET_MEAN
        self.hparams.std = tuple(std) if std is not None else IMAGENET_STD
        self.data_dir = str(data_dir) if is_url(str(data_dir)) else str(Path(data_dir).expanduser())
        self.batch_size = batch_size
        self.image_size = image_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        info = read_shard_info(self.data_dir, storage_options)
        self.class_names: list[str] = list(info["classes"])
        self.num_classes = len(self.class_names)
        self.split_sizes: dict[str, int] = dict(info["samples"])
        self.datasets: dict[str, ShardedImages] = {}

    def split_dir(self, split: str) -> str:
        return f"{self.data_dir.rstrip('/')}/{split}" if is_url(self.data_dir) else str(Path(self.data_dir) / split)

    def _dataset(self, split: str, train: bool, drop_last: bool | None = None) -> ShardedImages:
        hp = self.hparams
        return ShardedImages(
            self.split_dir(split),
            size=self.image_size,
            train=train,
            seed=global_seed(),
            scale=tuple(hp.scale),
            ratio=tuple(hp.ratio),
            crop_pct=hp.crop_pct,
            interpolation=hp.interpolation,
            hflip=train and hp.hflip,
            drop_last=drop_last,
            window_shuffle=hp.window_shuffle,
            cache_dir=hp.cache_dir,
            max_cache_size=hp.max_cache_size,
            storage_options=self.storage_options,
        )

    def setup(self, stage: str | None = None) -> None:
        """Nothing to scan: the datasets are made with their loaders (after DDP starts: litdata reads the ranks)."""
        if stage == "predict":
            raise ValueError(
                "StreamingImageDataModule has no predict split; predict on a folder of images with "
                "--data lit_vision.data.ImageFolderDataModule --data.init_args.predict_dir <folder>"
            )

    def _world_size(self) -> int:
        return getattr(self.trainer, "world_size", 1) if self.trainer is not None else 1

    def train_dataloader(self) -> ResumableStreamingLoader:
        """Sharded over ranks and workers by litdata, equal full batches on every rank, resumable mid-epoch (a single
        process with less than one batch of samples gets one partial batch)."""
        size, world = self.split_sizes.get("train", 0), self._world_size()
        full = size >= self.batch_size * world
        if not full and world > 1:
            raise ValueError(
                f"the training split of {self.data_dir} has {size} samples, fewer than one batch per process "
                f"(batch_size={self.batch_size} x {world} processes); lower --data.init_args.batch_size"
            )
        self.datasets["train"] = dataset = self._dataset("train", train=True, drop_last=full)
        return self.training_order.loader(
            dataset, self.batch_size, num_workers=self.num_workers, pin_memory=on_cuda(self.trainer), drop_last=full
        )

    def _eval_loader(self, split: str) -> StreamingDataLoader:
        self.datasets[split] = dataset = self._dataset(split, train=False)
        return StreamingDataLoader(
            dataset, batch_size=self.batch_size, num_workers=self.num_workers, pin_memory=on_cuda(self.trainer)
        )

    def val_dataloader(self) -> StreamingDataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> StreamingDataLoader | list:
        """The test split; without one, no batches (`lit-vision fit` then skips its final test)."""
        return self._eval_loader("test") if "test" in self.split_sizes else []

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # the model's example_input_array (Lightning's model summary)
            return batch
        images, targets, _ = batch
        training = self.trainer is not None and self.trainer.training
        return self.augment_on_device(images, training), targets
