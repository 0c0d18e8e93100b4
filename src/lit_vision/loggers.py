"""wandb that never blocks a run: offline fallback without an API key, resume of the run stored in a checkpoint, no
offline + log_model clash (tests read offline runs with tests/helpers/wandb_runs.py).

`prepare_wandb_loggers` runs in the CLI before the trainer is built and edits the logger's init_args in the parsed
config; the run itself is Lightning's own `WandbLogger`.
"""

from __future__ import annotations

import importlib
import netrc
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WANDB_LOGGER = "lightning.pytorch.loggers.WandbLogger"
CHECKPOINT_KEY = "wandb_run_id"
OFFLINE_MODES = ("offline", "dryrun", "disabled")  # modes that upload nothing
SWEEP_RUN_ENV = "LIT_VISION_SWEEP_RUN"  # a sweep trial's run name (`<sweep>-<trial>`), above the config's own name
DEFAULT_BASE_URL = "https://api.wandb.ai"


def notice(message: str) -> None:
    """One line on stderr, from the global-rank-zero process only."""
    if os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0":
        print(f"lit-vision: {message}", file=sys.stderr, flush=True)


def has_wandb_credentials() -> bool:
    """Whether `wandb.init` would find credentials without prompting (env vars or a .netrc entry; no network)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)).netloc
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    try:
        return bool(host) and netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def is_wandb_logger(class_path: str | None) -> bool:
    if not class_path:
        return False
    if class_path == WANDB_LOGGER:
        return True
    try:
        from lightning.pytorch.loggers import WandbLogger

        module, _, name = class_path.rpartition(".")
        return issubclass(getattr(importlib.import_module(module), name), WandbLogger)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


def wandb_logger_configs(config: Any) -> list[Any]:
    """The init_args namespaces of every WandbLogger in a parsed config's `trainer.logger` (single or list)."""
    trainer = _get(config, "trainer")
    loggers = _get(trainer, "logger")
    entries = loggers if isinstance(loggers, list) else [loggers]
    found = []
    for entry in entries:
        if is_wandb_logger(_get(entry, "class_path")):
            init_args = _get(entry, "init_args")
            if init_args is None:
                from jsonargparse import Namespace

                init_args = Namespace()
                entry["init_args"] = init_args
            found.append(init_args)
    return found


def _get(namespace: Any, key: str) -> Any:
    if namespace is None or isinstance(namespace, bool | str):
        return None
    getter = getattr(namespace, "get", None)
    return getter(key) if getter else getattr(namespace, key, None)


def offline_dir(init_args: Any) -> str:
    base = _get(init_args, "save_dir") or _get(init_args, "dir") or os.environ.get("WANDB_DIR") or "."
    return os.path.join(str(base), "wandb")


def prepare_wandb_loggers(config: Any, ckpt_path: str | None = None) -> str | None:
    """Decide online/offline before any wandb call, and make the run resumable; returns the checkpoint to resume.

    - no explicit mode (`WANDB_MODE`, `mode:`, `offline:`) and no credentials: WANDB_MODE=offline with a notice that
      says how to sync later; wandb never prompts.
    - offline with `log_model`: `log_model` turned off with a notice (Lightning rejects that pair).
    - `ckpt_path` of a checkpoint that stored a wandb run id: the same run continues (`id`, `resume="allow"`),
      unless `id`/`version` was given explicitly. `ckpt_path="last"` means the newest `last*.ckpt` of this project's
      runs (`<save_dir>/<project>/<run id>/checkpoints/`), returned in its place.
    - inside a sweep trial (`LIT_VISION_SWEEP_RUN` set by `lit-vision sweep`): the run is named `<sweep>-<trial>`.
    """
    loggers = wandb_logger_configs(config)
    if not loggers:
        return ckpt_path
    if ckpt_path == "last" and not (_get(loggers[0], "id") or _get(loggers[0], "version")):
        ckpt_path = newest_last_checkpoint(loggers[0]) or ckpt_path
    explicit = os.environ.get("WANDB_MODE") or any(_get(a, "mode") or _get(a, "offline") for a in loggers)
    if not explicit and not has_wandb_credentials():
        os.environ["WANDB_MODE"] = "offline"
        runs = os.path.join(offline_dir(loggers[0]), "offline-run-*")
        notice(f"no wandb API key found, logging offline; upload later with `wandb login && wandb sync {runs}`")
    run_id = wandb_run_id_from_checkpoint(ckpt_path) if ckpt_path else None
    for init_args in loggers:
        if os.environ.get(SWEEP_RUN_ENV):
            init_args["name"] = os.environ[SWEEP_RUN_ENV]
        mode = _get(init_args, "mode") or os.environ.get("WANDB_MODE", "")
        offline = bool(_get(init_args, "offline")) or mode in OFFLINE_MODES
        if offline and _get(init_args, "log_model"):
            init_args["log_model"] = False
            state = "disabled" if mode == "disabled" else "offline"
            notice(f"wandb is {state}, so checkpoints are not uploaded as artifacts (log_model set to false)")
        if run_id and not (_get(init_args, "id") or _get(init_args, "version")):
            init_args["id"] = run_id
            init_args["resume"] = "allow"
            notice(f"resuming wandb run {run_id} from {ckpt_path}")
    return ckpt_path


def newest_last_checkpoint(init_args: Any) -> str | None:
    """The most recent `last*.ckpt` among the runs of the logger's project, or None."""
    save_dir = _get(init_args, "save_dir") or _get(init_args, "dir") or "."
    project = _get(init_args, "project") or os.environ.get("WANDB_PROJECT", "lightning_logs")
    candidates = [path for path in Path(save_dir, project).glob("*/checkpoints/last*.ckpt") if path.is_file()]
    return str(max(candidates, key=lambda path: path.stat().st_mtime)) if candidates else None


def wandb_run_id_from_checkpoint(ckpt_path: str | os.PathLike) -> str | None:
    """The wandb run id a checkpoint was saved under (see `RunConfigCallback.on_save_checkpoint`), if any."""
    if not os.path.isfile(ckpt_path):
        return None
    import torch

    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)
    except (RuntimeError, ValueError):
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    run_id = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    return str(run_id) if run_id else None


def finish_wandb(exit_code: int | None = None, loggers: Iterable[object] = ()) -> None:
    """End the active wandb run, if any, and stop wandb's service process, so that the run's files are complete on
    disk and the next run in this process starts afresh (the service resolves relative paths against the working
    directory it started in: without the teardown, a later run after `chdir` would write into the old directory).

    Each WandbLogger in `loggers` forgets the finished run and resumes it on next use (e.g. a further
    `trainer.test(...)` after the CLI returned) instead of failing on a finished run."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)
        wandb.teardown()
    loggers = list(loggers)
    if not loggers:
        return
    from lightning.pytorch.loggers import WandbLogger

    from lit_vision._compat import resume_wandb_run_later, wandb_logger_run

    for logger in loggers:  # fast_dev_run's DummyLogger answers every attribute: check the class
        run = wandb_logger_run(logger) if isinstance(logger, WandbLogger) else None
        if run is not None:
            resume_wandb_run_later(logger, run.id)
