"""Keep the console for what the user needs: drop third-party lines that are noise in `lit-vision` runs.

- Lightning's litlogger advertisement ("💡 Tip: ... litlogger") on every Trainer;
- "LightningCLI's args parameter is intended to run from within Python" (sweeps and tests pass `args` on purpose);
- torch's `LeafSpec` deprecation raised from inside Lightning, and wandb's "anonymous setting has no effect" (Lightning
  always passes `anonymous`);
- on `--ckpt_path` resume: "Checkpoint directory ... exists and is not empty" and CSVLogger's "Previous log files ...
  will be deleted" (the resumed run continues its own directory on purpose, keeping the rows; see
  `lit_vision.callbacks.checkpoint.continue_last_version`).
"""

import logging
import os
import warnings

_DROPPED_INFO = ("💡 Tip: For seamless cloud logging",)
_DROPPED_WARNINGS = (
    r"LightningCLI's args parameter is intended to run from within Python",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
_RESUME_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
)
WANDB_ANONYMOUS_WARNING = "The anonymous setting has no effect and will be removed in a future version."


class _DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(self.prefixes)


_INFO_FILTER = _DropMessages(_DROPPED_INFO)


def quiet_third_party_logs() -> None:
    """Install the filters (idempotent)."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _INFO_FILTER not in logger.filters:
            logger.addFilter(_INFO_FILTER)
    for pattern in _DROPPED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_resume_warnings() -> None:
    """Silence the warnings a deliberate resume into the run's own directory raises."""
    for pattern in _RESUME_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_wandb(logger_init_args: list) -> None:
    """wandb's warning about the `anonymous` argument that Lightning's WandbLogger always passes, and its "git root
    logs does not exist" (wandb looks for the git repository from `save_dir` before Lightning creates it)."""
    if not logger_init_args:
        return
    from lit_vision._compat import mark_wandb_message_shown

    mark_wandb_message_shown(WANDB_ANONYMOUS_WARNING)
    for init_args in logger_init_args:
        save_dir = init_args.get("save_dir") or init_args.get("dir")
        if save_dir and "://" not in str(save_dir):
            os.makedirs(save_dir, exist_ok=True)
