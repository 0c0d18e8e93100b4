"""Parameters and multiply-accumulates (MACs) of one forward pass.

MACs follow the convention of fvcore / timm's tables: one per multiply-add of matrix products and convolutions
(``FlopCounterMode``'s FLOPs / 2); normalisations, activations, softmax and element-wise ops are not counted.
Attention through ``F.scaled_dot_product_attention`` counts both of its matrix products, q @ k^T and weights @ v, i.e.
batch * heads * L * S * (E + Ev) MACs, on every backend: PyTorch's counter knows the CUDA kernels but counts the CPU
flash kernel as 0, so its formula is registered here (causal masks are counted as full attention, as PyTorch does).
Ops on complex tensors count one MAC per complex multiply-add.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["attention_macs", "profile"]


def attention_macs(query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int]) -> int:
    """MACs of softmax(q k^T) v for q (..., L, E), k (..., S, E), v (..., S, Ev); leading dims of q count as batch x
    heads (keys/values with fewer, grouped heads are broadcast to the query's)."""
    *batch, length, embed = query_shape
    keys, value_embed = key_shape[-2], value_shape[-1]
    batch_heads = 1
    for size in batch:
        batch_heads *= size
    return batch_heads * length * keys * (embed + value_embed)


def _sdpa_flops(query_shape, key_shape, value_shape, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 2 * attention_macs(query_shape, key_shape, value_shape)


def _sdpa_backward_flops(grad_shape, query_shape, key_shape, value_shape, *args: Any, out_shape=None, **kwargs) -> int:
    # recomputed q k^T, then the gradients of both products (w.r.t. the weights and v, then q and k)
    *batch, length, embed = query_shape
    keys, value_embed = key_shape[-2], value_shape[-1]
    batch_heads = 1
    for size in batch:
        batch_heads *= size
    return 2 * batch_heads * length * keys * (3 * embed + 2 * value_embed)


def _attention_formulas() -> dict[Any, Any]:
    """SDPA kernels PyTorch's FlopCounterMode leaves at 0 (CPU flash kernel, backend-overridable kernel)."""
    formulas: dict[Any, Any] = {}
    for name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_fused_attention_overrideable"):
        if hasattr(torch.ops.aten, name):
            formulas[getattr(torch.ops.aten, name)] = _sdpa_flops
    for name in (
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_scaled_dot_product_fused_attention_overrideable_backward",
    ):
        if hasattr(torch.ops.aten, name):
            formulas[getattr(torch.ops.aten, name)] = _sdpa_backward_flops
    return formulas


def _example_inputs(model: nn.Module, input_size: Sequence[int], dtype: torch.dtype | None) -> tuple[Tensor, ...]:
    size = tuple(int(s) for s in input_size)
    if len(size) == 3:
        size = (1, *size)
    if len(size) < 2 or min(size) < 1:
        raise ValueError(
            f"input_size={tuple(input_size)} is not an input shape; pass (C, H, W) or (B, C, H, W), e.g. (3, 224, 224)"
        )
    reference = next((t for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = dtype or (reference.dtype if reference is not None else torch.float32)
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(size, generator=generator).to(device=device, dtype=dtype),)


def profile(
    model: nn.Module,
    input_size: Sequence[int] | None = None,
    *,
    inputs: Tensor | tuple[Any, ...] | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, int]:
    """{"params": trainable and frozen parameters, "macs": MACs of one forward pass in eval mode}.

    ``input_size`` is (C, H, W) (batch 1, the convention of published tables) or (B, C, H, W); the input is random
    data of the model's dtype and device (or ``dtype``). Models with other inputs pass them ready-made as ``inputs``
    (a tensor or a tuple of positional arguments).
    """
    if (input_size is None) == (inputs is None):
        raise ValueError("pass exactly one of input_size (e.g. (3, 224, 224)) or inputs (ready-made model arguments)")
    if inputs is None:
        args = _example_inputs(model, input_size, dtype)
    else:
        args = inputs if isinstance(inputs, tuple) else (inputs,)
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_attention_formulas()) as counter:
            model(*args)
    finally:
        model.train(was_training)
    return {"params": params, "macs": counter.get_total_flops() // 2}
