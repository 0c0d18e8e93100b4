"""Linear -> GELU -> Linear over rows of tokens, a chunk of rows at a time, with its own backward pass.

Autograd keeps three hidden-size tensors of the whole batch (pre-activation, activation, and in the backward pass the
gradient of each) and passes over each of them separately. Here the forward pass keeps only the pre-activation; each
chunk's activation, its gradient and the GELU gradient are made and used while the chunk is in cache. Same results
as ``fc2(gelu(fc1(x)))`` up to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from lit_vision.nn.chunked import linear_into, row_spans

__all__ = ["CHUNK_ROWS", "TRAIN_MIN_BYTES", "chunked_mlp"]

CHUNK_ROWS = 1024
# While training, chunks pay only when the hidden activation is far beyond the cache (Swin-T's first two stages at
# batch 32: 77-154 MB); at ViT-S/16's 39 MB the per-chunk weight-gradient GEMMs cost about what they save.
TRAIN_MIN_BYTES = 48 * 2**20


class _ChunkedMlp(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, fc1_weight: Tensor, fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor, chunk: int
    ) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])
        hidden = rows.new_empty(rows.shape[0], fc1_weight.shape[0])
        out = rows.new_empty(rows.shape[0], fc2_weight.shape[0])
        for span in row_spans(rows.shape[0], chunk):
            linear_into(rows[span], fc1_weight, fc1_bias, out=hidden[span])
            linear_into(F.gelu(hidden[span]), fc2_weight, fc2_bias, out=out[span])
        ctx.save_for_backward(rows, hidden, fc1_weight, fc2_weight)
        ctx.config = (x.shape, chunk)
        return out.view(*x.shape[:-1], -1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        rows, hidden, fc1_weight, fc2_weight = ctx.saved_tensors
        shape, chunk = ctx.config
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad[:5]
        grad = grad.reshape(-1, grad.shape[-1])
        grad_x = rows.new_empty(rows.shape) if need_x else None
        grad_w1 = torch.zeros_like(fc1_weight) if need_w1 else None
        grad_b1 = hidden.new_zeros(hidden.shape[1]) if need_b1 else None
        grad_w2 = torch.zeros_like(fc2_weight) if need_w2 else None
        for span in row_spans(rows.shape[0], chunk):
            pre, grad_out = hidden[span], grad[span]
            if grad_w2 is not None:
                grad_w2.addmm_(grad_out.t(), F.gelu(pre))
            grad_pre = torch.ops.aten.gelu_backward(grad_out @ fc2_weight, pre)
            if grad_b1 is not None:
                grad_b1 += grad_pre.sum(0)
            if grad_w1 is not None:
                grad_w1.addmm_(grad_pre.t(), rows[span])
            if grad_x is not None:
                torch.mm(grad_pre, fc1_weight, out=grad_x[span])
        grad_b2 = grad.sum(0) if need_b2 else None
        return grad_x.view(shape) if grad_x is not None else None, grad_w1, grad_b1, grad_w2, grad_b2, None


def chunked_mlp(x: Tensor, fc1: torch.nn.Linear, fc2: torch.nn.Linear, chunk_rows: int = CHUNK_ROWS) -> Tensor:
    """``fc2(gelu(fc1(x)))`` (exact GELU) on (..., C) tokens, ``chunk_rows`` tokens at a time."""
    return _ChunkedMlp.apply(x.contiguous(), fc1.weight, fc1.bias, fc2.weight, fc2.bias, chunk_rows)
