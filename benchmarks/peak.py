"""Measured matrix-multiply peak of this machine: the yardstick for "% of peak" in benchmarks/throughput.py.

Times ``torch.mm`` on square matrices of a few sizes (fp32 on CPU; fp32, TF32 and bf16 on CUDA) and reports the best
rate in GFLOP/s (2 * n^3 FLOPs per product). The best of several sizes stands for the machine's GEMM peak: the rate
the matrix products of a network could reach at best, so model FLOPs / step time / peak is the share of the machine a
training step uses.

    python benchmarks/peak.py                 # CPU fp32 (and the CUDA dtypes when a GPU is present)
    python benchmarks/peak.py --device cpu --sizes 1024 2048 --seconds 2
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(size: int, device: torch.device | str = "cpu", dtype: str = "fp32", seconds: float = 1.0) -> float:
    """Best GFLOP/s of ``size`` x ``size`` matrix products over about ``seconds`` of repeats."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device, DTYPES[dtype]) for _ in range(2))
    out = torch.empty_like(a)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        torch.mm(a, b, out=out)  # warm-up: thread pool, kernel selection
        _synchronize(device)
        best, deadline, repeats = 0.0, time.perf_counter() + seconds, 1
        while True:
            start = time.perf_counter()
            for _ in range(repeats):
                torch.mm(a, b, out=out)
            _synchronize(device)
            elapsed = time.perf_counter() - start
            best = max(best, 2 * size**3 * repeats / elapsed / 1e9)
            if time.perf_counter() > deadline:
                return best
            if elapsed < 0.05:  # small products: time several per sample
                repeats *= 2
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def peak_gflops(
    device: torch.device | str = "cpu", dtype: str = "fp32", sizes: tuple[int, ...] = (512, 1024, 2048), seconds=1.0
) -> float:
    """The machine's measured GEMM peak for ``dtype`` on ``device``: the best rate over ``sizes``."""
    return max(gemm_rate(size, device, dtype, seconds) for size in sizes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 1024, 2048, 4096])
    parser.add_argument("--seconds", type=float, default=1.0, help="timing budget per size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = ["| device | dtype | " + " | ".join(f"n={n} GFLOP/s" for n in args.sizes) + " | peak GFLOP/s |"]
    rows.append("|---" * (len(args.sizes) + 3) + "|")
    for device in args.device:
        dtypes = ["fp32", "tf32", "bf16"] if device.startswith("cuda") else ["fp32"]
        for dtype in dtypes:
            rates = [gemm_rate(size, device, dtype, args.seconds) for size in args.sizes]
            rows.append(f"| {device} | {dtype} | " + " | ".join(f"{r:.1f}" for r in rates) + f" | {max(rates):.1f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    name = f"CPU, {torch.get_num_threads()} threads"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        name += ", " + next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    if torch.cuda.is_available():
        name += f"; GPU {torch.cuda.get_device_name()}"
    print("\n".join(rows + ["", f"- {name}; torch {torch.__version__}", f"- command: `python {' '.join(sys.argv)}`"]))


if __name__ == "__main__":
    main()
