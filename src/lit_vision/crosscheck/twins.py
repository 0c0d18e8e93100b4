"""Each architecture's reference twin with the same weights, and how to feed, score and compare the two.

- ViT, Swin, ConvMixer: the timm model from `lit_vision.interop.to_timm`.
- Transformer: the network with its encoder–decoder core replaced by `torch.nn.Transformer`
  (`lit_vision.interop.torch_transformer.to_torch`); embeddings, positions and output projection are shared code.
- FCCN: the network with every `ComplexConv2d` (Gauss's 3-convolution trick, real weight pair) replaced by PyTorch's
  native complex convolution, `nn.Conv2d(dtype=torch.complex64)` holding W_r + iW_i; the rest is shared code.

Gradients of the twin are brought into our parameter layout by the same converters (`from_timm`, `from_torch`) applied
to a copy of the twin whose parameters hold its gradients.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from lit_vision.nn.complex.layers import ComplexConv2d


@dataclass
class Twins:
    ours: nn.Module
    twin: nn.Module
    reference: str  # what the twin is, for the table
    inputs: Callable[[Any], tuple[Tensor, ...]]  # batch -> network inputs
    loss: Callable[[Tensor, Any], Tensor]  # (network output, batch) -> scalar loss
    grads_as_ours: Callable[[nn.Module], dict[str, Tensor]]  # twin with .grad -> {our parameter name: gradient}
    samples: Callable[[Any], int]  # batch -> images / sequences in it


def _with_grads_as_values(model: nn.Module) -> nn.Module:
    holder = copy.deepcopy(model)
    grads = {name: p.grad for name, p in model.named_parameters()}
    with torch.no_grad():
        for name, p in holder.named_parameters():
            p.copy_(grads[name] if grads[name] is not None else torch.zeros_like(p))
    return holder


# --- timm families -----------------------------------------------------------------------------------------------


def _timm_twins(module: L.LightningModule) -> Twins:
    from lit_vision.interop import from_timm, to_timm

    ours = module.net
    twin = to_timm(ours)

    def grads(twin: nn.Module) -> dict[str, Tensor]:
        return dict(from_timm(_with_grads_as_values(twin)).state_dict())

    return Twins(
        ours,
        twin,
        f"timm {type(twin).__module__}.{type(twin).__name__}",
        inputs=lambda batch: (batch[0],),
        loss=lambda output, batch: module.compute_loss(output, batch[1])[0],
        grads_as_ours=grads,
        samples=lambda batch: len(batch[0]),
    )


# --- Transformer ---------------------------------------------------------------------------------------------------


class TorchTransformerCore(nn.Module):
    """`torch.nn.Transformer` behind the `encode` / `decode` calls `Seq2SeqTransformer` makes (no KV cache)."""

    def __init__(self, torch_transformer: nn.Transformer) -> None:
        super().__init__()
        self.torch = torch_transformer

    def encode(self, src, src_mask=None, src_key_padding_mask=None, src_is_causal=None) -> Tensor:
        return self.torch.encoder(src, src_mask, src_key_padding_mask)

    def decode(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
               memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, cache=None) -> Tensor:  # fmt: skip
        if cache is not None:
            raise ValueError("the torch.nn.Transformer twin decodes without a KV cache")
        if tgt_is_causal and tgt_mask is None:
            tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=tgt.device, dtype=tgt.dtype)
        return self.torch.decoder(
            tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, bool(tgt_is_causal)
        )


def _seq2seq_twins(module: L.LightningModule) -> Twins:
    from lit_vision.interop.torch_transformer import from_torch, to_torch

    ours = module.net
    twin = copy.deepcopy(ours)
    twin.transformer = TorchTransformerCore(to_torch(ours.transformer))

    def grads(twin: nn.Module) -> dict[str, Tensor]:
        core = _with_grads_as_values(twin.transformer.torch)
        out = {f"transformer.{k}": v for k, v in from_torch(core).state_dict().items()}
        for name, p in twin.named_parameters():
            if not name.startswith("transformer."):
                out[name] = p.grad if p.grad is not None else torch.zeros_like(p)
        return out

    return Twins(
        ours,
        twin,
        "torch.nn.Transformer (encoder-decoder core; embeddings and output projection shared)",
        inputs=lambda batch: (batch["src"], batch["tgt"][:, :-1]),
        loss=lambda output, batch: module.compute_loss(output, batch["tgt"][:, 1:]),
        grads_as_ours=grads,
        samples=lambda batch: len(batch["src"]),
    )


# --- FCCN ----------------------------------------------------------------------------------------------------------


def native_complex_conv(layer: ComplexConv2d) -> nn.Conv2d:
    """`nn.Conv2d(dtype=torch.complex64)` with weight W_r + iW_i and the layer's complex bias."""
    conv = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        bias=layer.bias_real is not None,
        dtype=torch.complex64,
        device=layer.weight_real.device,
    )
    with torch.no_grad():
        conv.weight.copy_(layer.complex_weight())
        if conv.bias is not None:
            conv.bias.copy_(layer.complex_bias())
    return conv


def _replace_complex_convs(net: nn.Module) -> nn.Module:
    twin = copy.deepcopy(net)
    for name, child in list(twin.named_modules()):
        if isinstance(child, ComplexConv2d):
            parent_name, _, leaf = name.rpartition(".")
            parent = twin.get_submodule(parent_name) if parent_name else twin
            setattr(parent, leaf, native_complex_conv(child))
    return twin


def _fccn_twins(module: L.LightningModule) -> Twins:
    ours = module.net
    twin = _replace_complex_convs(ours)
    conv_names = {name for name, m in ours.named_modules() if isinstance(m, ComplexConv2d)}

    def grads(twin: nn.Module) -> dict[str, Tensor]:
        out = {}
        for name, p in twin.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            owner, _, leaf = name.rpartition(".")
            if owner not in conv_names:
                out[name] = g
            elif leaf == "weight":  # PyTorch's complex gradient is dL/dRe + i dL/dIm
                out[f"{owner}.weight_real"], out[f"{owner}.weight_imag"] = g.real, g.imag
            else:  # bias c = (b_r - b_i) + i(b_r + b_i): dL/db_r = Re g + Im g, dL/db_i = Im g - Re g
                out[f"{owner}.bias_real"], out[f"{owner}.bias_imag"] = g.real + g.imag, g.imag - g.real
        return out

    return Twins(
        ours,
        twin,
        "PyTorch's native complex convolution (nn.Conv2d, complex64) in place of every ComplexConv2d",
        inputs=lambda batch: (module.to_complex(batch[0]),),
        loss=lambda output, batch: module.compute_loss(output, batch[1])[0],
        grads_as_ours=grads,
        samples=lambda batch: len(batch[0]),
    )


def make_twins(module: L.LightningModule) -> Twins:
    """Our network of `module` and its reference twin with the same weights."""
    name = type(getattr(module, "net", None)).__name__
    if hasattr(module, "net") and hasattr(module.net, "init_cache"):
        return _seq2seq_twins(module)
    if name in ("VisionTransformer", "SwinTransformer", "ConvMixer"):
        return _timm_twins(module)
    if any(isinstance(m, ComplexConv2d) for m in getattr(module, "net", nn.Identity()).modules()):
        return _fccn_twins(module)
    raise ValueError(
        f"crosscheck has no reference twin for {type(module).__name__} ({name}); it supports ViT, Swin, ConvMixer "
        "(timm), the Transformer (torch.nn.Transformer) and FCCN (PyTorch's complex convolution)"
    )
