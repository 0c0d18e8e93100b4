"""What each architecture exports as: the graphs (modules, example inputs, dynamic dimensions, input/output names) and
the check that runs an exported copy on a real batch against eager PyTorch.

Image classifiers are one graph `model`: images (B, C, H, W) -> logits (B, K), batch dynamic. FCCN's logits are
complex: `pt2` keeps them complex; `onnx` runs the real/imaginary-pair form (`fccn_pairs`) and returns
`scores` |z| (B, K) and `logits` (B, K, 2). The Transformer is two graphs, `encoder` and `decoder_step` (`seq2seq`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.export import Dim

from lit_vision.export import seq2seq


@dataclass
class Graph:
    name: str
    module: nn.Module
    inputs: tuple[Tensor, ...]
    dynamic_shapes: tuple[Any, ...]
    input_names: list[str]
    output_names: list[str]

    def __post_init__(self) -> None:
        self.module.eval()


class _Logits(nn.Module):
    """The LightningModule's forward (channels_last, FCCN's color model included) without Lightning around it."""

    def __init__(self, module: L.LightningModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, images: Tensor) -> Tensor:
        return self.module(images)


def is_seq2seq(module: L.LightningModule) -> bool:
    return hasattr(module, "net") and hasattr(module.net, "encode") and hasattr(module.net, "init_cache")


def freeze(module: L.LightningModule) -> L.LightningModule:
    """Evaluation mode without gradients (FCCN's complex convolution cannot be traced with grad-requiring weights)."""
    module.eval().requires_grad_(False)
    if hasattr(module, "_range_checked"):
        module._range_checked = True  # FCCN's one-time data-dependent input check is not part of the graph
    return module


def graphs(module: L.LightningModule, batch: Any, fmt: str) -> list[Graph]:
    """The graphs of `module` for format `fmt` ('onnx' or 'pt2'), traced with `batch` (at least 2 samples)."""
    freeze(module)
    batch_dim = Dim("batch", min=1, max=1 << 16)
    if is_seq2seq(module):
        net = module.net
        src_dim = Dim("src_len", min=1, max=net.max_len)
        encoder_inputs, step_inputs = seq2seq.example_inputs(net, batch["src"])
        cache, memory = {1: batch_dim}, {1: batch_dim, 3: src_dim}
        return [
            Graph(
                "encoder",
                seq2seq.Seq2SeqEncoder(net),
                encoder_inputs,
                ({0: batch_dim, 1: src_dim},),
                ["src"],
                list(seq2seq.ENCODER_OUTPUTS),
            ),
            Graph(
                "decoder_step",
                seq2seq.Seq2SeqDecoderStep(net),
                step_inputs,
                ({0: batch_dim}, None, cache, cache, memory, memory, {0: batch_dim, 1: src_dim}),
                list(seq2seq.DECODER_INPUTS),
                list(seq2seq.DECODER_OUTPUTS),
            ),
        ]
    images = batch[0]
    if type(module).__name__ == "FCCNClassifier" and getattr(module, "twin", "none") != "real" and fmt == "onnx":
        from lit_vision.export.fccn_pairs import FCCNPairs

        return [Graph("model", FCCNPairs(module), (images,), ({0: batch_dim},), ["images"], ["scores", "logits"])]
    return [Graph("model", _Logits(module), (images,), ({0: batch_dim},), ["images"], ["logits"])]


def _as_tuple(value: Any) -> tuple[Tensor, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def max_abs_diff(module: L.LightningModule, batch: Any, runners: dict[str, Callable[..., Any]], fmt: str) -> float:
    """Largest |exported - eager| over every output on `batch` and on its first sample alone (a second batch size).

    `runners` maps each graph name to a callable taking and returning torch tensors."""
    graph_list = graphs(module, batch, fmt)
    with torch.no_grad():
        if is_seq2seq(module):
            net = module.net
            src = batch["src"]
            ids = (net.bos_id, net.eos_id, net.pad_id)
            empty = seq2seq.Seq2SeqDecoderStep(net).empty_cache
            worst = 0.0
            for part in (src, src[:1]):
                reference = seq2seq.reference_logits(net, part)
                got = seq2seq.greedy_logits(
                    runners["encoder"], runners["decoder_step"], part, empty, reference.shape[1], ids
                )
                worst = max(worst, (got - reference).abs().max().item())
            return worst
        (graph,) = graph_list
        worst = 0.0
        for images in (batch[0], batch[0][:1]):
            expected = _as_tuple(graph.module(images))
            got = _as_tuple(runners["model"](images))
            for e, g in zip(expected, got, strict=True):
                e = torch.view_as_real(e) if e.is_complex() else e
                g = torch.view_as_real(g) if g.is_complex() else g
                worst = max(worst, (g - e).abs().max().item())
        return worst
