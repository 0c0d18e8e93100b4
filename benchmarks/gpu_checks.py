"""GPU checks, run wherever CUDA is present; without CUDA they print why and exit 0.

1. ``bf16``: the digits ConvMixer config trained through ``lit-vision fit`` in bf16-mixed reaches the test accuracy of
   float32 within ``--tolerance`` (same seed, same recipe).
2. ``mfu``: ImageNet-shaped training steps (3x224x224, 1000 classes, synthetic batches) of ConvMixer-768/32, ViT-S/16
   and Swin-T in bf16-mixed through Lightning's Trainer: step time, images/s, peak memory, and model FLOPs
   utilization MFU = training FLOPs of one step (forward + backward, counted by ``FlopCounterMode``) / (step time x
   the GPU's peak dense bf16 FLOP/s, from the table below or ``--peak-tflops``).
3. ``ddp``: with more than one GPU, configs/trainer/ddp_bf16.yaml on every GPU (same global batch) reaches the test
   accuracy of one GPU within ``--tolerance``.

    python benchmarks/gpu_checks.py                          # all checks; prints markdown rows for BENCHMARKS.md
    python benchmarks/gpu_checks.py --only mfu --batch-size 256 --steps 30 --peak-tflops 989
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
LIT_VISION = str(Path(sys.executable).with_name("lit-vision"))

# peak dense bfloat16 tensor-core FLOP/s (no sparsity), by a substring of torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = {
    "H200": 989.4,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 989.4,  # SXM
    "GH200": 989.4,
    "A100": 312.0,
    "L40S": 362.1,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "RTX 4090": 165.2,
}

CSV_LOGGER = """
trainer:
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {save_dir: logs, name: run}
"""


def peak_tflops(override: float | None) -> float | None:
    if override:
        return override
    name = torch.cuda.get_device_name()
    return next((value for key, value in PEAK_BF16_TFLOPS.items() if key in name), None)


# --- 1 and 3: lit-vision fit on the digits config --------------------------------------------------------------------
def fit_digits(extra: list[str], epochs: int) -> tuple[float, float]:
    """(test accuracy, seconds) of `lit-vision fit` on configs/convmixer.yaml in a fresh directory."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "csv.yaml").write_text(CSV_LOGGER)
        command = [LIT_VISION, "fit", "--config", str(ROOT / "configs/convmixer.yaml"), "--config", "csv.yaml"]
        command += ["--trainer.accelerator", "gpu", "--trainer.max_epochs", str(epochs)]
        command += ["--trainer.enable_progress_bar", "false", *extra]
        env = {**os.environ, "WANDB_MODE": "offline"}
        start = time.perf_counter()
        result = subprocess.run(command, cwd=directory, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
        with Path(directory, "logs/run/version_0/metrics.csv").open() as file:
            rows = list(csv.DictReader(file))
        test = [float(row["test/acc"]) for row in rows if row.get("test/acc")]
        return test[-1], seconds


def check_bf16(args) -> list[str]:
    fp32, fp32_s = fit_digits(["--trainer.precision", "32-true", "--trainer.devices", "1"], args.epochs)
    bf16, bf16_s = fit_digits(["--trainer.precision", "bf16-mixed", "--trainer.devices", "1"], args.epochs)
    verdict = "ok" if abs(bf16 - fp32) <= args.tolerance else f"FAIL (> {args.tolerance})"
    return [
        "| check | precision | devices | test/acc | time (s) | verdict |",
        "|---|---|---|---|---|---|",
        f"| digits ConvMixer, {args.epochs} epochs | 32-true | 1 | {fp32:.4f} | {fp32_s:.0f} | reference |",
        f"| digits ConvMixer, {args.epochs} epochs | bf16-mixed | 1 | {bf16:.4f} | {bf16_s:.0f} | {verdict} |",
    ]


def check_ddp(args) -> list[str]:
    count = torch.cuda.device_count()
    if count < 2:
        return [f"ddp: skipped, {count} GPU visible (needs 2 or more)"]
    batch = 64
    one, one_s = fit_digits(["--trainer.precision", "bf16-mixed", "--trainer.devices", "1"], args.epochs)
    ddp = ["--config", str(ROOT / "configs/trainer/ddp_bf16.yaml"), "--trainer.devices", str(count)]
    many, many_s = fit_digits([*ddp, "--data.init_args.batch_size", str(max(1, batch // count))], args.epochs)
    verdict = "ok" if abs(many - one) <= args.tolerance else f"FAIL (> {args.tolerance})"
    return [
        "| check | precision | devices | test/acc | time (s) | verdict |",
        "|---|---|---|---|---|---|",
        f"| digits ConvMixer, global batch {batch} | bf16-mixed | 1 | {one:.4f} | {one_s:.0f} | reference |",
        f"| digits ConvMixer, global batch {batch} | bf16-mixed DDP | {count} | {many:.4f} | {many_s:.0f} | {verdict} |",
    ]


# --- 2: MFU of ImageNet-shaped training steps ------------------------------------------------------------------------
def imagenet_models() -> dict[str, Callable[[], Any]]:
    def convmixer():
        from lit_vision.models.convmixer import ConvMixerClassifier

        return ConvMixerClassifier(dim=768, depth=32, kernel_size=7, patch_size=7, num_classes=1000, image_size=224)

    def vit_s16():
        from lit_vision.models.vit import ViTClassifier

        return ViTClassifier(patch_size=16, embed_dim=384, depth=12, num_heads=6, num_classes=1000, image_size=224)

    def swin_t():
        from lit_vision.models.swin import SwinClassifier

        return SwinClassifier(num_classes=1000, image_size=224)

    return {"convmixer_768_32": convmixer, "vit_s16": vit_s16, "swin_t": swin_t}


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def training_flops(module, batch_size: int, device: str = "cuda") -> int:
    """FLOPs of forward + loss + backward for one batch (optimizer update excluded, as MFU conventions do)."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    images = torch.randn(batch_size, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch_size,), device=device)
    with FlopCounterMode(display=False) as counter, torch.autocast(device, dtype=torch.bfloat16):
        F.cross_entropy(module(images), labels).backward()
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def time_training(module, batch_size: int, warmup: int, steps: int, device: str = "cuda") -> tuple[float, float]:
    """(seconds per step, peak GiB) of Lightning bf16-mixed training on a synthetic batch already on the device."""
    import lightning as L
    from torch.utils.data import DataLoader, Dataset

    class SameBatch(Dataset):
        def __init__(self, length: int) -> None:
            self.length = length
            self.images = torch.randn(batch_size, 3, 224, 224, device=device)
            self.labels = torch.randint(0, 1000, (batch_size,), device=device)

        def __len__(self) -> int:
            return self.length

        def __getitem__(self, index: int):
            return self.images, self.labels

    class StepTimer(L.Callback):
        def __init__(self) -> None:
            self.start = self.end = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == warmup:
                synchronize(device)
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == warmup + steps - 1:
                synchronize(device)
                self.end = time.perf_counter()

    timer = StepTimer()
    loader = DataLoader(SameBatch(warmup + steps), batch_size=None)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed",
        max_steps=warmup + steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, train_dataloaders=loader)
    memory = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return (timer.end - timer.start) / steps, memory


def check_mfu(args) -> list[str]:
    device = args.device
    peak = peak_tflops(args.peak_tflops) if device == "cuda" else args.peak_tflops
    rows = [
        f"| model | batch | step (ms) | img/s | train TFLOP/step | achieved TFLOP/s | MFU (peak {peak or '?'} TFLOP/s) "
        "| peak memory (GiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, build in imagenet_models().items():
        if args.models and name not in args.models:
            continue
        try:
            module = build().to(device)
        except ImportError as error:
            rows.append(f"| {name} | skipped: {error} |")
            continue
        flops = training_flops(module.net, args.batch_size, device)
        step_s, memory = time_training(module, args.batch_size, args.warmup, args.steps, device)
        achieved = flops / step_s / 1e12
        mfu = f"{100 * achieved / peak:.1f} %" if peak else "?"
        rows.append(
            f"| {name} | {args.batch_size} | {1000 * step_s:.1f} | {args.batch_size / step_s:.0f} | {flops / 1e12:.2f} "
            f"| {achieved:.0f} | {mfu} | {memory:.1f} |"
        )
        del module
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["bf16", "mfu", "ddp"], nargs="*", help="run only these checks")
    parser.add_argument("--epochs", type=int, default=10, help="digits epochs of the bf16 and ddp checks")
    parser.add_argument("--tolerance", type=float, default=0.02, help="allowed test accuracy difference")
    parser.add_argument("--models", nargs="*", help="subset of convmixer_768_32 vit_s16 swin_t")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's peak dense bf16 TFLOP/s if not in the table")
    parser.add_argument("--device", default="cuda", help="`cpu` only smoke-tests the MFU code path (--only mfu)")
    args = parser.parse_args(argv)

    if args.device == "cpu":
        print("\n".join(check_mfu(args)))
        return 0
    if not torch.cuda.is_available():
        print(
            "gpu_checks: no CUDA device here (torch.cuda.is_available() is False); skipping the bf16, MFU and DDP checks"
        )
        return 0
    checks = {"bf16": check_bf16, "mfu": check_mfu, "ddp": check_ddp}
    failed = False
    for name, check in checks.items():
        if args.only and name not in args.only:
            continue
        print(f"\n### {name}\n")
        rows = check(args)
        failed |= any("FAIL" in row for row in rows)
        print("\n".join(rows), flush=True)
    device = torch.cuda.get_device_name()
    print(
        f"\n{torch.cuda.device_count()} x {device}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"Python {platform.python_version()}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
