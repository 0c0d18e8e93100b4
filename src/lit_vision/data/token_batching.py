"""Token-bucketed training batches: as many sequence pairs of similar length as fit in ``max_tokens``.

A batch's size counts padding, as a padded tensor holds it: ``sentences × longest sequence`` of the batch, on the
source side and on the target side each, stays within ``max_tokens`` (the paper's batches held about 25,000 source and
25,000 target tokens per step). Each epoch sorts the pairs by length (ties in a seeded random order), cuts the sorted
list into batches and shuffles the batches; rank ``r`` of ``W`` processes takes batches ``r, r + W, ...`` (wrapping
round so every rank takes as many). The batch boundaries depend only on the lengths, so every epoch has the same number
of batches. Like the image loaders (``data.sampling``) the loader counts the batches it has delivered, and a checkpoint
restores the position: a run killed mid-epoch resumes at the next batch.

The sampler is a ``DistributedSampler`` yielding lists of indices (Lightning leaves it alone under DDP) and the
loader runs with ``batch_size=None``, fetching a whole batch per step through ``BatchedDataset``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lit_vision.data.sampling import TrainingOrder, global_seed, mix_seed

__all__ = ["BatchedDataset", "TokenBatchLoader", "TokenBatchSampler", "TokenTrainingOrder", "token_batches"]


def token_batches(sizes: Sequence[int], max_tokens: int) -> list[int]:
    """End positions of the batches cut greedily from ``sizes`` sorted ascending: a batch grows while
    ``count × largest size <= max_tokens``."""
    ends, count, largest = [], 0, 0
    for position, size in enumerate(sizes):
        if size > max_tokens:
            raise ValueError(f"a sequence of {size} tokens does not fit max_tokens={max_tokens}; raise max_tokens")
        if count and (count + 1) * max(largest, size) > max_tokens:
            ends.append(position)
            count, largest = 0, 0
        count, largest = count + 1, max(largest, size)
    if count:
        ends.append(len(sizes))
    return ends


class TokenBatchSampler(DistributedSampler):
    """Batches of indices with ``count × longest <= max_tokens`` (``sizes[i]``: the larger of the source and target
    lengths of pair ``i``), shuffled per epoch from ``seed + epoch``, one shard per rank, resumable mid-epoch."""

    def __init__(
        self,
        sizes: Sequence[int],
        max_tokens: int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens={max_tokens} must be a positive number of tokens per batch")
        self.sizes = np.asarray(sizes, dtype=np.int64)
        super().__init__(self.sizes, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.max_tokens = max_tokens
        self.ends = token_batches(np.sort(self.sizes, kind="stable").tolist(), max_tokens)
        self.num_batches = math.ceil(len(self.ends) / num_replicas)  # per rank
        self.start_index = 0  # batch of this rank's shard where the current pass began
        self._pending_start: tuple[int, int] | None = None

    def epoch_batches(self) -> list[list[int]]:
        """Every batch of the current epoch (all ranks), in the order they are served."""
        rng = np.random.default_rng(mix_seed(self.seed, self.epoch))
        ties = rng.permutation(len(self.sizes)) if self.shuffle else np.arange(len(self.sizes))
        order = ties[np.argsort(self.sizes[ties], kind="stable")]
        starts = [0, *self.ends[:-1]]
        batches = [order[start:end].tolist() for start, end in zip(starts, self.ends)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def shard(self) -> list[list[int]]:
        batches = self.epoch_batches()
        positions = range(self.rank, self.num_batches * self.num_replicas, self.num_replicas)
        return [batches[i % len(batches)] for i in positions]

    def __len__(self) -> int:
        return self.num_batches

    def start_epoch_at(self, epoch: int, batch_index: int) -> None:
        """Begin the next pass at batch ``batch_index`` of this shard if that pass is for ``epoch``."""
        self.set_epoch(epoch)
        self._pending_start = (epoch, batch_index)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.shard()
        pending, self._pending_start = self._pending_start, None
        self.start_index = min(pending[1], len(batches)) if pending and pending[0] == self.epoch else 0
        return iter(batches[self.start_index :])


class BatchedDataset(Dataset):
    """``dataset[indices]`` -> the list of items, so a loader with ``batch_size=None`` fetches a batch per index."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]) -> list[Any]:
        return [self.dataset[i] for i in indices]


class TokenBatchLoader(DataLoader):
    """A DataLoader over a ``TokenBatchSampler`` whose position in the epoch goes into checkpoints."""

    sampler: TokenBatchSampler

    def __init__(self, dataset: Dataset, sampler: TokenBatchSampler, collate_fn: Callable, **kwargs: Any) -> None:
        kwargs.setdefault("generator", torch.Generator())  # never draw from the global RNG when iterating
        super().__init__(BatchedDataset(dataset), batch_size=None, sampler=sampler, collate_fn=collate_fn, **kwargs)
        self.batches_done = 0

    def __iter__(self) -> Iterator[Any]:
        if self.generator is not None:
            self.generator.manual_seed(mix_seed(self.sampler.seed, self.sampler.epoch))
        started = False
        for batch in super().__iter__():
            if not started:
                self.batches_done, started = self.sampler.start_index, True
            self.batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {
            "epoch": self.sampler.epoch,
            "batches_done": self.batches_done,
            "max_tokens": self.sampler.max_tokens,
            "num_replicas": self.sampler.num_replicas,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        layout = (state.get("max_tokens"), state.get("num_replicas"))
        if layout != (self.sampler.max_tokens, self.sampler.num_replicas):
            warnings.warn(
                f"the checkpoint's data order was saved with (max_tokens, processes)={layout}, this run uses "
                f"{(self.sampler.max_tokens, self.sampler.num_replicas)}: the interrupted epoch restarts from its "
                "beginning",
                stacklevel=2,
            )
            return
        self.batches_done = state["batches_done"]
        self.sampler.start_epoch_at(state["epoch"], state["batches_done"])


class TokenTrainingOrder(TrainingOrder):
    """``TrainingOrder`` that also builds token-bucketed loaders (``token_loader``), restored from checkpoints alike."""

    def token_loader(
        self,
        dataset: Dataset,
        sizes: Sequence[int],
        max_tokens: int,
        collate_fn: Callable,
        trainer: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> TokenBatchLoader:
        """The training loader: shuffled with ``seed`` (default: the ``seed_everything`` seed), sharded over the
        trainer's processes (``max_tokens`` per process), positioned where a restored checkpoint left off."""
        sampler = TokenBatchSampler(
            sizes,
            max_tokens,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            seed=global_seed() if seed is None else seed,
        )
        loader = TokenBatchLoader(dataset, sampler, collate_fn, **kwargs)
        self._loader = loader  # type: ignore[assignment]  # same state_dict protocol as ResumableDataLoader
        if self._pending_position is not None:
            loader.load_state_dict(self._pending_position)
            self._pending_position = None
        return loader
