"""Throughput of lit_vision networks against their timm twins: train-step and inference images per second.

Each case builds the timm model and converts it with ``lit_vision.interop.timm.from_timm``, so both run the same
architecture with the same weights. Both models live in one process; after a warm-up the two are timed in interleaved
repeats (alternating which goes first) and the median of the repeats is reported, which keeps a shared, noisy machine
from favouring either side. A train step is forward + cross-entropy + backward + AdamW step (same optimizer settings for
both); inference is a forward pass under ``torch.inference_mode``. ``--dtype bf16`` runs both under autocast.

    python benchmarks/throughput.py --cases vit_s16 vit_digits --repeats 5
    python benchmarks/throughput.py --device cuda --dtype bf16 --channels-last

Prints a markdown table (ratio = ours / timm, > 1 means ours is faster) followed by the machine and versions.
"% of peak" is the share of the machine's measured GEMM peak (``benchmarks/peak.py``, measured at start unless
``--peak`` gives it) that a row reaches: model FLOPs per image (2 x the MACs of ``lit_vision.interop.profile``, x 3
for a train step: forward + backward) x images/s / peak.
"""

from __future__ import annotations

import argparse
import contextlib
import copy as copy_module
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Case:
    """One benchmark row: ``build_timm`` makes the reference network; ours is converted from it."""

    name: str
    description: str
    build_timm: Callable[[], nn.Module]
    batch_size: int
    img_size: int
    in_chans: int = 3
    num_classes: int = 1000
    needs: str = ""  # lit_vision module the conversion imports (the row is skipped with a note when it is missing)


def _timm_model(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False, **kwargs)

    return build


def _timm_class(path: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import importlib

        module_name, class_name = path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)(**kwargs)

    return build


DIGITS = dict(in_chans=1, num_classes=10)
CASES: dict[str, Case] = {
    case.name: case
    for case in [
        Case(
            "vit_s16",
            "vit_small_patch16_224 @224",
            _timm_model("vit_small_patch16_224"),
            32,
            224,
            needs="lit_vision.nn.vit",
        ),
        Case(
            "vit_b16",
            "vit_base_patch16_224 @224",
            _timm_model("vit_base_patch16_224"),
            32,
            224,
            needs="lit_vision.nn.vit",
        ),
        Case(
            "vit_digits",
            "ViT dim 64 depth 4 heads 4 patch 4 avg-pool @16 (configs/vit.yaml)",
            _timm_class(
                "timm.models.vision_transformer.VisionTransformer",
                img_size=16,
                patch_size=4,
                embed_dim=64,
                depth=4,
                num_heads=4,
                global_pool="avg",
                class_token=False,
                **DIGITS,
            ),
            32,
            16,
            **DIGITS,
            needs="lit_vision.nn.vit",
        ),
        Case(
            "swin_t",
            "swin_tiny_patch4_window7_224 @224",
            _timm_model("swin_tiny_patch4_window7_224"),
            32,
            224,
            needs="lit_vision.nn.swin",
        ),
        Case(
            "swin_digits",
            "Swin patch 2 window 4 dim 48 depths (2, 2) heads (3, 6) MLP ratio 2 @16 (configs/swin.yaml)",
            _timm_class(
                "timm.models.swin_transformer.SwinTransformer",
                img_size=16,
                patch_size=2,
                window_size=4,
                embed_dim=48,
                depths=(2, 2),
                num_heads=(3, 6),
                mlp_ratio=2.0,
                **DIGITS,
            ),
            128,
            16,
            **DIGITS,
            needs="lit_vision.nn.swin",
        ),
        Case(
            "convmixer_768_32",
            "convmixer_768_32 @224",
            _timm_model("convmixer_768_32"),
            8,
            224,
            needs="lit_vision.nn.convmixer",
        ),
        Case(
            "convmixer_digits",
            "ConvMixer dim 64 depth 4 kernel 3 patch 1 @8 (configs/convmixer.yaml)",
            _timm_class(
                "timm.models.convmixer.ConvMixer",
                dim=64,
                depth=4,
                kernel_size=3,
                patch_size=1,
                **DIGITS,
            ),
            64,
            8,
            **DIGITS,
            needs="lit_vision.nn.convmixer",
        ),
    ]
}
DEFAULT_CASES = list(CASES)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Runner:
    """Runs one model's train steps or inference passes on a fixed batch."""

    def __init__(self, model: nn.Module, case: Case, args: argparse.Namespace, mode: str):
        self.device = torch.device(args.device)
        self.dtype = args.dtype
        self.mode = mode
        memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=memory_format)
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(case.batch_size, case.in_chans, case.img_size, case.img_size, generator=generator)
        self.images = images.to(self.device, memory_format=memory_format)
        self.labels = torch.randint(0, case.num_classes, (case.batch_size,), generator=generator).to(self.device)
        if mode == "train":
            self.model.train()
            fused = {"fused": True} if args.fused_adamw else {}
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.05, **fused)
        else:
            self.model.eval()

    def step(self) -> None:
        if self.mode == "train":
            with autocast(self.device, self.dtype):
                loss = F.cross_entropy(self.model(self.images), self.labels)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode(), autocast(self.device, self.dtype):
                self.model(self.images)

    def time(self, steps: int) -> float:
        """Seconds for ``steps`` consecutive steps."""
        synchronize(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        synchronize(self.device)
        return time.perf_counter() - start


def layer_by_layer(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with the chunked CPU kernels off (``chunked = False`` on every layer that has them)."""
    from lit_vision.nn.chunked import set_chunked

    return set_chunked(copy_module.deepcopy(model), False)


def measure(case: Case, models: dict[str, nn.Module], mode: str, args: argparse.Namespace) -> dict:
    """Images/s of each model (median of interleaved repeats) and each one's ratio to ``timm``."""
    runners = {name: Runner(model, case, args, mode) for name, model in models.items()}
    for runner in runners.values():  # warm-up: kernels, allocator, autotuning, optimizer state
        runner.time(args.warmup)
    # steps per timed repeat: enough for about --min-seconds on the slower model
    per_step = max(runner.time(1) for runner in runners.values())
    steps = max(1, min(args.max_steps, round(args.min_seconds / max(per_step, 1e-6))))
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(args.repeats):
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            rates[name].append(steps * case.batch_size / runners[name].time(steps))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return dict(medians, ratio={name: rate / medians["timm"] for name, rate in medians.items()}, steps=steps)


def flops_per_image(model: nn.Module, case: Case, mode: str) -> float:
    """Forward FLOPs of one image (2 per MAC), x 3 for a train step (the backward pass costs about twice the forward)."""
    from lit_vision.interop.profile import profile

    macs = profile(model, (case.in_chans, case.img_size, case.img_size))["macs"]
    return 2 * macs * (3 if mode == "train" else 1)


def build_pair(case: Case) -> tuple[nn.Module, nn.Module]:
    """timm reference and our network converted from it (same weights)."""
    from lit_vision.interop.timm import from_timm

    torch.manual_seed(0)
    theirs = case.build_timm()
    return from_timm(theirs), theirs


def machine_info(args: argparse.Namespace) -> list[str]:
    import timm

    device = torch.device(args.device)
    if device.type == "cuda":
        accelerator = torch.cuda.get_device_name(device)
    else:
        accelerator = f"CPU, {torch.get_num_threads()} threads"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return [
        f"- device: {accelerator}; host CPU: {cpu}; {platform.system()} {platform.release()}",
        f"- python {platform.python_version()}, torch {torch.__version__}, timm {timm.__version__}",
        f"- dtype {args.dtype}, channels_last={args.channels_last}, fused AdamW={args.fused_adamw}, "
        f"repeats {args.repeats} (median), warm-up {args.warmup} steps; GEMM peak {args.peak:.1f} GFLOP/s",
        f"- command: `python {' '.join(sys.argv)}`",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=DEFAULT_CASES,
        choices=list(CASES),
        metavar="CASE",
        help=f"rows to run (default: all): {', '.join(CASES)}",
    )
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per model (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model before timing")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="target duration of one timed repeat")
    parser.add_argument("--max-steps", type=int, default=50, help="cap on steps per timed repeat")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true", help="channels-last images and weights")
    parser.add_argument("--fused-adamw", action="store_true", help="fused AdamW for both models")
    parser.add_argument(
        "--layer-by-layer",
        action="store_true",
        help="also time our model with the chunked CPU kernels off (chunked=False), in the same interleaved run",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--peak", type=float, default=None, help="GEMM peak in GFLOP/s (default: measured at start)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 1:
        parser.error(f"--repeats={args.repeats} and --warmup={args.warmup} must be >= 1")
    return args


def set_up_device(args: argparse.Namespace) -> None:
    """`--threads` and, on CUDA, TF32 matmuls (timm's train script default), for every benchmark built on this one."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_up_device(args)
    if args.peak is None:
        from peak import peak_gflops  # benchmarks/peak.py, next to this script

        args.peak = peak_gflops(args.device, "bf16" if args.dtype == "bf16" else "fp32")
    rows = ["| case | mode | batch | ours img/s | timm img/s | ours / timm | ours % of peak | timm % of peak |"]
    rows.append("|---|---|---|---|---|---|---|---|")
    notes = []
    for name in args.cases:
        case = CASES[name]
        try:
            ours, theirs = build_pair(case)
        except ImportError as error:  # e.g. a family whose lit_vision module is not written yet
            notes.append(f"- {name}: skipped ({case.needs or 'lit_vision module'} unavailable: {error})")
            continue
        models = {"ours": ours, "timm": theirs}
        if args.layer_by_layer:
            models["ours, layer by layer"] = layer_by_layer(ours)
        for mode in args.modes:
            result = measure(case, models, mode, args)
            flops = flops_per_image(ours, case, mode)
            share = {name: 100 * result[name] * flops / (args.peak * 1e9) for name in models}
            for name in (name for name in models if name != "timm"):
                label = case.description + ("" if name == "ours" else f" ({name})")
                rows.append(
                    f"| {label} | {mode} | {case.batch_size} | {result[name]:.1f} | {result['timm']:.1f} "
                    f"| {result['ratio'][name]:.2f}x | {share[name]:.0f} % | {share['timm']:.0f} % |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
        del ours, theirs
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print("\n".join(rows + [""] + machine_info(args) + notes))


if __name__ == "__main__":
    main()
