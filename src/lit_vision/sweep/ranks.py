"""One trial for all DDP ranks: rank 0 asks the study, the other ranks run what it asked.

Every rank of a DDP sweep runs `lit-vision sweep ...`. Only rank 0 opens trials in the study; it hands each trial's
arguments to the others:

- Lightning's own launcher (`--trainer.devices 2` on one machine) starts ranks 1.. as copies of the command when the
  trial's Trainer starts, with rank 0's environment: rank 0 puts the trial into `LIT_VISION_SWEEP_TRIAL`, each copy
  runs exactly that trial and ends.
- External launchers (srun with several tasks, torchrun) start every rank at once: rank 0 writes the trial's arguments
  to `<out_dir>/ranks/<launch id>/<position>.json` and the other ranks wait for it; a `stop` file ends them.
  The launch id is SLURM's job and step id, or torchrun's run id and port (give torchrun a unique `--rdzv-id`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TRIAL_ENV = "LIT_VISION_SWEEP_TRIAL"
# what Lightning's launcher leaves in rank 0's environment once it started the other ranks
LAUNCHER_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT")
POLL_S = 0.5


def rank() -> int:
    """This process's global rank as its launcher set it (0 when nothing did); read before any Trainer exists."""
    for name in ("RANK", "PMI_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and os.environ.get("SLURM_PROCID", "").isdigit():
        return int(os.environ["SLURM_PROCID"])
    local, node = os.environ.get("LOCAL_RANK", "0"), os.environ.get("NODE_RANK", "0")
    return int(local) + int(node) if local.isdigit() and node.isdigit() else 0


def launch_id() -> str | None:
    """An id all ranks of one external launch share, or None when no external launcher started several ranks."""
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in os.environ:
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}"
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "TORCHELASTIC_RUN_ID" in os.environ:
        return f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}-{os.environ.get('MASTER_PORT', '')}"
    return None


def inherited_trial() -> dict[str, Any] | None:
    """The trial rank 0 handed to this process through its environment (Lightning's launcher), if any."""
    value = os.environ.get(TRIAL_ENV)
    return json.loads(value) if value else None


class TrialMailbox:
    """Rank 0 posts each trial of this launch (or the end) as a file; the other ranks take them in order."""

    def __init__(self, out_dir: Path, launch: str) -> None:
        self.folder = Path(out_dir) / "ranks" / launch
        self.position = 0

    def post(self, message: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.position}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(message))
        os.replace(temporary, path)
        self.position += 1

    def take(self, timeout_s: float | None = None) -> dict[str, Any]:
        path = self.folder / f"{self.position}.json"
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not path.is_file():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"rank 0 posted no trial in {path} within {timeout_s:.0f} s")
            time.sleep(POLL_S)
        self.position += 1
        return json.loads(path.read_text())


class shared_with_launched_ranks:
    """On rank 0 around one trial: the trial in the environment for the ranks Lightning's launcher starts, and
    afterwards the launcher's traces removed, so that the next trial's Trainer launches fresh ranks."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    def __enter__(self) -> None:
        self.before = {name: os.environ.get(name) for name in LAUNCHER_ENV}
        os.environ[TRIAL_ENV] = json.dumps(self.message)

    def __exit__(self, *exc: Any) -> None:
        os.environ.pop(TRIAL_ENV, None)
        if self.before["LOCAL_RANK"] is not None or "LOCAL_RANK" not in os.environ:
            return  # launched externally, or no ranks were started
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in self.before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
