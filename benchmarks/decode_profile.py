"""Where the ImageFolder pipeline's time goes, per image, in one process and one thread: read, decode (TorchCodec,
the previous torchvision.io, PIL), crop + resize (ours in uint8 channels-last, the previous `TF.resize` call), flip,
collation into a batch, and the on-device step (`on_after_batch_transfer`: float conversion + normalization) when
the device is the CPU, beside torchvision's per-image PIL pipeline (what `ImageFolder` workers run). Last, on the
same pictures at twice the size (~1000x750, where crops >= 2x 224 are common), decode + crop + resize exact vs with
`reduced_decode` (DCT-scaled JPEG decoding).

The same generated JPEGs as `benchmarks/data_pipeline.py` (~500x375, quality 90); crop boxes drawn as in training
(random-resized to 224). Every stage is timed over all images, the stages interleaved over `--repeats` rounds, the
best round kept (a shared machine favours none of them).

    python benchmarks/decode_profile.py --images 256
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.io import ImageReadMode
from torchvision.io import decode_image as torchvision_decode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from lit_vision.data import ImageFolderDataModule
from lit_vision.data.decode import crop_resize, decode_for_crop, decode_rgb, random_resized_box
from lit_vision.data.transforms import IMAGENET_MEAN, IMAGENET_STD

sys.path.insert(0, str(Path(__file__).parent))
from data_pipeline import _Training, write_jpegs  # noqa: E402


def previous_crop_resize(image: torch.Tensor, box, size: int) -> torch.Tensor:
    top, left, h, w = box
    return TF.resize(image[:, top : top + h, left : left + w], [size, size], antialias=True)


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def pil_decode(data: bytes):
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        write_jpegs(Path(tmp), args.images)
        paths = sorted(str(p) for p in Path(tmp, "train").rglob("*.JPEG"))
        files = [Path(p).read_bytes() for p in paths]
        images = [decode_rgb(data) for data in files]
        rng = random.Random(0)
        boxes = [random_resized_box(im.shape[1], im.shape[2], rng=rng) for im in images]
        crops = [crop_resize(im, box, 224) for im, box in zip(images, boxes)]
        pils = [pil_decode(data) for data in files]
        reference = v2.Compose([
            v2.RandomResizedCrop(224), v2.RandomHorizontalFlip(), v2.PILToTensor(), v2.ToDtype(torch.float32, True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])  # fmt: skip
        dm = ImageFolderDataModule(tmp, batch_size=args.batch_size, image_size=224, num_workers=0)
        dm.setup("fit")
        dm.trainer = _Training()
        batches = [torch.stack(crops[i : i + args.batch_size]) for i in range(0, len(crops), args.batch_size)]
        large = [encode_jpeg(im.resize((im.width * 2, im.height * 2), Image.BICUBIC)) for im in pils]
        large_boxes = [random_resized_box(2 * im.height, 2 * im.width, rng=rng) for im in pils]
        labels = torch.zeros(args.batch_size, dtype=torch.long)

        stages = {
            "read file": lambda: [Path(p).read_bytes() for p in paths],
            "decode: TorchCodec (ours)": lambda: [decode_rgb(data) for data in files],
            "decode: torchvision.io (previous)": lambda: [
                torchvision_decode(torch.frombuffer(bytearray(d), dtype=torch.uint8), mode=ImageReadMode.RGB)
                for d in files
            ],
            "decode: PIL (torchvision ImageFolder)": lambda: [pil_decode(data) for data in files],
            "crop + resize: uint8 channels-last (ours)": lambda: [
                crop_resize(im, box, 224) for im, box in zip(images, boxes)
            ],
            "crop + resize: TF.resize (previous)": lambda: [
                previous_crop_resize(im, box, 224) for im, box in zip(images, boxes)
            ],
            "flip": lambda: [crop.flip(-1) for crop in crops],
            "collate (torch.stack)": lambda: [
                torch.stack(crops[i : i + args.batch_size]) for i in range(0, len(crops), args.batch_size)
            ],
            "device step on the CPU (normalize, 1 thread)": lambda: [
                dm.on_after_batch_transfer((b, labels[: len(b)], [""] * len(b)), 0) for b in batches
            ],
            "torchvision: RandomResizedCrop+flip+ToTensor+Normalize on PIL": lambda: [reference(im) for im in pils],
            "~1000x750: decode + crop + resize, exact": lambda: [
                crop_resize(decode_rgb(data), box, 224) for data, box in zip(large, large_boxes)
            ],
            "~1000x750: decode + crop + resize, reduced_decode": lambda: [
                crop_resize(*decode_for_crop(data, box, 224), 224) for data, box in zip(large, large_boxes)
            ],
        }
        best = dict.fromkeys(stages, float("inf"))
        for _ in range(args.repeats):
            for name, stage in stages.items():
                start = time.perf_counter()
                stage()
                best[name] = min(best[name], (time.perf_counter() - start) / len(paths) * 1e3)
    print("| stage | ms per image |")
    print("|---|---:|")
    for name, ms in best.items():
        print(f"| {name} | {ms:.3f} |")
    ours = sum(best[k] for k in best if "(ours)" in k) + sum(
        best[k] for k in ("read file", "flip", "collate (torch.stack)", "device step on the CPU (normalize, 1 thread)")
    )
    theirs = (
        best["read file"]
        + best["decode: PIL (torchvision ImageFolder)"]
        + best[next(k for k in best if "torchvision:" in k)]
    )
    print(f"\nsum, ours: {ours:.3f} ms/image; torchvision: {theirs:.3f} ms/image (+ its float32 collate); "
          f"ratio {theirs / ours:.2f}x; best of {args.repeats} rounds, {len(paths)} images, 1 thread")  # fmt: skip


if __name__ == "__main__":
    main()
