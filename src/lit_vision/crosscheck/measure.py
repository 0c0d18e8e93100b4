"""The measurements of `lit-vision crosscheck`: equality of outputs and gradients (fp32), size, speed, training."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from lit_vision.crosscheck.twins import Twins


def _real(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def output_diff(twins: Twins, batch: Any) -> float:
    """max |ours - twin| of the outputs on `batch`, evaluation mode, fp32."""
    ours, twin = twins.ours.eval(), twins.twin.eval()
    with torch.no_grad():
        inputs = twins.inputs(batch)
        return (_real(ours(*inputs)) - _real(twin(*inputs))).abs().max().item()


def gradient_diff(twins: Twins, batch: Any) -> tuple[float, float, str]:
    """(max |grad ours - grad twin|, max |grad ours|, parameter of the largest difference) of the training loss on
    `batch` in evaluation mode (no dropout), fp32."""
    results = []
    for model in (twins.ours, twins.twin):
        model.eval().zero_grad(set_to_none=True)
        twins.loss(model(*twins.inputs(batch)), batch).backward()
    ours = {name: p.grad for name, p in twins.ours.named_parameters() if p.grad is not None}
    theirs = twins.grads_as_ours(twins.twin)
    missing = sorted(set(ours) - set(theirs))
    if missing:
        raise ValueError(f"the twin's gradients have no counterpart for {missing[:3]}")
    for name, grad in ours.items():
        results.append(((grad - theirs[name].to(grad.dtype)).abs().max().item(), name))
    worst, name = max(results)
    scale = max(g.abs().max().item() for g in ours.values())
    for model in (twins.ours, twins.twin):
        model.zero_grad(set_to_none=True)
    return worst, scale, name


def real_parameters(model: nn.Module) -> int:
    """Parameters counted in real numbers (a complex parameter counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def param_groups(model: nn.Module, weight_decay_exempt: Callable[[str, nn.Parameter], bool]) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if weight_decay_exempt(name, p) else decay).append(p)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def exempt_rule(module: L.LightningModule) -> Callable[[str, nn.Parameter], bool]:
    """The weight-decay rule of `module.param_groups()` applied by name to any network: norms, biases (ndim <= 1),
    embeddings, and the leaf names our network exempts (positions, class token, relative-position tables)."""
    net = module.net
    exempt_leaves = {
        name.rsplit(".", 1)[-1] for name in (net.no_weight_decay() if hasattr(net, "no_weight_decay") else ())
    }

    def rule(name: str, p: nn.Parameter) -> bool:
        return p.ndim <= 1 or any(part in exempt_leaves for part in name.split(".")) or "embed.weight" in name

    return rule


def optimizer_for(module: L.LightningModule, model: nn.Module, ours: bool) -> torch.optim.Optimizer:
    """The config's optimizer with the module's weight-decay groups (ours: `module.param_groups()` itself)."""
    if ours and model is module.net:
        return module.optimizer_factory(module.param_groups())
    return module.optimizer_factory(param_groups(model, exempt_rule(module)))


def throughput(
    twins: Twins, model: nn.Module, batch: Any, train: bool, optimizer: torch.optim.Optimizer | None,
    device: torch.device, precision: str, seconds: float,
) -> float:  # fmt: skip
    """Samples per second of inference (no_grad, eval) or of a training step (forward, backward, optimizer step)."""
    inputs = twins.inputs(batch)

    def step() -> None:
        with autocast(device, precision):
            if not train:
                model(*inputs)
                return
            loss = twins.loss(model(*inputs), batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model.train(train)
    context = contextlib.nullcontext() if train else torch.no_grad()
    with context:
        step()  # warm-up
        _sync(device)
        start, iterations = time.perf_counter(), 0
        while iterations < 2 or time.perf_counter() - start < seconds:
            step()
            iterations += 1
        _sync(device)
        elapsed = time.perf_counter() - start
    return iterations * twins.samples(batch) / elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_curves(
    module: L.LightningModule, twins: Twins, batches: Iterator[Any], steps: int, device: torch.device,
    precision: str, seed: int = 0,
) -> tuple[list[float], list[float]]:  # fmt: skip
    """Losses of `steps` optimizer steps of both networks from the same weights on the same batches, same optimizer
    (the config's, constant learning rate), training mode; the random stream is reseeded identically before each
    step of each network (dropout / drop-path draw the same masks when both draw them in the same order)."""
    models = (copy.deepcopy(twins.ours), copy.deepcopy(twins.twin))
    optimizers = [optimizer_for(module, models[0], ours=False), optimizer_for(module, models[1], ours=False)]
    curves: tuple[list[float], list[float]] = ([], [])
    for step in range(steps):
        batch = next(batches)
        for model, optimizer, curve in zip(models, optimizers, curves):
            model.train()
            torch.manual_seed(seed + step)
            with autocast(device, precision):
                loss = twins.loss(model(*twins.inputs(batch)), batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            curve.append(loss.item())
    return curves


def max_relative_diff(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b, strict=True)), default=0.0)
