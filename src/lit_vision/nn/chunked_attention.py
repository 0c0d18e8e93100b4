"""Window attention (qkv projection -> softmax attention with an additive bias -> output projection) computed a few
images' windows at a time, with its own backward pass.

Autograd would materialise every intermediate of the whole batch (q, k, v copies, logits, weights, head-merged output)
and walk each of them again in the backward pass; at Swin's first stage these are 40-150 MB tensors that leave the
cache between one operation and the next. Here each chunk's intermediates stay in cache: the forward pass keeps only
the input and the qkv projection, and the backward pass recomputes the chunk's weights from q and k (a small matmul)
instead of storing them. Same results as the step-by-step computation up to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from lit_vision.nn.chunked import linear_into, row_spans

__all__ = ["CHUNK_TOKENS", "TRAIN_MIN_BYTES", "chunked_window_attention"]

CHUNK_TOKENS = 3136  # tokens per chunk (rounded to whole images): one 224 px image at Swin's first stage
# While training, chunks pay from Swin-T's third stage at batch 32 (29 MB of q, k, v) up; for inference the fused
# SDPA kernel of the layer-by-layer path measured faster.
TRAIN_MIN_BYTES = 16 * 2**20


def _attend(qkv: Tensor, mask: Tensor, heads: int, scale: float) -> tuple[Tensor, ...]:
    """One chunk: qkv (windows * N, 3C) -> head-merged output (windows * N, C), plus q * scale, k, v, weights."""
    windows_masks, _, tokens, _ = mask.shape
    q, k, v = (t.transpose(1, 2) for t in qkv.view(-1, tokens, 3, heads, qkv.shape[-1] // (3 * heads)).unbind(2))
    q = q * scale
    logits = torch.matmul(q, k.transpose(-2, -1))
    logits.view(-1, windows_masks, heads, tokens, tokens).add_(mask)
    weights = torch.softmax(logits, dim=-1)
    out = torch.matmul(weights, v).transpose(1, 2).reshape(-1, qkv.shape[-1] // 3)
    return out, q, k, v, weights


class _ChunkedWindowAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        qkv_weight: Tensor,
        qkv_bias: Tensor | None,
        proj_weight: Tensor,
        proj_bias: Tensor | None,
        mask: Tensor,
        heads: int,
        scale: float,
        chunk_windows: int,
    ) -> Tensor:
        windows, tokens, channels = x.shape
        mask4 = mask if mask.ndim == 4 else mask.unsqueeze(0)
        rows = x.reshape(windows * tokens, channels)
        qkv = rows.new_empty(windows * tokens, qkv_weight.shape[0])
        out = rows.new_empty(windows * tokens, proj_weight.shape[0])
        for span in row_spans(windows * tokens, chunk_windows * tokens):
            linear_into(rows[span], qkv_weight, qkv_bias, out=qkv[span])
            merged = _attend(qkv[span], mask4, heads, scale)[0]
            linear_into(merged, proj_weight, proj_bias, out=out[span])
        ctx.save_for_backward(rows, qkv, qkv_weight, proj_weight, mask4)
        ctx.config = (x.shape, mask.shape, heads, scale, chunk_windows)
        return out.view(windows, tokens, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        rows, qkv, qkv_weight, proj_weight, mask4 = ctx.saved_tensors
        shape, mask_shape, heads, scale, chunk_windows = ctx.config
        need_x, need_qkv_w, need_qkv_b, need_proj_w, need_proj_b, need_mask = ctx.needs_input_grad[:6]
        windows, tokens, channels = shape
        grad = grad.reshape(windows * tokens, -1)
        grad_x = rows.new_empty(rows.shape) if need_x else None
        grad_qkv_w = torch.zeros_like(qkv_weight) if need_qkv_w else None
        grad_qkv_b = qkv.new_zeros(qkv.shape[1]) if need_qkv_b else None
        grad_proj_w = torch.zeros_like(proj_weight) if need_proj_w else None
        grad_mask = torch.zeros_like(mask4) if need_mask else None
        head_dim = channels // heads
        for span in row_spans(windows * tokens, chunk_windows * tokens):
            merged, q, k, v, weights = _attend(qkv[span], mask4, heads, scale)
            grad_out = grad[span]
            if grad_proj_w is not None:
                grad_proj_w.addmm_(grad_out.t(), merged)
            grad_merged = (grad_out @ proj_weight).view(-1, tokens, heads, head_dim).transpose(1, 2)
            grad_weights = torch.matmul(grad_merged, v.transpose(-2, -1))
            grad_logits = torch._softmax_backward_data(grad_weights, weights, -1, weights.dtype)
            if grad_mask is not None:
                grad_mask += grad_logits.view(-1, *mask4.shape).sum(0)
            grad_qkv = qkv.new_empty(grad_logits.shape[0], tokens, 3, heads, head_dim)
            grad_qkv[:, :, 0] = torch.matmul(grad_logits, k).mul_(scale).transpose(1, 2)
            grad_qkv[:, :, 1] = torch.matmul(grad_logits.transpose(-2, -1), q).transpose(1, 2)
            grad_qkv[:, :, 2] = torch.matmul(weights.transpose(-2, -1), grad_merged).transpose(1, 2)
            grad_qkv = grad_qkv.view(-1, qkv.shape[1])
            if grad_qkv_w is not None:
                grad_qkv_w.addmm_(grad_qkv.t(), rows[span])
            if grad_qkv_b is not None:
                grad_qkv_b += grad_qkv.sum(0)
            if grad_x is not None:
                torch.mm(grad_qkv, qkv_weight, out=grad_x[span])
        return (
            grad_x.view(shape) if grad_x is not None else None,
            grad_qkv_w,
            grad_qkv_b,
            grad_proj_w,
            grad.sum(0) if need_proj_b else None,
            grad_mask.view(mask_shape) if grad_mask is not None else None,
            None,
            None,
            None,
        )


def chunked_window_attention(
    x: Tensor,
    qkv: torch.nn.Linear,
    proj: torch.nn.Linear,
    mask: Tensor,
    heads: int,
    scale: float,
    chunk_tokens: int = CHUNK_TOKENS,
) -> Tensor:
    """Windows x (B * nW, N, C) -> proj(softmax(q k^T * scale + mask) v), chunk by chunk.

    ``mask`` is the additive logit term, (heads, N, N) for all windows or (nW, heads, N, N) per window of each image
    (windows of an image consecutive); it may require grad (the relative-position bias). A chunk covers whole images,
    about ``chunk_tokens`` tokens.
    """
    windows_per_image = mask.shape[0] if mask.ndim == 4 else 1
    tokens_per_image = windows_per_image * x.shape[1]
    chunk_windows = max(1, chunk_tokens // tokens_per_image) * windows_per_image
    return _ChunkedWindowAttention.apply(
        x.contiguous(), qkv.weight, qkv.bias, proj.weight, proj.bias, mask, heads, scale, chunk_windows
    )
