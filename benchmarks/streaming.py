"""Training-loader throughput, images per second: `ImageFolderDataModule` (one file per image) against
`StreamingImageDataModule` (the same images as LitData shards from `lit-vision data optimize`), side by side.

The same generated JPEGs (ImageNet-like ~500x375, benchmarks/data_pipeline.py's writer), batch size, workers, crop
size and augmentation options; the loaders deliver uint8 crops (the on-device steps are the same code for both and are
not timed). Each round times one epoch of each loader, alternating, after one warm-up epoch each; the best epoch per
loader over `--repeats` rounds is reported (a shared machine then favours neither). ImageFolder keeps its workers
between epochs; litdata's loader starts them each epoch, which is counted. Also reported: the time `data optimize`
took and the size of the shards against the files.

    python benchmarks/streaming.py --images 512 --workers 2 --repeats 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_pipeline import write_jpegs  # noqa: E402

from lit_vision.data import ImageFolderDataModule, StreamingImageDataModule  # noqa: E402
from lit_vision.data.optimize import optimize_image_folder  # noqa: E402


def epoch_rate(loader) -> float:
    start, count = time.perf_counter(), 0
    for batch in loader:
        count += len(batch[0])
    return count / (time.perf_counter() - start)


def folder_bytes(root: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in root.rglob(pattern))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_jpegs(root, args.images)
        for source in sorted((root / "train").rglob("*.JPEG"))[:16]:  # a small val split (optimize needs one)
            target = root / "val" / source.parent.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
        start = time.perf_counter()
        optimize_image_folder(root, Path(tmp) / "shards", num_workers=max(1, args.workers))
        optimize_s = time.perf_counter() - start
        options = dict(batch_size=args.batch_size, image_size=args.image_size, num_workers=args.workers)
        folder = ImageFolderDataModule(str(root), **options)
        folder.setup("fit")
        streaming = StreamingImageDataModule(str(Path(tmp) / "shards"), **options)
        loaders = {"ImageFolderDataModule": folder.train_dataloader()}
        loaders["StreamingImageDataModule"] = streaming.train_dataloader()
        best = dict.fromkeys(loaders, 0.0)
        for loader in loaders.values():
            epoch_rate(loader)  # warm-up: workers, page cache
        for _ in range(args.repeats):
            for name, loader in loaders.items():
                best[name] = max(best[name], epoch_rate(loader))
        files = folder_bytes(root / "train", "*.JPEG")
        shards = folder_bytes(Path(tmp) / "shards" / "train", "*.bin")
    print(f"{args.images} JPEGs, batch {args.batch_size}, {args.workers} workers, crop {args.image_size}")
    for name, rate in best.items():
        print(f"  {name:<26} {rate:8.1f} images/s")
    ratio = best["StreamingImageDataModule"] / best["ImageFolderDataModule"]
    print(f"  streaming / folder: {ratio:.2f}x; data optimize took {optimize_s:.1f} s; shards {shards / files:.3f}x "
          "the bytes of the files")  # fmt: skip


if __name__ == "__main__":
    main()
