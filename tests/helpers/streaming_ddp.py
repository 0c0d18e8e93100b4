"""One DDP rank (gloo, CPU) of tests/data/test_streaming.py: `python streaming_ddp.py SHARDS OUT` with the torch
distributed variables set by the test. Three fits in one process pair, each recording what the training batches
held (epoch, sample indices, a hash of the augmented images) and the validation batches' indices:

  full     2 epochs, uninterrupted, writing a checkpoint at step SAVE_AT_STEP (mid-epoch 2, as
           ModelCheckpoint(every_n_train_steps) would)
  resumed  fit(ckpt_path=that checkpoint) to the end
"""

import hashlib
import json
import sys
from pathlib import Path

import lightning as L
import torch
from torch import nn

from lit_vision.data.streaming import StreamingImageDataModule

BATCH_SIZE, NUM_WORKERS, EPOCHS = 2, 2, 3
SAVE_AT_STEP = 9  # epoch 2 has steps 7..12 on each rank (24 samples, 2 ranks, batch 2): stop half-way in


class RecordingData(StreamingImageDataModule):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.train_batches: list = []
        self.val_batches: list = []

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, targets = super().on_after_batch_transfer(batch, dataloader_idx)
        if self.trainer.training:
            digest = hashlib.sha1(images.numpy().tobytes()).hexdigest()
            self.train_batches.append([self.trainer.current_epoch, batch[2].tolist(), digest])
        elif self.trainer.validating and not self.trainer.sanity_checking:
            self.val_batches.append([self.trainer.current_epoch, batch[2].tolist()])
        return images, targets


class Tiny(L.LightningModule):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, num_classes))

    def training_step(self, batch, batch_idx):
        images, targets = batch
        return nn.functional.cross_entropy(self.net(images), targets)

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        self.log("val/loss", nn.functional.cross_entropy(self.net(images), targets), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class SaveAt(L.Callback):
    """Write a checkpoint at the end of step `step`."""

    def __init__(self, step: int, path: Path) -> None:
        self.step, self.path = step, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)


def fit(shards: str, callbacks: list, ckpt_path: str | None = None) -> RecordingData:
    L.seed_everything(0)
    data = RecordingData(
        shards, batch_size=BATCH_SIZE, image_size=32, num_workers=NUM_WORKERS, randaugment_ops=2, erase_prob=0.5
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS, callbacks=callbacks, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(Tiny(data.num_classes), datamodule=data, ckpt_path=ckpt_path)
    return data


def main(shards: str, out: Path) -> None:
    ckpt = out / "step.ckpt"
    runs = {"full": fit(shards, [SaveAt(SAVE_AT_STEP, ckpt)])}
    runs["resumed"] = fit(shards, [], ckpt_path=str(ckpt))
    rank = torch.distributed.get_rank()
    record = {name: {"train": data.train_batches, "val": data.val_batches} for name, data in runs.items()}
    (out / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
