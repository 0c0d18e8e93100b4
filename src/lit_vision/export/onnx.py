"""`--format onnx`: each graph through the dynamo exporter (`torch.onnx.export(..., dynamo=True)`) at a stated opset,
batch (and source length) dynamic, then run with onnxruntime on a real batch and compared to eager PyTorch."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lit_vision.export.graphs import graphs, max_abs_diff

OPSET = 18


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
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
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
