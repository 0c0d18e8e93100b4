"""`--format pt2`: each graph as a `torch.export` ExportedProgram (`<graph>.pt2`, `torch.export.save`), reloaded with
`torch.export.load` and compared to eager PyTorch on a real batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from lit_vision.export.graphs import graphs, max_abs_diff


def export_pt2(module: L.LightningModule, batch: Any, directory: Path) -> dict[str, Any]:
    files = {}
    for graph in graphs(module, batch, "pt2"):
        with torch.no_grad():
            graph.module(*graph.inputs)  # eager first: fills caches built from concrete sizes (Swin's token orders)
            program = torch.export.export(graph.module, graph.inputs, dynamic_shapes=graph.dynamic_shapes)
        path = directory / f"{graph.name}.pt2"
        torch.export.save(program, path)
        files[graph.name] = path
    loaded = {name: torch.export.load(path).module() for name, path in files.items()}
    return {
        "files": [path.name for path in files.values()],
        "max_abs_diff": max_abs_diff(module, batch, loaded, "pt2"),
        "runtime": f"torch {torch.__version__.split('+')[0]} (torch.export.load)",
    }
