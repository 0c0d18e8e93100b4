"""`--format onnx`: each graph through the dynamo exporter (`torch.onnx.export(..., dynamo=True)`) at a stated opset,
batch (and source length) dynamic, then run with onnxruntime on a real batch and compared to eager PyTorch."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lit_vision.export.graphs import graphs, max_abs_diff

OPSET = 18


@contextlib.contextmanager
def attention_in_4d():
    """While exporting: scaled_dot_product_attention on inputs with more than 4 dims (Swin's (B, windows, heads, N, D))
    runs on the leading dims flattened into one, since the ONNX translation of the op takes 4-D inputs only."""
    original = F.scaled_dot_product_attention

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
        if query.ndim <= 4:
            return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, **kwargs)
        lead, length = query.shape[:-3], key.shape[-2]
        if attn_mask is not None:
            attn_mask = attn_mask.expand(*query.shape[:-1], length).reshape(-1, *query.shape[-3:-1], length)
        out = original(
            *(t.reshape(-1, *t.shape[-3:]) for t in (query, key, value)),
            attn_mask=attn_mask,
            dropout_p=dropout_p,
            is_causal=is_causal,
            **kwargs,
        )
        return out.reshape(*lead, *out.shape[-3:])

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def _session(path: Path, input_names: list[str]):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(*inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feed = {name: tensor.numpy() for name, tensor in zip(input_names, inputs, strict=True)}
        return tuple(torch.from_numpy(out) for out in session.run(None, feed))

    return run


def export_onnx(module: L.LightningModule, batch: Any, directory: Path, opset: int = OPSET) -> dict[str, Any]:
    try:
        import onnxruntime
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as error:
        raise ValueError(f"--format onnx needs {error.name}: pip install onnx onnxscript onnxruntime") from None
    runners = {}
    for graph in graphs(module, batch, "onnx"):
        path = directory / f"{graph.name}.onnx"
        with torch.no_grad(), attention_in_4d(), contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            graph.module(*graph.inputs)  # eager first: fills caches built from concrete sizes (Swin's token orders)
            torch.onnx.export(
                graph.module,
                graph.inputs,
                str(path),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=graph.dynamic_shapes,
                input_names=graph.input_names,
                output_names=graph.output_names,
                external_data=False,
            )
        runners[graph.name] = _session(path, graph.input_names)
    return {
        "files": [f"{name}.onnx" for name in runners],
        "opset": opset,
        "max_abs_diff": max_abs_diff(module, batch, runners, "onnx"),
        "runtime": f"onnxruntime {onnxruntime.__version__}",
    }
