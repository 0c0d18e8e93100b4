"""Cost of complex convolutions (FCCN) against a real convolution of the same shape, and FCCN ResNet-18 train steps.

Part 1, one layer (default 64 -> 64 channels, 3x3, 32x32, batch 16), forward + backward (input and weight gradients):

- ``real``: ``nn.Conv2d`` on a real tensor
- ``ours``: ``lit_vision.nn.complex.ComplexConv2d`` (3 real convolutions, Gauss's trick, in a custom autograd function)
- ``native``: ``F.conv2d`` with the complex weight W_r + iW_i (PyTorch's own complex path, also 3 convolutions)
- ``official 4-conv``: the official FCCN layer written out here: two real ``nn.Conv2d`` and 4 convolutions,
  ``[W_r*x_r - W_i*x_i] + i[W_r*x_i + W_i*x_r]``

Goals from the issue: ours <= 3.3x real and <= 0.85x the 4-convolution layer.

Part 2, FCCN ResNet-18 (10 classes, ImageNet stem, small batch at 56 px as in the official CIFAR recipe) against timm's
real resnet18: a train step is color model (ours only) + forward + loss + backward + Adam step.

Part 3, bf16 autocast: what the complex path does under ``torch.autocast`` (complex tensors are never cast; our layers
also keep their internal real convolutions in float32), and the max difference against float32.

All variants live in one process and are timed in interleaved repeats (rotating the order) after a warm-up; the
median over repeats is reported, which keeps a shared, noisy machine from favouring one side.

    python benchmarks/complex_conv.py
    python benchmarks/complex_conv.py --device cuda --repeats 21
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.nn.complex import ComplexConv2d, FCCNLoss, fccn_resnet18, rgb_to_ihsv


class OfficialComplexConv2d(nn.Module):
    """Reference: the official FCCN layer (two real convolutions applied 4 times)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int) -> None:
        super().__init__()
        self.conv_real = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.conv_imag = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xr, xi = x.real, x.imag
        return torch.complex(self.conv_real(xr) - self.conv_imag(xi), self.conv_real(xi) + self.conv_imag(xr))


class NativeComplexConv2d(nn.Module):
    """PyTorch's complex convolution on a weight assembled from real parameters."""

    def __init__(self, ours: ComplexConv2d) -> None:
        super().__init__()
        self.ours = ours

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.ours.complex_weight(), None, self.ours.stride, self.ours.padding)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_median(steps: dict[str, Callable[[], None]], repeats: int, iters: int, warmup: int, device) -> dict:
    """Median seconds per call of each step, timed in interleaved repeats with a rotating order."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            _sync(device)
            start = time.perf_counter()
            for _ in range(iters):
                steps[name]()
            _sync(device)
            times[name].append((time.perf_counter() - start) / iters)
    return {name: statistics.median(t) for name, t in times.items()}


def conv_layer_benchmark(args, device: torch.device) -> list[str]:
    torch.manual_seed(0)
    b, c, s = args.batch_size, args.channels, args.size
    real_conv = nn.Conv2d(c, c, 3, padding=1, bias=False).to(device)
    ours = ComplexConv2d(c, c, 3, padding=1).to(device)
    native = NativeComplexConv2d(ours)
    official = OfficialComplexConv2d(c, c, 3, padding=1).to(device)
    x_real = torch.randn(b, c, s, s, device=device, requires_grad=True)
    x_complex = torch.randn(b, c, s, s, dtype=torch.complex64, device=device, requires_grad=True)
    grad_real = torch.randn(b, c, s, s, device=device)
    grad_complex = torch.randn(b, c, s, s, dtype=torch.complex64, device=device)

    def step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            module.zero_grad(set_to_none=True)
            x.grad = None
            module(x).backward(grad)

        return run

    steps = {
        "real nn.Conv2d": step(real_conv, x_real, grad_real),
        "ours (3-conv Gauss, custom autograd)": step(ours, x_complex, grad_complex),
        "native complex F.conv2d": step(native, x_complex, grad_complex),
        "official 4-conv": step(official, x_complex, grad_complex),
    }
    t = interleaved_median(steps, args.repeats, args.iters, args.warmup, device)
    real, four = t["real nn.Conv2d"], t["official 4-conv"]
    rows = [
        f"### Complex conv layer, forward + backward ({c}->{c} ch, 3x3, {s}x{s}, batch {b}, {device.type})",
        "",
        "| layer | ms / step | x real conv | x official 4-conv |",
        "|---|---:|---:|---:|",
    ]
    for name, sec in t.items():
        rows.append(f"| {name} | {sec * 1e3:.2f} | {sec / real:.2f} | {sec / four:.2f} |")
    ours_t = t["ours (3-conv Gauss, custom autograd)"]
    rows += [
        "",
        f"Goals: ours <= 3.3x real ({'met' if ours_t / real <= 3.3 else 'NOT met'}: {ours_t / real:.2f}x), "
        f"ours <= 0.85x official 4-conv ({'met' if ours_t / four <= 0.85 else 'NOT met'}: {ours_t / four:.2f}x).",
    ]
    return rows


def resnet_benchmark(args, device: torch.device) -> list[str]:
    import timm

    torch.manual_seed(0)
    b, s = args.resnet_batch_size, args.resnet_size
    complex_model = fccn_resnet18(num_classes=10).to(device).train()
    real_model = timm.create_model("resnet18", pretrained=False, num_classes=10).to(device).train()
    rgb = torch.rand(b, 3, s, s, device=device)
    target = torch.randint(0, 10, (b,), device=device)
    fccn_loss = FCCNLoss()
    opt_complex = torch.optim.Adam(complex_model.parameters(), lr=1e-4)
    opt_real = torch.optim.Adam(real_model.parameters(), lr=1e-4)

    def complex_step() -> None:
        opt_complex.zero_grad(set_to_none=True)
        fccn_loss(complex_model(rgb_to_ihsv(rgb)), target).loss.backward()
        opt_complex.step()

    def real_step() -> None:
        opt_real.zero_grad(set_to_none=True)
        F.cross_entropy(real_model(rgb), target).backward()
        opt_real.step()

    steps = {"FCCN ResNet-18 (complex)": complex_step, "timm resnet18 (real)": real_step}
    t = interleaved_median(steps, args.resnet_repeats, 1, 2, device)
    n_complex = sum(p.numel() for p in complex_model.parameters())
    n_real = sum(p.numel() for p in real_model.parameters())
    rows = [
        f"### ResNet-18 train step (10 classes, batch {b}, {s} px, Adam, {device.type})",
        "",
        "| model | real params | ms / step | img/s | x real |",
        "|---|---:|---:|---:|---:|",
    ]
    real = t["timm resnet18 (real)"]
    for (name, sec), n in zip(t.items(), (n_complex, n_real)):
        rows.append(f"| {name} | {n / 1e6:.2f}M | {sec * 1e3:.1f} | {b / sec:.1f} | {sec / real:.2f} |")
    return rows


def autocast_check(device: torch.device) -> list[str]:
    torch.manual_seed(0)
    model = fccn_resnet18(num_classes=10).to(device).eval()
    x = rgb_to_ihsv(torch.rand(2, 3, 56, 56, device=device))
    native_weight = torch.complex(torch.randn(8, 8, 3, 3), torch.randn(8, 8, 3, 3)).to(device)
    xs = torch.randn(1, 8, 8, 8, dtype=torch.complex64, device=device)
    with torch.no_grad():
        reference = model(x)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = model(x)
            native_out = F.conv2d(xs, native_weight)
            real_out = F.conv2d(xs.real, native_weight.real)
    return [
        f"### bf16 autocast ({device.type})",
        "",
        f"- native complex conv under autocast: {native_out.dtype} (complex tensors are not cast); "
        f"a real conv under the same autocast: {real_out.dtype}",
        f"- FCCN ResNet-18 under autocast returns {out.dtype}; max |difference| vs float32 = "
        f"{(out - reference).abs().max().item():.2e} (the complex path runs in float32)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--resnet-batch-size", type=int, default=16)
    parser.add_argument("--resnet-size", type=int, default=56)
    parser.add_argument("--resnet-repeats", type=int, default=9)
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = conv_layer_benchmark(args, device)
    if not args.skip_resnet:
        rows += ["", *resnet_benchmark(args, device)]
    rows += ["", *autocast_check(device)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    rows += ["", f"torch {torch.__version__}, {name}, {torch.get_num_threads()} threads"]
    print("\n".join(rows))


if __name__ == "__main__":
    main()
