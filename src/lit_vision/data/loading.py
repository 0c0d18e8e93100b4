"""DataLoader settings shared by the DataModules: worker count that fits the machine, pinned memory on CUDA."""

import os

import torch
from torch.utils.data import DataLoader, Dataset


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset / Slurm cgroups, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_num_workers(limit: int = 8) -> int:
    return min(limit, available_cpus())


def on_cuda(trainer) -> bool:
    """Whether batches will go to a CUDA device (pinned host memory then makes the copy asynchronous)."""
    if trainer is None:
        return torch.cuda.is_available()
    return getattr(trainer.strategy.root_device, "type", "cpu") == "cuda"


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    pin_memory: bool,
    drop_last: bool = False,
    collate_fn=None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        collate_fn=collate_fn,
    )
