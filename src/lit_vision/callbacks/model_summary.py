"""Parameter count and MACs of the model, logged once when fit starts."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer
from torch import nn


class ModelSummaryLogger(Callback):
    """Logs `model/params`, `model/trainable_params` and `model/gmacs` (one forward pass of a single example, from
    `lit_vision.interop.profile`) to every logger at step 0; wandb also gets a table of the network's top-level
    modules. MACs need `example_input_array` or `in_chans`/`image_size` hyper-parameters; they are skipped otherwise."""

    def __init__(self, macs: bool = True) -> None:
        self.macs = macs
        self.stats: dict[str, float] = {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self.stats = model_stats(pl_module, self.macs)
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


def count_macs(pl_module: LightningModule) -> int | None:
    """MACs of one forward pass of a single example, or None when the input shape is unknown."""
    try:
        from lit_vision.interop.profile import profile
    except ImportError:
        return None
    example: Any = getattr(pl_module, "example_input_array", None)
    hparams = getattr(pl_module, "hparams", {})
    if example is not None:
        return profile(pl_module, inputs=example)["macs"]
    if "in_chans" in hparams and "image_size" in hparams:
        size = hparams["image_size"]
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return profile(pl_module, input_size=(hparams["in_chans"], height, width))["macs"]
    return None


def _log_module_table(trainer: Trainer, net: nn.Module) -> None:
    from lightning.pytorch.loggers import WandbLogger

    rows = [
        [name, type(module).__name__, sum(p.numel() for p in module.parameters())]
        for name, module in net.named_children()
    ]
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and rows:
            logger.log_table(key="model/modules", columns=["module", "type", "params"], data=rows, step=0)
