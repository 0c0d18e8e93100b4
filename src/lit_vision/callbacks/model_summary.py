"""Parameter count and MACs of the model, logged once when fit starts."""

from __future__ import annotations

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn


class ModelSummaryLogger(Callback):
    """Logs `model/params`, `model/trainable_params` and `model/gmacs` (one forward pass of a single example, from
    `lit_vision.interop.profile`) to every logger at step 0; wandb also gets a table of the network's top-level
    modules. MACs need `example_input_array` or `in_chans`/`image_size` hyper-parameters; they are skipped otherwise.

    Args:
        macs: count multiply-accumulates with one forward pass; false logs the parameter counts only.
    """

    def __init__(self, macs: bool = True) -> None:
        self.macs = macs
        self.stats: dict[str, float] = {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        from lit_vision.strategies import is_sharded

        # a forward pass of a sharded model on rank 0 alone would wait for the other ranks' all-gathers
        self.stats = model_stats(pl_module, self.macs and not is_sharded(pl_module))
        rank_zero_info(summary_line(self.stats))
        for logger in trainer.loggers:
            logger.log_metrics(self.stats, step=0)
        _log_module_table(trainer, getattr(pl_module, "net", pl_module))


def model_stats(pl_module: LightningModule, macs: bool = True) -> dict[str, float]:
    stats: dict[str, float] = {
        "model/params": sum(p.numel() for p in pl_module.parameters()),
        "model/trainable_params": sum(p.numel() for p in pl_module.parameters() if p.requires_grad),
    }
    count = count_macs(pl_module) if macs else None
    if count is not None:
        stats["model/gmacs"] = count / 1e9
    return stats


def summary_line(stats: dict[str, float]) -> str:
    """One console line beside Lightning's summary table, whose FLOPs column stays 0 without `example_input_array`."""
    line = f"lit-vision: model {stats['model/params'] / 1e6:.3f} M parameters"
    if "model/gmacs" in stats:
        line += f", {stats['model/gmacs']:.4g} GMACs per example (lit_vision.interop.profile, attention included)"
    return line


def count_macs(pl_module: LightningModule) -> int | None:
    """MACs of one forward pass of a single example, or None when the input shape is unknown or the count fails.

    The example is `example_input_array`, or an image in [0, 1) of the model's `in_chans` x `image_size` (valid input
    for every image model, FCCN's color model included). Plain attributes that forward sets (one-time checks) are
    restored afterwards, so profiling leaves the model as it was.
    """
    try:
        from lit_vision.interop.profile import profile
    except ImportError:
        return None
    example: Any = getattr(pl_module, "example_input_array", None)
    hparams = getattr(pl_module, "hparams", {})
    if example is None and "in_chans" in hparams and "image_size" in hparams:
        size = hparams["image_size"]
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        generator = torch.Generator().manual_seed(0)
        example = torch.rand(1, hparams["in_chans"], height, width, generator=generator).to(pl_module.device)
    if example is None:
        return None
    saved = {k: v for k, v in vars(pl_module).items() if isinstance(v, bool | int | float | str | type(None))}
    try:
        return profile(pl_module, inputs=example)["macs"]
    except Exception as error:  # a summary must never stop training
        rank_zero_warn(f"ModelSummaryLogger: MACs not counted ({type(error).__name__}: {error})")
        return None
    finally:
        vars(pl_module).update(saved)


def _log_module_table(trainer: Trainer, net: nn.Module) -> None:
    from lightning.pytorch.loggers import WandbLogger

    rows = [
        [name, type(module).__name__, sum(p.numel() for p in module.parameters())]
        for name, module in net.named_children()
    ]
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and rows:
            logger.log_table(key="model/modules", columns=["module", "type", "params"], data=rows, step=0)
