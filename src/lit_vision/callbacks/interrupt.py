"""Ctrl-C during `fit` stops at a step boundary, so `--ckpt_path last` continues exactly.

A SIGINT arriving mid-step (in the forward pass, inside `optimizer.step()`, while the loader fetches) would leave
weights, optimizer, data position and random-number states at different points. `GracefulInterrupt` only records it:
the step in flight finishes, `LastCheckpoint` (when configured) writes `last.ckpt` at the end of that step, where a
step checkpoint is always consistent, and the run stops before anything else changes. A second Ctrl-C stops at once
(the checkpoint of the last boundary stays the one to resume from). `LitVisionCLI` adds it to every trainer.
"""

import signal
import sys
import threading
from types import FrameType
from typing import Any

from lightning import Callback, LightningModule, Trainer


class GracefulInterrupt(Callback):
    """Defer Ctrl-C (SIGINT) during training to the end of the current optimizer step, then stop with
    KeyboardInterrupt (Lightning's graceful shutdown; the command exits non-zero)."""

    def __init__(self) -> None:
        self.requested = False  # Ctrl-C seen, the step in flight still running
        self._stop_pending = False  # the step finished (and was saved): stop at the next hook
        self._previous_handler: Any = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True
        print(
            "lit-vision: Ctrl-C: finishing the current step, then saving and stopping (Ctrl-C again stops at once)",
            file=sys.stderr,
            flush=True,
        )

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.requested = self._stop_pending = False
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _restore_handler(self) -> None:
        if self._previous_handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous_handler)
        self._previous_handler = None

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        # runs before the checkpoint callbacks' hook (Lightning puts those last): they see `requested` and save
        if self.requested:
            self._stop_pending = True

    def _stop_if_pending(self) -> None:
        if self._stop_pending:
            raise KeyboardInterrupt

    def on_train_batch_start(self, trainer: Trainer, *args: Any) -> None:
        self._stop_if_pending()  # Ctrl-C between steps (data loading) lets the next step run and saves after it

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking and self.requested:
            raise KeyboardInterrupt
        self._stop_if_pending()

    def on_validation_batch_end(self, trainer: Trainer, *args: Any) -> None:
        # Ctrl-C during validation: the validation is redone on resume (the last step checkpoint comes before it)
        if self.requested and not self._stop_pending:
            raise KeyboardInterrupt

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_if_pending()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore_handler()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_handler()

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._restore_handler()


def interrupt_requested(trainer: Trainer) -> bool:
    """Whether Ctrl-C asked this trainer to stop at the end of the current step."""
    return any(isinstance(callback, GracefulInterrupt) and callback.requested for callback in trainer.callbacks)
