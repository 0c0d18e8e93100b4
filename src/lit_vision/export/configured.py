"""The model and DataModule of a `lit-vision` config, built as `fit` builds them, and one real batch of its data.

Shared by `lit-vision export` and `lit-vision crosscheck`: the same `--config` stacking and `--model.*` / `--data.*`
overrides as `fit` (through `LitVisionCLI` with `run=False`), weights from an optional `--ckpt_path`, and a batch from
the DataModule's test split after `on_after_batch_transfer`, i.e. exactly what the model sees in evaluation.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

# the run-time parts of a config a model build does not need: no logger, callbacks, checkpoints or progress bar
_QUIET_TRAINER = (
    "--trainer.logger=false",
    "--trainer.callbacks=[]",
    "--trainer.enable_checkpointing=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
)


@dataclass
class Configured:
    """A LightningModule and DataModule built from configs (weights from the checkpoint when one is given)."""

    module: L.LightningModule
    datamodule: L.LightningDataModule
    config: Any


def build(configs: Sequence[str], overrides: Sequence[str] = (), ckpt_path: str | None = None) -> Configured:
    """Instantiate the configs' model and data (argument links included) and load `ckpt_path` into the model."""
    from lit_vision.cli import LitVisionCLI

    for config in configs:
        if not os.path.isfile(config):
            raise FileNotFoundError(f"--config {config}: no such file; give a YAML config such as configs/vit.yaml")
    args = [item for config in configs for item in ("--config", str(config))]
    with warnings.catch_warnings():  # LightningCLI warns that args and sys.argv are both given: args are ours
        warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
        cli = LitVisionCLI(args=[*args, *overrides, *_QUIET_TRAINER], run=False)
    module, datamodule = cli.model, cli.datamodule
    if ckpt_path:
        load_checkpoint(module, ckpt_path)
    return Configured(module.eval(), datamodule, cli.config)


def load_checkpoint(module: L.LightningModule, ckpt_path: str) -> None:
    """Weights (and class names) of a `lit-vision fit` checkpoint into `module`, checked against its shapes first."""
    from lit_vision.preflight import check_checkpoint

    check_checkpoint(ckpt_path, module)
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])


def real_batch(datamodule: L.LightningDataModule, batch_size: int | None = None, split: str = "test") -> Any:
    """One batch of `split` (test by default) as the model sees it: after `on_after_batch_transfer`, on the CPU,
    cut to the first `batch_size` samples."""
    datamodule.prepare_data()
    datamodule.setup("fit" if split == "train" else split)
    loader = getattr(datamodule, f"{split}_dataloader")()
    batch = datamodule.on_after_batch_transfer(next(iter(loader)), 0)
    return _head(batch, batch_size) if batch_size else batch


def _head(batch: Any, size: int) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[:size]
    if isinstance(batch, dict):
        return {key: _head(value, size) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_head(value, size) for value in batch)
    return batch
