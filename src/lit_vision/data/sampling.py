"""Rank-aware, resumable training order: a run killed half-way through an epoch resumes at the next batch.

- `ResumableDistributedSampler` shards a seeded per-epoch permutation across ranks (it is a `DistributedSampler`, so
  Lightning leaves it alone under DDP) and can begin an epoch part-way.
- `ResumableDataLoader` counts the batches it has delivered in the epoch (its `state_dict()`).
- `AugmentationSeeds` gives the on-device augmentation one generator per training batch, seeded from (seed, rank,
  batch count): every rank draws differently, and a resumed run draws exactly what the uninterrupted run would.
- `TrainingOrder` holds both for a DataModule; `ResumableDataModule` is the DataModule base whose `state_dict()` /
  `load_state_dict()` carry it through checkpoints.
  (Lightning also saves the loader's own state, but restores it only into a loader made after the restore; the
  scheduler's `trainer.estimated_stepping_batches` makes the loader before. The DataModule's state comes first.)
"""

import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def mix_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from several integers (numpy's SeedSequence): (seed, rank) pairs never collide."""
    state = np.random.SeedSequence([int(v) % 2**63 for v in values]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def global_seed() -> int:
    """The seed of `seed_everything` (LightningCLI's `seed_everything:`), which every DDP process inherits."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class ResumableDistributedSampler(DistributedSampler):
    """`DistributedSampler` (permutation seeded by `seed + epoch`, one shard per rank) that can start an epoch at a
    position of this rank's shard, once, for the epoch it was told.

    `aug_repeats` > 1: repeated augmentation (Hoffer et al. 2020; DeiT's RASampler, timm's RepeatAugSampler): each
    image of the permutation is repeated `aug_repeats` times and consecutive copies go to different ranks, which
    augment them differently; an epoch keeps about one pass of the data set (len // 256 * 256 images over all ranks)."""

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        aug_repeats: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.aug_repeats = aug_repeats if aug_repeats > 1 else 0
        if self.aug_repeats:
            size, round_to = len(dataset), 256
            self.repeated_size = math.ceil(size * self.aug_repeats / num_replicas) * num_replicas
            if size >= round_to:
                selected = math.floor(size // round_to * round_to / num_replicas)
            else:
                selected = math.ceil(size / num_replicas)
            self.num_samples = min(selected, self.repeated_size // num_replicas)
        self.start_index = 0  # where the current pass over this rank's shard began
        self._pending_start: tuple[int, int] | None = None

    def _shard(self) -> list[int]:
        if not self.aug_repeats:
            return list(super().__iter__())
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        size = len(self.dataset)
        order = torch.randperm(size, generator=generator) if self.shuffle else torch.arange(size)
        repeated = order.repeat_interleave(self.aug_repeats).tolist()
        positions = range(self.rank, self.repeated_size, self.num_replicas)[: self.num_samples]
        return [repeated[i % len(repeated)] for i in positions]

    def start_epoch_at(self, epoch: int, index: int) -> None:
        """Begin the next pass at `index` of this shard if that pass is for `epoch` (else start at 0 as usual)."""
        self.set_epoch(epoch)
        self._pending_start = (epoch, index)

    def __iter__(self) -> Iterator[int]:
        indices = self._shard()
        pending, self._pending_start = self._pending_start, None
        self.start_index = min(pending[1], len(indices)) if pending and pending[0] == self.epoch else 0
        return iter(indices[self.start_index :])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a `ResumableDistributedSampler` whose position in the epoch goes into checkpoints.

    Worker seeds derive from (seed, epoch), so processes in workers draw the same after a resume too."""

    sampler: ResumableDistributedSampler

    def __init__(self, dataset: Dataset, batch_size: int, sampler: ResumableDistributedSampler, **kwargs: Any) -> None:
        if not isinstance(sampler, ResumableDistributedSampler):
            raise ValueError(f"sampler={type(sampler).__name__} must be a ResumableDistributedSampler")
        kwargs.setdefault("generator", torch.Generator())  # never draw from the global RNG when iterating
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self.batches_done = 0

    def __iter__(self) -> Iterator[Any]:
        # a generator: nothing runs before the first batch is asked for, i.e. after Lightning's `set_epoch`
        if self.generator is not None:
            self.generator.manual_seed(mix_seed(self.sampler.seed, self.sampler.epoch))
        started = False
        for batch in super().__iter__():
            if not started:
                self.batches_done, started = self.sampler.start_index // self.batch_size, True
            self.batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {
            "epoch": self.sampler.epoch,
            "batches_done": self.batches_done,
            "batch_size": self.batch_size,
            "num_replicas": self.sampler.num_replicas,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        layout = (state.get("batch_size"), state.get("num_replicas"))
        if layout != (self.batch_size, self.sampler.num_replicas):
            warnings.warn(
                f"the checkpoint's data order was saved with (batch_size, processes)={layout}, this run uses "
                f"{(self.batch_size, self.sampler.num_replicas)}: the interrupted epoch restarts from its beginning",
                stacklevel=2,
            )
            return
        self.batches_done = state["batches_done"]
        self.sampler.start_epoch_at(state["epoch"], state["batches_done"] * self.batch_size)


def resumable_loader(
    dataset: Dataset,
    batch_size: int,
    trainer: Any = None,
    seed: int | None = None,
    shuffle: bool = True,
    aug_repeats: int = 0,
    **kwargs: Any,
) -> ResumableDataLoader:
    """The training loader of a DataModule: shuffled with `seed` (default: the `seed_everything` seed), sharded over
    the trainer's processes (`batch_size` is per process), resumable mid-epoch, with repeated augmentation over the
    processes when `aug_repeats` > 1 (ignored, with a warning, in a single process). `kwargs` go to the DataLoader."""
    world_size = trainer.world_size if trainer is not None else 1
    rank = trainer.global_rank if trainer is not None else 0
    if aug_repeats > 1 and world_size == 1:
        warnings.warn(
            f"aug_repeats={aug_repeats} is ignored in a single process: repeated augmentation sends the copies of an "
            "image to different processes (use it with DDP, as DeiT does)",
            stacklevel=2,
        )
        aug_repeats = 0
    sampler = ResumableDistributedSampler(
        dataset,
        num_replicas=world_size,
        rank=rank,
        shuffle=shuffle,
        seed=global_seed() if seed is None else seed,
        aug_repeats=aug_repeats,
    )
    return ResumableDataLoader(dataset, batch_size, sampler, **kwargs)


class AugmentationSeeds:
    """One generator per training batch, seeded from (seed, rank, batches augmented so far). Its only state is that
    count, equal on every rank, so the rank-0 checkpoint restores every rank exactly."""

    def __init__(self) -> None:
        self.batches = 0
        self._generators: dict[torch.device, torch.Generator] = {}

    def next_generator(self, device: torch.device, rank: int = 0, seed: int | None = None) -> torch.Generator:
        generator = self._generators.get(device)
        if generator is None:
            generator = self._generators[device] = torch.Generator(device=device)
        generator.manual_seed(mix_seed(global_seed() if seed is None else seed, rank, self.batches))
        self.batches += 1
        return generator

    def state_dict(self) -> dict[str, int]:
        return {"batches": self.batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batches = int(state.get("batches", 0))


class TrainingOrder:
    """The order and randomness of a DataModule's training batches, resumable from checkpoints. A
    `ResumableDataModule` creates it as `self.training_order` and carries it through checkpoints; the DataModule uses

    return self.training_order.loader(dataset, batch_size, self.trainer)    # train_dataloader
    generator = self.training_order.augmentation_generator(images.device, self.trainer.global_rank)
    """

    def __init__(self) -> None:
        self.augmentation = AugmentationSeeds()
        self._loader: ResumableDataLoader | None = None
        self._pending_position: dict[str, int] | None = None

    def loader(self, dataset: Dataset, batch_size: int, trainer: Any = None, **kwargs: Any) -> ResumableDataLoader:
        """The training loader (see `resumable_loader`), positioned where a restored checkpoint left off."""
        self._loader = resumable_loader(dataset, batch_size, trainer, **kwargs)
        if self._pending_position is not None:
            self._loader.load_state_dict(self._pending_position)
            self._pending_position = None
        return self._loader

    def augmentation_generator(self, device: torch.device, rank: int = 0) -> torch.Generator:
        return self.augmentation.next_generator(device, rank)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"augmentation": self.augmentation.state_dict()}
        if self._loader is not None:
            state["position"] = self._loader.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.augmentation.load_state_dict(state.get("augmentation", {}))
        position = state.get("position")
        if position is not None and self._loader is not None:
            self._loader.load_state_dict(position)
        else:
            self._pending_position = position


class ResumableDataModule(L.LightningDataModule):
    """A DataModule whose `training_order` (see `TrainingOrder`) goes into checkpoints with the DataModule's state."""

    def __init__(self) -> None:
        super().__init__()
        self.training_order = TrainingOrder()

    def state_dict(self) -> dict:
        return {"training_order": self.training_order.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.training_order.load_state_dict(state_dict.get("training_order", {}))
