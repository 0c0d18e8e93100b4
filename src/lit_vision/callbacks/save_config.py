"""Save the resolved CLI config inside the run's own directory (never a shared one), hand it to wandb, and store the
wandb run id in checkpoints so that `fit --ckpt_path` continues the same run."""

import os

import yaml
from lightning import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from lit_vision.loggers import CHECKPOINT_KEY


def run_dir(trainer: Trainer) -> str:
    """The directory that belongs to this run alone: the logger's versioned dir, where checkpoints also go."""
    logger = trainer.logger
    if logger is None:
        return trainer.default_root_dir
    if isinstance(logger, WandbLogger):
        return os.path.join(logger.save_dir or trainer.default_root_dir, str(logger.name), str(logger.version))
    log_dir = getattr(logger, "log_dir", None)
    if log_dir:
        return log_dir
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return os.path.join(logger.save_dir or trainer.default_root_dir, str(logger.name), version)


class RunConfigCallback(SaveConfigCallback):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["save_to_log_dir"] = False
        super().__init__(*args, **kwargs)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":  # validate/test/predict log into the checkpoint's run (or nowhere): keep its config
            return
        directory = run_dir(trainer)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, self.config_filename)
        self.parser.save(self.config, path, skip_none=False, overwrite=True, multifile=self.multifile)
        wandb_loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if wandb_loggers:
            resolved = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
            for logger in wandb_loggers:
                logger.experiment.config.update(resolved, allow_val_change=True)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and logger.version:
                checkpoint[CHECKPOINT_KEY] = str(logger.version)
                return
