"""Shared pieces of the chunked CPU kernels (``chunked_attention``, ``chunked_mlp``): when they apply, the switch on a
whole model, the row spans of the chunks, and a linear layer written into rows of a preallocated buffer."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = ["chunking_applies", "linear_into", "row_spans", "set_chunked"]


def chunking_applies(x: Tensor, setting: bool | None, widest: int, min_bytes: float) -> bool:
    """Whether a layer with chunking ``setting`` (True: always, False: never, None: auto) runs its chunked kernel on
    ``x``, whose widest intermediate has ``widest`` elements.

    Auto: float32/float64 on the CPU, outside autocast, ``torch.compile`` (which fuses on its own) and graph capture
    (export, tracing), when that intermediate takes at least ``min_bytes``. On GPUs the fused library kernels win.
    """
    if setting is not None:
        return setting
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled("cpu")
        and not (torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing())
        and widest * x.element_size() >= min_bytes
    )


def linear_into(x: Tensor, weight: Tensor, bias: Tensor | None, out: Tensor) -> Tensor:
    """``F.linear(x, weight, bias)`` on rows (M, C_in) written into ``out`` (M, C_out), e.g. rows of a buffer."""
    if bias is None:
        return torch.mm(x, weight.t(), out=out)
    return torch.addmm(bias, x, weight.t(), out=out)


def row_spans(rows: int, chunk: int) -> Iterator[slice]:
    """Slices of ``chunk`` consecutive rows covering ``rows`` (the last one may be shorter)."""
    for start in range(0, rows, chunk):
        yield slice(start, start + chunk)


def set_chunked(model: nn.Module, setting: bool | None) -> nn.Module:
    """Sets ``chunked`` (True: always, False: never, None: auto) on every layer of ``model`` that has the switch."""
    for module in model.modules():
        if hasattr(module, "chunked"):
            module.chunked = setting
    return model
