"""`lit-vision crosscheck`: a config's model against its reference twin (timm, torch.nn.Transformer, PyTorch's complex
convolution) with the same weights: one table of output and gradient differences, size, MACs and speed, and with
`--steps N` the loss curves of both trained N steps from the same weights on the same batches."""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch

from lit_vision.crosscheck import measure
from lit_vision.crosscheck.twins import make_twins
from lit_vision.export.configured import build, real_batch

OUTPUT_TOLERANCE = 1e-5  # fp32 max abs difference of the outputs
GRADIENT_TOLERANCE = 1e-4  # fp32 max abs difference of the gradients, relative to the largest gradient entry
ROUNDS = 3  # speed measurements alternate between the two networks this many times
CURVE_TOLERANCE = {"32": 1e-3, "bf16-mixed": 5e-2}  # largest relative difference of the two loss curves

DESCRIPTION = f"""Compare a config's model with its reference twin, built with the same weights:
ViT / Swin / ConvMixer vs timm (lit_vision.interop.to_timm), the Transformer vs torch.nn.Transformer, FCCN's
ComplexConv2d vs PyTorch's native complex convolution (nn.Conv2d, complex64). One table: max abs difference of the
outputs and of the gradients (fp32, evaluation mode, a real batch of the config's test split), parameters, MACs
(lit_vision.interop.profile), training-step and inference samples/s side by side (best of 3 alternating rounds). With --steps N both are trained N
optimizer steps from the same initial weights on the same training batches (no augmentation) with the config's
optimizer at a constant learning rate: the loss curves and their largest relative difference.

Exits 1 when the outputs differ by more than {OUTPUT_TOLERANCE:.0e}, the gradients by more than
{GRADIENT_TOLERANCE:.0e} x the largest gradient, or the curves by more than --curve_tolerance (default
{CURVE_TOLERANCE["32"]:.0e} in fp32, {CURVE_TOLERANCE["bf16-mixed"]:.0e} with bf16-mixed). Further --model.* / --data.*
arguments override the configs as in `lit-vision fit`."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lit-vision crosscheck", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", action="append", required=True, help="YAML config, repeatable (stacked as in fit)")
    p.add_argument("--ckpt_path", help="checkpoint written by `lit-vision fit` (default: the config's initial weights)")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps to train both networks (0: no training)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (speed and training run there; checks in fp32)")
    p.add_argument("--precision", default="32", choices=("32", "bf16-mixed"), help="of speed and training runs")
    p.add_argument("--batch_size", type=int, help="samples per batch (default: the config's)")
    p.add_argument("--seconds", type=float, default=1.0, help="time spent on each speed measurement")
    p.add_argument("--curve_tolerance", type=float, help="largest allowed relative difference of the loss curves")
    return p


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device {name} is not supported; use cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA GPU on this machine (torch.cuda.is_available() is False); use cpu")
    return torch.device(name)


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return type(batch)(_to(v, device) for v in batch)


def _train_batches(datamodule, device: torch.device, batch_size: int | None) -> Iterator[Any]:
    datamodule.setup("fit")
    while True:
        for batch in datamodule.train_dataloader():
            batch = datamodule.on_after_batch_transfer(batch, 0)
            yield _to(batch if not batch_size else _head(batch, batch_size), device)


def _head(batch: Any, size: int) -> Any:
    from lit_vision.export.configured import _head as head

    return head(batch, size)


def _named(twins) -> tuple[tuple[str, torch.nn.Module], ...]:
    return (("ours", twins.ours), ("twin", twins.twin))


def _macs(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """MACs of one sample; torch.nn.Transformer's fused inference fast path (uncounted by PyTorch's FLOP counter) off."""
    from lit_vision.interop import profile

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        return profile(model, inputs=inputs)["macs"]
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _row(name: str, ours: str, twin: str, compare: str) -> str:
    return f"| {name:<28} | {ours:>14} | {twin:>14} | {compare:<38} |"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def crosscheck(args: argparse.Namespace, overrides: list[str]) -> int:
    device = _device(args.device)
    if args.steps < 0:
        raise ValueError(f"--steps {args.steps} must be >= 0")
    configured = build(args.config, overrides, args.ckpt_path)
    module, datamodule = configured.module, configured.datamodule
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch_size {args.batch_size} must be >= 1")
    batch = real_batch(datamodule, args.batch_size)
    twins = make_twins(module)
    failures = []

    out_diff = measure.output_diff(twins, batch)
    grad_diff, grad_scale, grad_where = measure.gradient_diff(twins, batch)
    if not out_diff <= OUTPUT_TOLERANCE:
        failures.append(f"outputs differ by {out_diff:.3e} > {OUTPUT_TOLERANCE:.0e}")
    if not grad_diff <= GRADIENT_TOLERANCE * max(grad_scale, 1.0):
        failures.append(
            f"gradients differ by {grad_diff:.3e} > {GRADIENT_TOLERANCE:.0e} x {max(grad_scale, 1.0):.3g} "
            f"(largest at {grad_where})"
        )
    inputs = twins.inputs(batch)
    params = (measure.real_parameters(twins.ours), measure.real_parameters(twins.twin))
    macs = [_macs(model, tuple(t[:1] for t in inputs)) for model in (twins.ours, twins.twin)]

    initial = (copy.deepcopy(twins.ours), copy.deepcopy(twins.twin))
    twins.ours.to(device), twins.twin.to(device)
    device_batch = _to(batch, device)
    speeds: dict[tuple[str, bool], float] = {}
    optimizers = {name: measure.optimizer_for(module, model, ours=False) for name, model in _named(twins)}
    for _ in range(ROUNDS):  # alternate ours and the twin, keep each one's best: fair under a changing machine load
        for name, model in _named(twins):
            for train in (True, False):
                rate = measure.throughput(
                    twins, model, device_batch, train, optimizers[name], device, args.precision, args.seconds / ROUNDS
                )
                speeds[name, train] = max(speeds.get((name, train), 0.0), rate)
    twins.ours, twins.twin = initial

    samples = twins.samples(batch)
    print(f"crosscheck: {type(module).__name__} ({type(twins.ours).__name__}) vs {twins.reference}")
    print(
        f"checks: fp32, evaluation mode, {samples} samples of {type(datamodule).__name__}'s test split; speed: "
        f"{device}, precision {args.precision}, batch {samples}"
    )
    print(_row("", "lit-vision", "reference", "difference / ratio (ours / reference)"))
    print(_row("-" * 28, "-" * 14, "-" * 14, "-" * 38).replace(" ", "-"))
    ok = "ok" if out_diff <= OUTPUT_TOLERANCE else "FAIL"
    print(_row("outputs max abs diff", "", "", f"{out_diff:.3e} (tol {OUTPUT_TOLERANCE:.0e}) {ok}"))
    ok = "ok" if grad_diff <= GRADIENT_TOLERANCE * max(grad_scale, 1.0) else "FAIL"
    print(_row("gradients max abs diff", "", "", f"{grad_diff:.3e} (max |grad| {grad_scale:.2g}) {ok}"))
    print(
        _row(
            "parameters (real numbers)",
            f"{params[0]:,}",
            f"{params[1]:,}",
            "equal" if params[0] == params[1] else "DIFFER",
        )
    )
    print(_row("MACs per sample", f"{macs[0]:,}", f"{macs[1]:,}", f"{macs[0] / max(macs[1], 1):.3f}x"))
    for train, label in ((True, "train step samples/s"), (False, "inference samples/s")):
        ours, theirs = speeds["ours", train], speeds["twin", train]
        print(_row(label, _rate(ours), _rate(theirs), f"{ours / theirs:.2f}x"))

    if args.steps:
        tolerance = args.curve_tolerance or CURVE_TOLERANCE[args.precision]
        batches = _train_batches(datamodule, device, args.batch_size)
        twins.ours.to(device), twins.twin.to(device)
        ours_curve, twin_curve = measure.train_curves(module, twins, batches, args.steps, device, args.precision)
        worst = measure.max_relative_diff(ours_curve, twin_curve)
        ok = "ok" if worst <= tolerance else "FAIL"
        print(_row(f"loss after {args.steps} steps", f"{ours_curve[-1]:.6f}", f"{twin_curve[-1]:.6f}", ""))
        print(_row("loss curves max rel diff", "", "", f"{worst:.3e} (tol {tolerance:.0e}) {ok}"))
        every = max(1, args.steps // 10)
        print("loss curves (step: lit-vision / reference):")
        print(
            "  "
            + ", ".join(
                f"{i + 1}: {a:.4f}/{b:.4f}"
                for i, (a, b) in enumerate(zip(ours_curve, twin_curve))
                if (i + 1) % every == 0 or i == 0
            )
        )
        if worst > tolerance:
            failures.append(f"loss curves differ by up to {worst:.3e} (relative) > {tolerance:.0e}")
    for failure in failures:
        print(f"lit-vision: crosscheck failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def run(argv: list[str]) -> int:
    args, overrides = parser().parse_known_args(argv)
    try:
        return crosscheck(args, overrides)
    except (ValueError, FileNotFoundError) as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
