"""RandAugment cost per batch: per-sample (timm's rand-m9-mstd0.5-inc1 and torchvision's policy, vectorized per
operation) against the former grouped version (torchvision's v2.RandAugment called on groups of 8 samples, each group
one draw from the global RNG) and against timm's PIL RandAugment one image at a time (the CPU workers' cost in timm's
pipeline).

Random uint8 batches (B, 3, S, S) on `--device`; each variant runs `--repeats` rounds after a warm-up, interleaved,
and the median milliseconds per batch are reported (CUDA: synchronized).

    python benchmarks/rand_augment.py --batch-size 128 --size 224
    python benchmarks/rand_augment.py --batch-size 64 --size 224 --threads 1   # a shared, loaded CPU
    python benchmarks/rand_augment.py --device cuda --batch-size 256 --size 224
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lit_vision.data.rand_augment import rand_augment, torchvision_rand_augment


def grouped_torchvision(images: torch.Tensor, group_size: int = 8) -> torch.Tensor:
    """The former `rand_augment(images, 2, 9, group_size=8)`: one torchvision draw per group of samples."""
    from torchvision.transforms import v2

    augment = v2.RandAugment(num_ops=2, magnitude=9)
    return torch.cat([augment(group) for group in images.split(group_size)])


def timm_pil(images: torch.Tensor) -> torch.Tensor:
    """timm's RandAugment on PIL images, one at a time (what its loader workers do per sample), back to a tensor."""
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    transform = rand_augment_transform("rand-m9-mstd0.5-inc1", {"img_mean": (124, 116, 104)})

    def augment(array: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(transform(Image.fromarray(array)))
        except ValueError:  # Pillow >= 11 rejects posterize to 0 bits (magnitude clipped to 10): ~0.15 % of images
            return array

    return torch.from_numpy(np.stack([augment(array) for array in images.permute(0, 2, 3, 1).cpu().numpy()]))


def measure(function, images: torch.Tensor) -> float:
    if images.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    function(images)
    if images.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pil", action="store_true", help="skip timm's per-image PIL baseline")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a loaded machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    images = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size), dtype=torch.uint8, device=args.device)
    generator = torch.Generator(device=args.device).manual_seed(0)
    variants = {
        "grouped torchvision RandAugment (groups of 8, former)": grouped_torchvision,
        "per-sample timm rand-m9-mstd0.5-inc1 (bicubic)": lambda x: rand_augment(x, generator=generator),
        "per-sample timm rand-m9-mstd0.5-inc1 (bilinear)": lambda x: rand_augment(
            x, generator=generator, interpolation="bilinear"
        ),
        "per-sample torchvision RandAugment(2, 12)": lambda x: torchvision_rand_augment(x, 2, 12, generator),
    }
    if not args.no_pil and args.device == "cpu":
        variants["timm PIL, one image at a time (1 core)"] = timm_pil
    times: dict[str, list[float]] = {name: [] for name in variants}
    for function in variants.values():
        function(images)  # warm-up
    for _ in range(args.repeats):
        for name, function in variants.items():
            times[name].append(measure(function, images))
    threads = torch.get_num_threads()
    print(f"batch {args.batch_size} x 3 x {args.size} x {args.size} uint8 on {args.device}, {threads} torch threads")
    reference = statistics.median(times[next(iter(variants))])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.1f} ms | {median / reference:.2f}x |")


if __name__ == "__main__":
    main()
