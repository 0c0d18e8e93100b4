"""ImageFolder tree -> LitData shards for `StreamingImageDataModule` (`lit-vision data optimize`).

Each split folder (`train/`, `val/`, optional `test/`) becomes `<output>/<split>/` (litdata's `index.json` and
`chunk-*.bin` files). A sample is `{"image": the file's bytes, "label": int, "index": int}`: JPEGs stay JPEG (no
re-encoding, no quality loss), other formats keep their own bytes (the reader decodes whatever ImageFolder decodes);
`index` is the sample's position in the split's sorted scan (class, then file name), which seeds its random crop.
Files are written in a seeded random order, so every chunk holds a mix of classes (litdata shuffles chunks and items
within a chunk, not across the whole split). Unreadable files are skipped with a warning. `<output>/classes.json`
holds the class names and the sample count of each split.
"""

import json
import multiprocessing
import random
import sys
from pathlib import Path
from typing import Any

from lit_vision.data.decode import UnreadableImage, decode_rgb
from lit_vision.data.image_folder import check_same_classes, scan_split

SPLITS = ("train", "val", "test")
REQUIRED_SPLITS = ("train", "val")
CLASSES_FILE = "classes.json"
FORMAT_VERSION = 1


def encode_sample(item: tuple[str, int, int]):
    """One written sample per readable file (a generator: litdata writes what it yields, nothing for a bad file)."""
    path, label, index = item
    try:
        with open(path, "rb") as file:
            data = file.read()
        decode_rgb(data)  # validated once here, so training never meets an unreadable image
    except (OSError, UnreadableImage) as error:
        print(f"lit-vision data optimize: skipped unreadable image {path} ({error})", file=sys.stderr, flush=True)
        return
    yield {"image": data, "label": label, "index": index}


def written_samples(split_dir: Path) -> int:
    """Samples in an optimized split, from litdata's index.json."""
    index = json.loads((split_dir / "index.json").read_text())
    return sum(int(chunk["chunk_size"]) for chunk in index["chunks"])


def optimize_image_folder(
    input_dir: str | Path,
    output_dir: str | Path,
    num_workers: int = 1,
    chunk_bytes: str = "64MB",
    seed: int = 0,
) -> dict[str, Any]:
    """Write the LitData shards of every split of `input_dir` under `output_dir`; returns what classes.json holds.

    `num_workers` processes read and validate the files; `chunk_bytes` bounds each chunk file (litdata's unit
    of download and shuffling); `seed` fixes the written order."""
    import litdata

    input_dir, output_dir = Path(input_dir).expanduser(), Path(output_dir).expanduser()
    if not input_dir.is_dir():
        raise FileNotFoundError(f"--input {str(input_dir)!r} is not a directory; pass an ImageFolder root "
                                "(<root>/train/<class>/<images>, <root>/val/<class>/<images>)")  # fmt: skip
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise FileExistsError(f"--output {str(output_dir)!r} exists and is not an empty directory; pass a new path "
                              "(optimizing never overwrites shards)")  # fmt: skip
    if num_workers < 1:
        raise ValueError(f"--num_workers {num_workers} must be >= 1")
    splits = [split for split in SPLITS if split in REQUIRED_SPLITS or (input_dir / split).is_dir()]
    scanned: dict[str, list[tuple[str, int]]] = {}
    classes: list[str] = []
    for split in splits:
        split_classes, samples = scan_split(input_dir / split, split)  # one-line errors: missing split, no classes
        if split == "train":
            classes = split_classes
            if len(classes) < 2:
                raise ValueError(f"{input_dir / split} has {len(classes)} class folder(s); a classifier needs two "
                                 "or more: add a folder per class")  # fmt: skip
        else:
            check_same_classes(classes, split_classes, input_dir / "train", input_dir / split)
        scanned[split] = samples
    sizes = {}
    for split in splits:
        items = [(path, label, index) for index, (path, label) in enumerate(scanned[split])]
        random.Random(seed).shuffle(items)
        litdata.optimize(
            fn=encode_sample,
            inputs=items,
            output_dir=str(output_dir / split),
            chunk_bytes=chunk_bytes,
            num_workers=min(num_workers, len(items)),
            reorder_files=False,
            keep_data_ordered=True,
            verbose=False,
            start_method="fork" if "fork" in multiprocessing.get_all_start_methods() else None,
        )
        sizes[split] = written_samples(output_dir / split)
    info = {
        "format": "lit-vision image shards",
        "version": FORMAT_VERSION,
        "classes": classes,
        "samples": sizes,
        "scanned": {split: len(samples) for split, samples in scanned.items()},
        "source": str(input_dir.resolve()),
    }
    (output_dir / CLASSES_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info
