"""The runner: asks the study for trials, runs each, tells the study how it ended; resumable and shareable.

Each trial is a normal `lit-vision fit` in this process (`trial.run_lit_vision`); the metric is reported after every
validation for early termination and the last value is the trial's result (wandb's summary). Trials left RUNNING by a
dead process (no heartbeat) and trials cut short (Ctrl-C, SIGTERM) are queued again with the same values.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lit_vision.sweep.ranks import TrialMailbox, inherited_trial, launch_id, rank, shared_with_launched_ranks
from lit_vision.sweep.results import result_rows, write_csv
from lit_vision.sweep.search import grid_size, open_study, search_space, trial_values
from lit_vision.sweep.spec import SweepFile, sweep_flags, trial_args
from lit_vision.sweep.trial import TrialFn, run_lit_vision, trial_environment

HEARTBEAT_S = 30.0
STALE_AFTER_S = 120.0
MAX_FAILURES_IN_A_ROW = 3


class SweepRunner:
    """Runs the trials of `sweep` with `trial_fn` (default: `lit-vision fit` in this process).

    `configs` are stacked after the sweep command's own arguments and before the sampled values; `extra_args` come
    last. Under DDP only rank 0 uses the study; the other ranks run the trials it hands them (`ranks`)."""

    def __init__(
        self,
        sweep: SweepFile,
        out_dir: str | os.PathLike | None = None,
        seed: int = 0,
        extra_args: Sequence[str] = (),
        trial_fn: TrialFn = run_lit_vision,
        configs: Sequence[str | os.PathLike] = (),
    ) -> None:
        self.sweep = sweep
        self.out_dir = Path(out_dir) if out_dir else Path("logs") / "sweeps" / sweep.name
        self.extra_args = list(extra_args)
        self.configs = [str(config) for config in configs]
        self.trial_fn = trial_fn
        self.rank = rank()
        self.study = open_study(sweep, self.out_dir, seed) if self.rank == 0 else None
        self.space = search_space(sweep)

    # bookkeeping over the shared study
    def counted_trials(self) -> list[Any]:
        """Trials that count toward run_cap and the grid: all but interrupted ones (those are run again)."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        return [t for t in trials if t.state in live or (t.state == TrialState.FAIL and t.number not in retried)]

    def recover_stale(self, stale_after_s: float = STALE_AFTER_S) -> list[int]:
        """Trials left RUNNING by a process that died (no heartbeat): failed and queued again with the same values."""
        from optuna.trial import TrialState

        now, recovered = time.time(), []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            beat = trial.user_attrs.get("heartbeat")
            beat = trial.datetime_start.timestamp() if beat is None else beat
            if now - beat > stale_after_s:
                self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
                recovered.append(trial.number)
        return recovered

    def remaining(self, run_cap: int | None) -> int | None:
        caps = [c for c in (run_cap, grid_size(self.sweep) if self.sweep.method == "grid" else None) if c]
        return max(0, min(caps) - len(self.counted_trials())) if caps else None

    def run(self, count: int | None = None, run_cap: int | None = None) -> int:
        """Run up to `count` trials (all that the cap or the grid leave when None); returns how many ran."""
        if self.rank != 0:
            return self.follow()
        run_cap = run_cap or self.sweep.run_cap
        if count is None and run_cap is None and self.sweep.method != "grid":
            raise ValueError(f"{self.sweep.path} has no run_cap; pass --count N (or --run_cap N) to bound the sweep")
        recovered = self.recover_stale()
        if recovered:
            print(f"lit-vision sweep: trials {recovered} were interrupted; running them again first", flush=True)
        launch = launch_id()
        mailbox = TrialMailbox(self.out_dir, launch) if launch else None
        ran, failures = 0, 0
        try:
            while count is None or ran < count:
                if self.remaining(run_cap) == 0:
                    break
                failed = self.run_one(mailbox)
                ran += 1
                failures = failures + 1 if failed else 0
                if failures >= MAX_FAILURES_IN_A_ROW:
                    raise ValueError(
                        f"{failures} trials in a row failed (last: {failed}); fix the sweep file or the config and rerun"
                    )
        finally:
            if mailbox is not None:
                mailbox.post({"stop": True})
        return ran

    def follow(self) -> int:
        """Rank > 0: run the trials rank 0 hands over (one from the environment, or each posted for this launch)."""
        inherited = inherited_trial()
        if inherited is not None:
            self._run_handed(inherited)
            return 1
        launch = launch_id()
        if launch is None:
            raise ValueError(
                f"rank {self.rank} of a sweep cannot reach rank 0's trials: launch every rank with srun or torchrun, "
                "or let Lightning start them (--trainer.devices N)"
            )
        mailbox, ran = TrialMailbox(self.out_dir, launch), 0
        while not (message := mailbox.take()).get("stop"):
            try:
                self._run_handed(message)
            except Exception as error:  # rank 0 records the failure; this rank waits for the next trial
                print(f"lit-vision sweep: rank {self.rank}: trial {message['number']} failed: {error}", file=sys.stderr)
            ran += 1
        return ran

    def _run_handed(self, message: dict[str, Any]) -> None:
        with trial_environment(self.sweep.name, message["number"]):
            self.trial_fn(list(message["args"]), self.sweep.metric, lambda value: False)

    def run_one(self, mailbox: TrialMailbox | None = None) -> str | None:
        """One trial; returns its failure message, or None when it completed or was pruned."""
        from optuna.trial import TrialState

        trial = self.study.ask(self.space)
        values = trial_values(self.sweep, trial.params)
        args = [*trial_args(self.sweep, values, self.configs), *self.extra_args]
        trial.set_user_attr("args", args)
        reported: list[float] = []
        pruned = False

        def report(value: float) -> bool:
            nonlocal pruned
            reported.append(value)
            trial.report(value, step=len(reported))
            pruned = pruned or trial.should_prune()
            return pruned

        print(f"lit-vision sweep: trial {trial.number}: {' '.join(sweep_flags(values))}", flush=True)
        message = {"number": trial.number, "args": args}
        if mailbox is not None:
            mailbox.post(message)
        heartbeat = _Heartbeat(trial)
        started = time.time()
        try:
            with trial_environment(self.sweep.name, trial.number), shared_with_launched_ranks(message):
                info = self.trial_fn(args, self.sweep.metric, report)
        except KeyboardInterrupt as error:
            self._interrupted(trial, heartbeat)
            raise KeyboardInterrupt from error
        except SystemExit as error:
            # Lightning ends a Ctrl-C with exit(1) and a SIGTERM (SLURM's time limit) with SIGTERMException
            if error.code == 1 or type(error).__name__ == "SIGTERMException":
                self._interrupted(trial, heartbeat)
                raise KeyboardInterrupt from error
            reason = ": invalid arguments (see the error above)" if error.code == 2 else ""
            return self._failed(trial, heartbeat, f"exit {error.code}{reason}")
        except Exception as error:  # a failed trial must not end the sweep
            return self._failed(trial, heartbeat, f"{type(error).__name__}: {str(error).strip().splitlines()[0]}")
        heartbeat.stop()
        for key, value in info.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("duration_s", round(time.time() - started, 1))
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
            return None
        if not reported or not math.isfinite(reported[-1]):
            return self._failed(trial, None, f"metric {self.sweep.metric!r} was never logged (or not finite)")
        self.study.tell(trial, reported[-1])
        return None

    def _failed(self, trial, heartbeat: _Heartbeat | None, message: str) -> str:
        from optuna.trial import TrialState

        if heartbeat is not None:
            heartbeat.stop()
        trial.set_user_attr("error", message)
        self.study.tell(trial, state=TrialState.FAIL)
        print(f"lit-vision sweep: trial {trial.number} failed: {message}", file=sys.stderr, flush=True)
        return message

    def _interrupted(self, trial, heartbeat: _Heartbeat) -> None:
        from optuna.trial import TrialState

        heartbeat.stop()
        self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})

    # results
    def results(self) -> list[dict[str, Any]]:
        """One row per trial (interrupted ones left out), best first."""
        return result_rows(self.sweep, self.counted_trials())

    def write_results(self) -> Path:
        return write_csv(self.results(), self.out_dir / "results.csv", self.sweep.metric)


class _Heartbeat:
    """Marks the trial alive every HEARTBEAT_S seconds, so other workers can tell a dead trial from a slow one."""

    def __init__(self, trial) -> None:
        self.trial = trial
        self._stop = threading.Event()
        trial.set_user_attr("heartbeat", time.time())
        self._thread = threading.Thread(target=self._beat, daemon=True, name="sweep-heartbeat")
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # the trial finished meanwhile
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
