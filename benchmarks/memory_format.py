"""ConvMixer train step in both memory formats, ours against timm, all variants interleaved in one run.

Four variants per case, each with its own copy of the same weights: ours NCHW, ours NHWC (channels_last, the default of
``ConvMixerClassifier``), timm NCHW (timm's default pipeline: ``train.py`` without ``--channels-last``) and timm NHWC.
A train step is forward + cross-entropy + backward + AdamW step. After a warm-up, every repeat times each variant for
the same number of steps, rotating which goes first, and the median images/s of the repeats is reported with the
ratio to timm NCHW. FCCN is not here: its complex convolutions split real and imaginary parts into contiguous NCHW
tensors, so channels_last does not reach them.

    python benchmarks/memory_format.py --threads 2
    python benchmarks/memory_format.py --cases convmixer_768_32 --depth 4 --repeats 3   # per-block cost, quicker

On CPU, timm's NCHW depthwise convolution is the bottleneck: oneDNN computes its weight gradient with im2col + GEMM
per group (``x64:gemm:jit`` in ``ONEDNN_VERBOSE=1``) and reorders to a blocked layout around every call, while the
channels_last kernels (``jit:avx512_core`` / ``brdgmm_dw``) work in place.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

CL = torch.channels_last


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    timm_kwargs: dict
    batch_size: int
    img_size: int
    in_chans: int
    num_classes: int


CASES = {
    case.name: case
    for case in [
        Case(
            "convmixer_768_32",
            "convmixer_768_32 @224 (configs/imagenet/convmixer_768_32.yaml)",
            dict(dim=768, depth=32, kernel_size=7, patch_size=7, act_layer=nn.ReLU),
            8,
            224,
            3,
            1000,
        ),
        Case(
            "convmixer_256_8",
            "ConvMixer-256/8 kernel 5 patch 2 @32 (configs/cifar10/convmixer_256_8.yaml)",
            dict(dim=256, depth=8, kernel_size=5, patch_size=2),
            64,
            32,
            3,
            10,
        ),
        Case(
            "convmixer_digits",
            "ConvMixer dim 64 depth 4 kernel 3 patch 1 @8 (configs/convmixer.yaml)",
            dict(dim=64, depth=4, kernel_size=3, patch_size=1),
            64,
            8,
            1,
            10,
        ),
    ]
}


class Variant:
    """One network in one memory format with its own AdamW, on a fixed batch."""

    def __init__(self, net: nn.Module, memory_format: torch.memory_format, images: torch.Tensor, labels: torch.Tensor):
        self.net = net.to(memory_format=memory_format).train()
        self.images = images.contiguous(memory_format=memory_format)
        self.labels = labels
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=1e-4, weight_decay=0.05)

    def time(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(self.net(self.images), self.labels)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start


def convmixer_variants(case: Case, depth: int | None) -> dict[str, Callable[[], nn.Module]]:
    from timm.models.convmixer import ConvMixer as TimmConvMixer

    from lit_vision.interop.timm import from_timm

    torch.manual_seed(0)
    kwargs = {**case.timm_kwargs, **({"depth": depth} if depth else {})}
    theirs = TimmConvMixer(in_chans=case.in_chans, num_classes=case.num_classes, **kwargs)
    ours = from_timm(theirs)
    return {
        "ours NCHW": (copy.deepcopy(ours), torch.contiguous_format),
        "ours NHWC": (ours, CL),
        "timm NCHW": (copy.deepcopy(theirs), torch.contiguous_format),
        "timm NHWC": (theirs, CL),
    }


def measure(case: Case, args: argparse.Namespace) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(case.batch_size, case.in_chans, case.img_size, case.img_size, generator=generator)
    labels = torch.randint(0, case.num_classes, (case.batch_size,), generator=generator)
    variants = {
        name: Variant(net, fmt, images, labels) for name, (net, fmt) in convmixer_variants(case, args.depth).items()
    }
    for variant in variants.values():
        variant.time(args.warmup)
    slowest = max(variant.time(1) for variant in variants.values())
    steps = max(1, min(args.max_steps, round(args.min_seconds / max(slowest, 1e-6))))
    rates: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(args.repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            rates[name].append(steps * case.batch_size / variants[name].time(steps))
    return {name: statistics.median(values) for name, values in rates.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE")
    parser.add_argument("--depth", type=int, default=None, help="override the number of blocks (quicker runs)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant before timing")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="target duration of one timed repeat")
    parser.add_argument("--max-steps", type=int, default=50, help="cap on steps per timed repeat")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 1 or (args.depth is not None and args.depth < 1):
        parser.error(f"--repeats={args.repeats}, --warmup={args.warmup} and --depth={args.depth} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from lit_vision.models.convmixer import ConvMixerClassifier

    default = inspect.signature(ConvMixerClassifier).parameters["channels_last"].default
    rows = [
        "| case | batch | ours NCHW | ours NHWC | timm NCHW (timm default) | timm NHWC | ours default / timm default |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.cases:
        case = CASES[name]
        rate = measure(case, args)
        ours_default = rate["ours NHWC" if default else "ours NCHW"]
        cells = " | ".join(f"{rate[v]:.1f} ({rate[v] / rate['timm NCHW']:.2f}x)" for v in rate)
        depth = f" depth {args.depth}" if args.depth else ""
        rows.append(
            f"| {case.description}{depth} | {case.batch_size} | {cells} | {ours_default / rate['timm NCHW']:.2f}x |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    print(
        f"\ntrain-step images/s (ratio to timm NCHW); ConvMixerClassifier channels_last default: {default}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; command: `python {' '.join(sys.argv)}`"
    )


if __name__ == "__main__":
    main()
