"""Write `lit-vision predict` results to CSV: one row per image with its top-k classes and probabilities.

Rows are `path, class_1, prob_1, ..., class_k, prob_k`, classes named by the checkpoint's class names (indices when it
has none). Batches whose second element is a list of paths (ImageFolderDataModule's `predict_dir`) give the paths;
other data sets get `<index>` in order. Under several processes each rank writes `<stem>.rank<r>.csv`.
"""

import csv
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter


class PredictionWriter(BasePredictionWriter):
    """Writes the top-k classes and probabilities of every predicted image to a CSV file.

    Args:
        output_path: the CSV to write (parent folders are created); relative paths start in the working directory.
        top_k: classes per row (capped at the number of classes).
    """

    def __init__(self, output_path: str = "predictions.csv", top_k: int = 5) -> None:
        if top_k < 1:
            raise ValueError(f"PredictionWriter top_k={top_k} must be >= 1")
        super().__init__(write_interval="batch")
        self.output_path = Path(output_path).expanduser()
        self.top_k = top_k
        self._file = None
        self._writer = None
        self._count = 0

    def path_for(self, trainer: L.Trainer) -> Path:
        if trainer.world_size <= 1:
            return self.output_path
        return self.output_path.with_name(f"{self.output_path.stem}.rank{trainer.global_rank}{self.output_path.suffix}")

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        path = self.path_for(trainer)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="")  # noqa: SIM115 (closed in on_predict_end)
        self._writer = csv.writer(self._file)
        self._count = 0
        num_classes = getattr(pl_module, "num_classes", None) or self.top_k
        k = min(self.top_k, num_classes)
        header = ["path"] + [f"{name}_{i}" for i in range(1, k + 1) for name in ("class", "prob")]
        self._writer.writerow(header)

    def write_on_batch_end(
        self,
        trainer,
        pl_module,
        prediction: torch.Tensor,
        batch_indices,
        batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        probabilities = prediction.float()
        k = min(self.top_k, probabilities.shape[-1])
        values, indices = probabilities.topk(k, dim=-1)
        names = getattr(pl_module, "class_names", None)
        paths = batch[1] if isinstance(batch, list | tuple) and len(batch) > 1 and _is_paths(batch[1]) else None
        for row, (probs, classes) in enumerate(zip(values.tolist(), indices.tolist())):
            where = paths[row] if paths is not None else str(self._count + row)
            cells = [where]
            for prob, index in zip(probs, classes):
                cells += [names[index] if names and index < len(names) else str(index), f"{prob:.6f}"]
            self._writer.writerow(cells)
        self._count += len(values)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            print(f"wrote {self._count} predictions to {os.path.abspath(self.path_for(trainer))}")


def _is_paths(value) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
