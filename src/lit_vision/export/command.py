"""`lit-vision export`: a config's model (weights from `--ckpt_path`) as ONNX, torch.export (pt2) or a timm local-dir,
checked on a real batch of the config's data, with `preprocessing.json` beside it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lit_vision.export import preprocessing
from lit_vision.export.configured import build, real_batch
from lit_vision.export.graphs import is_seq2seq

TOLERANCE = 1e-4  # fp32, exported vs eager
FORMATS = ("onnx", "pt2", "timm")

DESCRIPTION = """Export a model for serving and check the export on a real batch of the config's test split.

  onnx  torch.onnx.export (dynamo exporter, opset 18), dynamic batch, run with onnxruntime. Image classifiers:
        model.onnx, images -> logits (FCCN: -> scores |z| and logits as real/imaginary pairs). Transformer:
        encoder.onnx (src -> cross-attention keys/values, padding mask) and decoder_step.onnx (one token + KV cache).
  pt2   torch.export ExportedPrograms (model.pt2, or encoder.pt2 + decoder_step.pt2), saved, reloaded, compared.
  timm  config.json + model.safetensors in timm's local-dir layout (ViT, Swin, ConvMixer):
        timm.create_model("local-dir:OUTPUT", pretrained=True) loads it.

Every export writes OUTPUT/preprocessing.json (input size, mean/std, class names or vocabularies). The command fails
when exported and eager outputs differ by more than 1e-4 (fp32). Further --model.* / --data.* arguments override the
configs as in `lit-vision fit`."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lit-vision export", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", action="append", required=True, help="YAML config, repeatable (stacked as in fit)")
    p.add_argument("--ckpt_path", help="checkpoint written by `lit-vision fit` (default: the config's initial weights)")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx, pt2 or timm")
    p.add_argument("--output", required=True, help="directory to write the export and preprocessing.json into")
    p.add_argument("--batch_size", type=int, default=8, help="test images the export is traced and checked with (>= 2)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (onnx only)")
    return p


def export(args: argparse.Namespace, overrides: list[str]) -> int:
    if args.batch_size < 2:
        raise ValueError(f"--batch_size {args.batch_size} must be >= 2 (a batch of 1 would fix the batch dimension)")
    configured = build(args.config, overrides, args.ckpt_path)
    module, datamodule = configured.module, configured.datamodule
    if args.format == "timm":
        from lit_vision.export.timm_dir import check_family

        if is_seq2seq(module) or not hasattr(module, "net"):
            raise ValueError(f"--format timm needs a ViT, Swin or ConvMixer config, not {type(module).__name__}")
        check_family(module.net)
    batch = real_batch(datamodule, args.batch_size)
    info = preprocessing.describe(module, datamodule)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if args.format == "onnx":
        from lit_vision.export.onnx import export_onnx

        report = export_onnx(module, batch, output, opset=args.opset)
    elif args.format == "pt2":
        from lit_vision.export.pt2 import export_pt2

        report = export_pt2(module, batch, output)
    else:
        from lit_vision.export.timm_dir import export_timm

        report = export_timm(module, batch, output, info)
    diff = report["max_abs_diff"]
    extra = {"format": args.format, "files": report["files"], "max_abs_diff": diff}
    if "opset" in report:
        extra["opset"] = report["opset"]
    written = preprocessing.write(output, info, **extra)
    files = ", ".join(str(output / name) for name in report["files"])
    opset = f" (opset {report['opset']})" if "opset" in report else ""
    print(f"lit-vision export: wrote {files}{opset} and {written}")
    samples = len(batch["src"]) if isinstance(batch, dict) else len(batch[0])
    verdict = "ok" if diff <= TOLERANCE else "FAILED"
    print(
        f"checked with {report['runtime']} on {samples} test samples and on 1: max abs diff {diff:.3e} "
        f"(tolerance {TOLERANCE:.0e}) {verdict}"
    )
    if diff > TOLERANCE:
        print(
            f"lit-vision: error: the {args.format} export differs from eager PyTorch by {diff:.3e} > {TOLERANCE:.0e}",
            file=sys.stderr,
        )
        return 1
    return 0


def run(argv: list[str]) -> int:
    args, overrides = parser().parse_known_args(argv)
    try:
        return export(args, overrides)
    except (ValueError, FileNotFoundError, NotImplementedError) as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
