"""Input-pipeline throughput: lit_vision's DataModules against the usual torchvision pipelines, images per second.

ImageFolder: the same generated JPEGs (ImageNet-like ~500x375, ImageNet layout in a temp dir), the same batch size and
workers. torchvision: `ImageFolder` (PIL decode) + RandomResizedCrop(224) + flip + ToTensor + Normalize in the
workers, float32 batches. Ours: `ImageFolderDataModule` (TorchCodec decode, crop + resize in uint8 in the workers,
uint8 batches; normalize batched on the device in `on_after_batch_transfer`, which is timed too), beside the same
DataModule with its previous decoding (torchvision.io + `TF.resize`) and, on CUDA, with `decode_device: cuda` (JPEG
bytes to the GPU, one nvJPEG call per batch, crop + resize there). `benchmarks/decode_profile.py` splits the time
per image by stage.

CIFAR: 50,000 32x32 images in memory. torchvision: a dataset of PIL images (as torchvision.datasets.CIFAR10 returns
them) + RandomCrop(32, 4) + flip + ToTensor + Normalize. Ours: `CIFAR10DataModule` (one uint8 gather per batch, crop +
flip + normalize batched on the device), also with RandAugment(2, 12) on the device.

On a CPU-only machine the "device" step (float conversion + normalization of whole batches) runs on the same cores as
the workers and is timed with ours; the loader-only row shows what the CPU side delivers when a GPU does that step.

Each epoch is timed after a warm-up epoch (persistent workers on both sides); the sides alternate over `--repeats`
rounds and the best epoch of each is reported, which keeps a shared machine from favouring either side.

On the CPU most of the device step is fresh memory: a (64, 3, 224, 224) float32 batch (38.5 MB) lies above glibc's
largest mmap threshold (32 MB), so each batch maps new pages and faults them in. `--reuse-memory` reruns everything
(both sides, workers included) with freed memory kept for reuse, as jemalloc/tcmalloc (PyTorch's CPU tuning advice) do.

    python benchmarks/data_pipeline.py --images 512 --workers 2 --skip cifar
    python benchmarks/data_pipeline.py --images 512 --workers 2 --skip cifar --reuse-memory
    python benchmarks/data_pipeline.py --device cuda --workers 8 --batch-size 128
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from lit_vision.data import CIFAR10DataModule, ImageFolderDataModule
from lit_vision.data.cifar import InMemoryImages, collate_batch
from lit_vision.data.image_folder import ImageFiles
from lit_vision.data.loading import available_cpus
from lit_vision.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def write_jpegs(root: Path, count: int, classes: int = 8, seed: int = 0) -> None:
    """ImageNet-like JPEGs (~500x375, landscape and portrait, smooth content plus noise, quality 90)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        width, height = (500, 375) if i % 3 else (375, 500)
        width, height = width + int(rng.integers(-40, 40)), height + int(rng.integers(-30, 30))
        y, x = np.mgrid[0:height, 0:width]
        phase = rng.random(3) * 6.28
        base = 127 + 100 * np.sin(x[..., None] / rng.uniform(20, 80) + y[..., None] / rng.uniform(20, 80) + phase)
        pixels = (base + rng.normal(0, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
        folder = root / "train" / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"img_{i:05d}.JPEG", "JPEG", quality=90)
    (root / "val").mkdir(exist_ok=True)
    for folder in (root / "train").iterdir():
        (root / "val" / folder.name).mkdir(exist_ok=True)
        first = sorted(folder.iterdir())[0]
        (root / "val" / folder.name / first.name).write_bytes(first.read_bytes())


class _Training:
    """Stands in for the Trainer in `on_after_batch_transfer` (which asks whether it is training)."""

    training = True


def time_epoch(loader: DataLoader, device: torch.device, after_transfer=None) -> tuple[float, int]:
    count = 0
    start = time.perf_counter()
    for batch in loader:
        images = batch[0].to(device, non_blocking=True)
        if after_transfer is not None:
            images = after_transfer((images, *batch[1:]), 0)[0]
        count += len(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, count


def best_rate(loaders: dict[str, tuple], device: torch.device, repeats: int) -> dict[str, float]:
    for loader, hook in loaders.values():  # warm-up: start the persistent workers, fill caches
        time_epoch(loader, device, hook)
    rates = {name: 0.0 for name in loaders}
    for round_index in range(repeats):
        order = list(loaders) if round_index % 2 == 0 else list(reversed(loaders))
        for name in order:
            loader, hook = loaders[name]
            seconds, count = time_epoch(loader, device, hook)
            rates[name] = max(rates[name], count / seconds)
    return rates


def image_folder_rates(root: Path, args, device: torch.device) -> dict[str, float]:
    import torchvision
    from torchvision import transforms as T

    pin = device.type == "cuda"
    reference = torchvision.datasets.ImageFolder(
        str(root / "train"),
        transform=T.Compose([
            T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]),
    )  # fmt: skip
    reference_loader = DataLoader(reference, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                                  pin_memory=pin, persistent_workers=args.workers > 0)  # fmt: skip
    dm = ImageFolderDataModule(str(root), batch_size=args.batch_size, image_size=224, num_workers=args.workers)
    dm.setup("fit")
    dm.trainer = _Training()
    ours_loader = DataLoader(dm.datasets["train"], batch_size=args.batch_size, shuffle=True,
                             num_workers=args.workers, pin_memory=pin, persistent_workers=args.workers > 0)  # fmt: skip
    previous = PreviousImageFiles(dm.datasets["train"].samples, size=224, train=True, hflip=True)
    previous_loader = DataLoader(previous, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                                 pin_memory=pin, persistent_workers=args.workers > 0)  # fmt: skip
    sides = {
        "torchvision ImageFolder": (reference_loader, None),
        "ours": (ours_loader, dm.on_after_batch_transfer),
        "ours, loader only (uint8 batches; the device step left to a GPU)": (ours_loader, None),
        "ours with the previous decoding (torchvision.io, TF.resize)": (previous_loader, dm.on_after_batch_transfer),
    }
    if device.type == "cuda":
        gpu = ImageFolderDataModule(str(root), batch_size=args.batch_size, image_size=224, num_workers=args.workers,
                                    decode_device="cuda")  # fmt: skip
        gpu.setup("fit")
        gpu.trainer = _Training()
        gpu_loader = DataLoader(gpu.datasets["train"], batch_size=args.batch_size, shuffle=True, pin_memory=pin,
                                num_workers=args.workers, persistent_workers=args.workers > 0,
                                collate_fn=gpu.collate_fn)  # fmt: skip
        sides["ours, decode_device: cuda (nvJPEG per batch)"] = (gpu_loader, gpu.on_after_batch_transfer)
    return best_rate(sides, device, args.repeats)


class PreviousImageFiles(ImageFiles):
    """The worker side before TorchCodec: torchvision.io decoding and `TF.resize` of a CHW crop."""

    def load(self, index: int) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.transforms.v2 import functional as TF

        data = Path(self.samples[index][0]).read_bytes()
        image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        top, left, h, w = self.box(image.shape[1], image.shape[2])
        image = TF.resize(image[:, top : top + h, left : left + w], [self.size, self.size], antialias=True)
        return image.flip(-1) if self.hflip and random.random() < 0.5 else image


class PILImages(Dataset):
    """What torchvision.datasets.CIFAR10 does per item: a PIL image from the HWC array, then the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def cifar_rates(args, device: torch.device) -> dict[str, float]:
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (args.cifar_images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.cifar_images)
    pin = device.type == "cuda"
    transform = T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize(CIFAR10DataModule.mean, CIFAR10DataModule.std),
    ])  # fmt: skip
    reference_loader = DataLoader(PILImages(hwc, labels, transform), batch_size=args.cifar_batch_size, shuffle=True,
                                  num_workers=args.workers, pin_memory=pin, persistent_workers=args.workers > 0)  # fmt: skip
    loaders = {"torchvision (PIL) CIFAR": (reference_loader, None)}
    memory = InMemoryImages(torch.from_numpy(hwc).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels))
    for name, extra in (
        ("ours", {}),
        (
            "ours + RandAugment(2, 12)",
            {"randaugment_ops": 2, "randaugment_magnitude": 12, "randaugment_policy": "torchvision"},
        ),
    ):
        dm = CIFAR10DataModule(batch_size=args.cifar_batch_size, num_workers=0, **extra)
        dm.splits = {"train": memory}
        dm.trainer = _Training()
        loader = DataLoader(memory, batch_size=args.cifar_batch_size, shuffle=True, num_workers=0, pin_memory=pin,
                            collate_fn=collate_batch)  # fmt: skip
        loaders[name] = (loader, dm.on_after_batch_transfer)
    return best_rate(loaders, device, args.repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512, help="generated JPEGs for the ImageFolder rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cifar-images", type=int, default=50_000)
    parser.add_argument("--cifar-batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--skip", nargs="*", default=[], choices=["imagefolder", "cifar"])
    parser.add_argument("--reuse-memory", action="store_true",
                        help="rerun under glibc malloc settings that keep freed memory for reuse (MALLOC_MMAP_MAX_=0, "
                             "MALLOC_TRIM_THRESHOLD_), as jemalloc/tcmalloc would: every side, workers included")  # fmt: skip
    args = parser.parse_args(argv)
    if args.reuse_memory and os.environ.get("MALLOC_MMAP_MAX_") != "0":  # glibc reads them at process start
        env = {**os.environ, "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(8 << 30)}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else args.device)
    if device.type == "auto":
        device = torch.device("cpu")
    torch.manual_seed(0)
    rows = []
    if "imagefolder" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            write_jpegs(Path(tmp), args.images)
            rates = image_folder_rates(Path(tmp), args, device)
        base = rates["torchvision ImageFolder"]
        rows += [(f"ImageFolder {args.images} JPEGs ~500x375 -> 224, batch {args.batch_size}", name, rate, rate / base)
                 for name, rate in rates.items()]  # fmt: skip
    if "cifar" not in args.skip:
        rates = cifar_rates(args, device)
        base = rates["torchvision (PIL) CIFAR"]
        rows += [(f"CIFAR {args.cifar_images} x 32x32, batch {args.cifar_batch_size}", name, rate, rate / base)
                 for name, rate in rates.items()]  # fmt: skip
    print("| pipeline | side | img/s | vs torchvision |")
    print("|---|---|---:|---:|")
    for pipeline, side, rate, ratio in rows:
        print(f"| {pipeline} | {side} | {rate:,.0f} | {ratio:.2f}x |")
    cpus = available_cpus()
    print(f"\nworkers {args.workers}, device {device}, {cpus} CPUs, {platform.processor() or platform.machine()}, "
          f"python {sys.version.split()[0]}, torch {torch.__version__}, best of {args.repeats} epochs per side"
          f"{', freed memory reused (glibc malloc settings)' if args.reuse_memory else ''}")  # fmt: skip


if __name__ == "__main__":
    main()
