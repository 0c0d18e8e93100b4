"""Which weights `validate` / `test` / `predict` use and where their files go; settings that would train nothing.

- Without `--ckpt_path`, a model that was not given pretrained weights would be scored randomly initialized: stop with
  one line instead. `--ckpt_path last` / `best` mean the newest run of this config (its logger's directory):
  `last*.ckpt` of that run, or the best checkpoint its ModelCheckpoint recorded.
- Evaluating a checkpoint of a run logs beside that run (the CSV logger appends to its metrics.csv, a wandb logger
  resumes its run) instead of opening a new version or run; a checkpoint outside a run directory, or pretrained
  weights, log to the console only. `predict` writes `predictions.csv` into that run directory (or the working one).
- `fit` that trains nothing (`max_epochs 0`, `max_steps 0`, `limit_train_batches 0`) stops with one line.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

from lit_vision.loggers import is_wandb_logger, prepare_wandb_loggers

EVALUATION_COMMANDS = ("validate", "test", "predict")
PRETRAINED_ARGUMENTS = ("pretrained", "pretrained_file", "pretrained_path", "pretrained_checkpoint")
VERSIONED_LOGGERS = ("CSVLogger", "TensorBoardLogger")
LAST_PREFIX = "last"


def _get(namespace: Any, key: str) -> Any:
    if namespace is None or isinstance(namespace, bool | str | int | float | list):
        return None
    getter = getattr(namespace, "get", None)
    return getter(key) if getter else getattr(namespace, key, None)


def has_pretrained_weights(config: Any) -> bool:
    """Whether the configured model loads weights of its own (e.g. TimmClassifier `pretrained` / `pretrained_file`)."""
    init_args = _get(_get(config, "model"), "init_args")
    return any(_get(init_args, name) for name in PRETRAINED_ARGUMENTS)


def logger_entries(config: Any) -> list[Any]:
    """The `trainer.logger` entries of a parsed config (class_path + init_args namespaces), none for `false`."""
    loggers = _get(_get(config, "trainer"), "logger")
    entries = loggers if isinstance(loggers, list) else [loggers]
    return [entry for entry in entries if _get(entry, "class_path")]


def run_roots(config: Any) -> list[Path]:
    """The directories holding this config's runs: `<save_dir>/<name>` (CSV, TensorBoard), `<save_dir>/<project>`
    (wandb), Lightning's `lightning_logs` without a configured logger."""
    roots = []
    for entry in logger_entries(config):
        init_args = _get(entry, "init_args")
        save_dir = _get(init_args, "save_dir") or _get(init_args, "dir") or "."
        if is_wandb_logger(_get(entry, "class_path")):
            name = _get(init_args, "project") or os.environ.get("WANDB_PROJECT", "lightning_logs")
        else:
            name = _get(init_args, "name") or "lightning_logs"
        roots.append(Path(save_dir) / name)
    if not roots:
        roots.append(Path(_get(_get(config, "trainer"), "default_root_dir") or ".") / "lightning_logs")
    return roots


def best_of_run(last: Path) -> Path | None:
    """The best checkpoint a run's ModelCheckpoint recorded in its `last.ckpt` (None if it recorded none)."""
    import torch

    checkpoint = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    for key, state in (checkpoint.get("callbacks") or {}).items():
        best = state.get("best_model_path") if key.startswith("ModelCheckpoint") and isinstance(state, dict) else None
        if best:
            path = Path(best)
            return path if path.is_file() else last.parent / path.name if (last.parent / path.name).is_file() else None
    return None


def _saved_from(path: Path) -> str | None:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return (checkpoint.get("hyper_parameters") or {}).get("_class_path")


def _newest_of_model(paths: list[Path], class_path: str | None) -> Path | None:
    """The newest checkpoint saved from `class_path` (runs of other models share a logger directory, e.g. a wandb
    project); checkpoints that do not name their class count as a match."""
    from lit_vision.preflight import _same_class

    for path in sorted((p for p in paths if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True):
        saved = _saved_from(path)
        if not class_path or not saved or _same_class(saved, class_path):
            return path
    return None


def newest_run_checkpoint(config: Any, which: str, command: str) -> Path:
    """`last`: the newest `last*.ckpt` of this config's model among this config's runs; `best`: the best checkpoint
    of that run."""
    roots = run_roots(config)
    class_path = _get(_get(config, "model"), "class_path")
    last = _newest_of_model(
        [path for root in roots for path in root.glob(f"*/checkpoints/{LAST_PREFIX}*.ckpt")], class_path
    )
    where = " or ".join(str(root / "*" / "checkpoints") for root in roots)
    if last is None:
        raise FileNotFoundError(
            f"--ckpt_path {which}: no checkpoint of this config in {where}; train one first (`lit-vision fit` with the "
            f"same --config) or pass --ckpt_path PATH to a .ckpt file"
        )
    if which == "last":
        return last
    best = best_of_run(last)
    if best is None:
        raise FileNotFoundError(
            f"--ckpt_path best: the run {last.parent.parent} recorded no best checkpoint (no monitored ModelCheckpoint); "
            f"use `lit-vision {command} ... --ckpt_path last` or a PATH"
        )
    return best


def prepare_evaluation(command: str, config: Any) -> None:
    """Before `validate` / `test` / `predict` builds anything: resolve the weights to use (or stop with one line) and
    point the loggers at the run those weights come from (or turn logging off). Edits `config` in place."""
    ckpt_path = config.get("ckpt_path")
    if ckpt_path is None:
        if not has_pretrained_weights(config):
            raise ValueError(
                f"`lit-vision {command}` without --ckpt_path would score a randomly initialized model (this config "
                "loads no pretrained weights); pass --ckpt_path best, last (of this config's newest run) or PATH"
            )
        _log_to_console_only(config)
        return
    if ckpt_path in ("last", "best"):
        ckpt_path = str(newest_run_checkpoint(config, ckpt_path, command))
        config["ckpt_path"] = ckpt_path
    if "://" in str(ckpt_path) or ckpt_path in ("hpc", "registry"):
        return
    attach_loggers_to_run(config, Path(ckpt_path))


def _log_to_console_only(config: Any) -> None:
    config["trainer"]["logger"] = False


def attach_loggers_to_run(config: Any, ckpt_path: Path) -> None:
    """Log into the run directory `<save_dir>/<name>/<version>/checkpoints/<file>` the checkpoint sits in; a
    checkpoint elsewhere, or a wandb logger for a checkpoint without a wandb run id, logs to the console only."""
    entries = logger_entries(config)
    run = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else None
    if not entries or run is None:
        _log_to_console_only(config)
        return
    for entry in entries:
        class_path = str(_get(entry, "class_path"))
        if is_wandb_logger(class_path):
            continue
        if not class_path.endswith(VERSIONED_LOGGERS):
            _log_to_console_only(config)
            return
        init_args = _get(entry, "init_args")
        init_args["save_dir"], init_args["name"], init_args["version"] = (
            str(run.parent.parent),
            run.parent.name,
            run.name,
        )
    if any(is_wandb_logger(_get(entry, "class_path")) for entry in entries):
        from lit_vision.loggers import wandb_run_id_from_checkpoint

        if not wandb_run_id_from_checkpoint(ckpt_path):
            _log_to_console_only(config)
            return
        prepare_wandb_loggers(config, ckpt_path=str(ckpt_path))  # resumes the checkpoint's run


def keep_metrics_rows(trainer: Any) -> None:
    """A CSV logger continuing an existing run directory keeps the rows already in its metrics.csv (Lightning's
    writer deletes the file when it starts)."""
    from lightning.pytorch.loggers import CSVLogger

    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or not trainer.is_global_zero:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
            writer = logger.experiment
        writer.metrics = rows + writer.metrics
        writer.save()


def check_training_length(trainer: Any) -> None:
    """`fit` settings under which no training step would run."""
    if trainer.max_epochs == 0:
        raise ValueError(
            "--trainer.max_epochs 0 trains nothing; give a positive number of epochs (or -1 with --trainer.max_steps "
            "N), or evaluate a checkpoint with `lit-vision test --ckpt_path PATH`"
        )
    if trainer.max_steps == 0:
        raise ValueError("--trainer.max_steps 0 trains nothing; give a positive number of steps, or -1 for no limit")
    limit = trainer.limit_train_batches
    if limit is not None and limit == 0:
        raise ValueError(
            f"--trainer.limit_train_batches {limit} trains nothing; give a positive count or a fraction in (0, 1]"
        )


def quiet_fast_dev_run_checkpoints(trainer: Any) -> None:
    """`fast_dev_run` writes no checkpoint (Lightning's ModelCheckpoint still saves `last.ckpt` at train end, into
    `./checkpoints` as fast_dev_run has no logger)."""
    if not trainer.fast_dev_run:
        return
    from lightning.pytorch.callbacks import ModelCheckpoint

    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            callback.save_last = False
            callback.save_on_exception = False


def add_default_prediction_writer(trainer: Any, model: Any) -> None:
    """`predict` of an image classifier without a configured writer writes `predictions.csv` into the run directory
    (sequence models write their own `predictions.tsv` there)."""
    from lightning.pytorch.callbacks import BasePredictionWriter

    from lit_vision.callbacks.prediction_writer import PredictionWriter
    from lit_vision.callbacks.save_config import run_dir
    from lit_vision.models.classifier import ImageClassifier

    if not isinstance(model, ImageClassifier) or any(isinstance(c, BasePredictionWriter) for c in trainer.callbacks):
        return
    trainer.callbacks.append(PredictionWriter(output_path=os.path.join(run_dir(trainer), "predictions.csv")))
