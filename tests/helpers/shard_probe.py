"""A callback for multi-process tests: each rank writes its training losses and the size of what it holds (local
parameter shards and optimizer state) to `<output_dir>/rank<r>.json` when training ends."""

import json
from pathlib import Path

import torch
from lightning import Callback, LightningModule, Trainer


def local_numel(tensor: torch.Tensor) -> int:
    """Elements this process stores: a DTensor's local shard, a plain tensor whole."""
    from torch.distributed.tensor import DTensor

    return tensor.to_local().numel() if isinstance(tensor, DTensor) else tensor.numel()


class ShardProbe(Callback):
    """Records per-rank losses and memory of a run (tests only).

    Args:
        output_dir: folder for the per-rank JSON files.
    """

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        optimizer = trainer.optimizers[0]
        state = [value for per_param in optimizer.state.values() for value in per_param.values()]
        report = {
            "losses": self.losses,
            "param_numel": sum(local_numel(p) for p in pl_module.parameters()),
            "global_param_numel": sum(p.numel() for p in pl_module.parameters()),
            "optimizer_numel": sum(local_numel(v) for v in state if isinstance(v, torch.Tensor) and v.ndim > 0),
            "strategy": type(trainer.strategy).__name__,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"rank{trainer.global_rank}.json"
        path.with_suffix(".tmp").write_text(json.dumps(report))
        path.with_suffix(".tmp").replace(path)  # readers never see half a file
