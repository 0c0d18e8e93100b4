"""A tiny fit on digits (two batches per epoch) that the callback tests share."""

from pathlib import Path

from lightning import Trainer, seed_everything

from lit_vision.data.digits import DigitsDataModule
from lit_vision.models.convmixer import ConvMixerClassifier


def tiny_convmixer() -> ConvMixerClassifier:
    return ConvMixerClassifier(dim=16, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)


def tiny_fit(root: Path, callbacks, logger=False, model=None, max_epochs: int = 1) -> Trainer:
    seed_everything(0)
    trainer = Trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=2,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model or tiny_convmixer(), datamodule=DigitsDataModule(batch_size=32, image_size=8))
    return trainer
