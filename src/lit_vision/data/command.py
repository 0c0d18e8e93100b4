"""`lit-vision data`: data-set tools. `lit-vision data optimize` writes the LitData shards that
`StreamingImageDataModule` streams (see `lit_vision.data.optimize`)."""

import argparse
import os
import sys
import time

OPTIMIZE_DESCRIPTION = """Write an ImageFolder tree (INPUT/train/<class>/<images>, INPUT/val/<class>/<images>, optional
INPUT/test/...) as LitData shards: OUTPUT/train/, OUTPUT/val/ (OUTPUT/test/), each an index.json and chunk files of
{image: the file's bytes (JPEG stays JPEG), label, index}, plus OUTPUT/classes.json (class names, sample counts).
Unreadable images are skipped with a warning. Train on it with

  lit-vision fit --config configs/imagenet/swin_t_streaming.yaml --data.init_args.data_dir OUTPUT

or upload OUTPUT to an object store (e.g. `aws s3 cp --recursive OUTPUT s3://bucket/imagenet`) and pass the URL."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lit-vision data", description="Data-set tools.")
    commands = p.add_subparsers(dest="command", metavar="{optimize}", required=True)
    optimize = commands.add_parser(
        "optimize",
        help="write an ImageFolder tree as LitData shards for StreamingImageDataModule",
        description=OPTIMIZE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    optimize.add_argument("--input", required=True, help="ImageFolder root holding train/ and val/ (and test/)")
    optimize.add_argument("--output", required=True, help="new (or empty) local directory for the shards")
    optimize.add_argument("--num_workers", type=int, default=1, help="processes reading and checking images")
    optimize.add_argument("--chunk_bytes", default="64MB", help="size bound of each chunk file (default 64MB)")
    optimize.add_argument("--seed", type=int, default=0, help="seed of the written order (default 0)")
    return p


def optimize(args: argparse.Namespace) -> None:
    from lit_vision.data.optimize import optimize_image_folder

    start = time.perf_counter()
    info = optimize_image_folder(args.input, args.output, args.num_workers, args.chunk_bytes, args.seed)
    counts = ", ".join(
        f"{split} {written}" + (f" ({info['scanned'][split] - written} unreadable skipped)"
                                if written < info["scanned"][split] else "")
        for split, written in info["samples"].items()
    )  # fmt: skip
    print(
        f"lit-vision data optimize: wrote {counts} samples of {len(info['classes'])} classes to {args.output} "
        f"in {time.perf_counter() - start:.1f} s"
    )


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        optimize(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
