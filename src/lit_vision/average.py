"""`lit-vision average`: average the weights of a run's last N checkpoints into one checkpoint.

Vaswani et al. (2017, section 6.1) average the last 5 (base) or 20 (big) checkpoints, written at 10-minute intervals;
`configs/text/transformer_base.yaml` writes such checkpoints. The checkpoints of `--ckpt_dir` are ordered by their
training step (`last.ckpt` counts only when it is newer than every other file; files written by this command are
skipped); the floating-point tensors of the newest N are averaged in float64, and everything else (hyper-parameters,
DataModule state such as the BPE tokenizer, integer buffers, optimizer state) is the newest checkpoint's. The result
is an ordinary checkpoint: `lit-vision test --config ... --ckpt_path avg.ckpt`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch

from lit_vision.callbacks.checkpoint import LAST_NAME, atomic_save

__all__ = ["average_checkpoints", "average_state_dicts", "run"]


class AverageError(ValueError):
    """Bad input of `lit-vision average`: reported as one line."""


def _load(path: Path) -> dict[str, Any]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch.load raises many types for bad files
        raise AverageError(
            f"{path} is not a readable checkpoint ({type(error).__name__}); remove it or pick another --ckpt_dir"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise AverageError(f"{path} holds no 'state_dict'; --ckpt_dir must hold Lightning checkpoints")
    return checkpoint


def select_checkpoints(ckpt_dir: str | Path, last: int) -> list[tuple[Path, dict[str, Any]]]:
    """The newest ``last`` checkpoints of ``ckpt_dir`` (oldest first), one per training step, averages left out."""
    directory = Path(ckpt_dir)
    if not directory.is_dir():
        raise AverageError(f"--ckpt_dir {str(directory)!r} is not a directory; pass a run's checkpoints/ directory")
    if last < 1:
        raise AverageError(f"--last {last} must be >= 1 (the number of newest checkpoints to average)")
    by_step: dict[tuple[int, int], tuple[Path, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.ckpt")):
        checkpoint = _load(path)
        if "averaged_checkpoints" in checkpoint:
            continue
        step = (int(checkpoint.get("global_step", 0)), int(checkpoint.get("epoch", 0)))
        kept = by_step.get(step)
        if kept is None or LAST_NAME.match(kept[0].stem):  # of two files at one step keep the one not named last
            by_step[step] = (path, checkpoint)
    if len(by_step) < last:
        raise AverageError(
            f"--ckpt_dir {str(directory)!r} holds {len(by_step)} checkpoints of distinct steps, fewer than --last {last}; "
            "lower --last or save more checkpoints (ModelCheckpoint save_top_k: -1 with train_time_interval)"
        )
    return [by_step[step] for step in sorted(by_step)[-last:]]


def average_state_dicts(state_dicts: list[dict[str, torch.Tensor]], names: list[str] | None = None) -> dict[str, Any]:
    """Element-wise mean of the floating-point tensors (in float64, cast back); other entries from the last dict."""
    names = names or [str(i) for i in range(len(state_dicts))]
    reference = state_dicts[-1]
    for name, state in zip(names, state_dicts):
        if state.keys() != reference.keys():
            differ = sorted(set(state) ^ set(reference))[:3]
            raise AverageError(
                f"{name} has other parameters than {names[-1]} ({differ}); average checkpoints of one model"
            )
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape != reference[key].shape:
                raise AverageError(
                    f"{name}: {key} has shape {tuple(value.shape)}, {names[-1]} has {tuple(reference[key].shape)}; "
                    "average checkpoints of one model"
                )
    averaged: dict[str, Any] = {}
    for key, value in reference.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            total = torch.zeros(value.shape, dtype=torch.float64)
            for state in state_dicts:
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(state_dicts)).to(value.dtype)
        else:
            averaged[key] = value
    return averaged


def average_checkpoints(ckpt_dir: str | Path, last: int, output: str | Path) -> list[Path]:
    """Write the average of the newest ``last`` checkpoints of ``ckpt_dir`` to ``output``; returns the files used."""
    chosen = select_checkpoints(ckpt_dir, last)
    paths = [path for path, _ in chosen]
    state = average_state_dicts([checkpoint["state_dict"] for _, checkpoint in chosen], [str(p) for p in paths])
    newest = dict(chosen[-1][1])
    newest["state_dict"] = state
    newest["averaged_checkpoints"] = [os.path.basename(path) for path in paths]
    atomic_save(newest, output)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lit-vision average",
        description="Average the weights of the newest N checkpoints of a directory (Vaswani et al. 2017: the last "
        "5 for base, 20 for big, written 10 minutes apart) into one checkpoint that tests like any other.",
    )
    parser.add_argument("--ckpt_dir", required=True, help="directory of the run's .ckpt files")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest checkpoints to average (default 5)")
    parser.add_argument("--output", required=True, help="path of the averaged checkpoint, e.g. avg.ckpt")
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = average_checkpoints(args.ckpt_dir, args.last, args.output)
    except AverageError as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {error}", file=sys.stderr)
        return 2
    print(f"averaged {len(paths)} checkpoints into {args.output}:")
    print("\n".join(f"  {path}" for path in paths))
    return 0
