"""Small files in real data-set formats, for configs that train on real data (configs/<dataset>/*.yaml).

FIXTURES maps a configs/ sub-directory to a function that writes the files under a temp dir and returns the CLI
arguments that point the config's DataModule at them. The writers are also used by tests/data/.
"""

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# the recipes train in bf16 on GPUs; CPUs without bf16 units emulate it (ConvMixer-768/32: 15x slower than float32)
CPU_PRECISION = ["--trainer.precision", "32-true"]
# the recipes compile on GPUs; inductor builds C++ for minutes per model on 2 CPU cores (benchmarks/compile.py)
EAGER = ["--model.init_args.compile", "false"]

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """(N, 3072) uint8 rows in CIFAR's channel-major order; each class has its own mean color plus noise."""
    rng = np.random.default_rng(seed)
    base = (np.arange(3)[None, :] * 40 + labels[:, None] * 23) % 200 + 30
    images = base[:, :, None] + rng.integers(-30, 30, size=(len(labels), 3, 1024))
    return images.clip(0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _dump(path: Path, content: dict) -> None:
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=2)


def write_cifar10(root: Path, per_class_per_batch: int = 1, test_per_class: int = 2, str_keys: bool = False) -> Path:
    """`root/cifar-10-batches-py/` with data_batch_1..5, test_batch and batches.meta (dicts with b"data" uint8
    N x 3072, b"labels", as the official python version has them; `str_keys` writes str keys like python 2 pickles
    read with latin1)."""
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        count = test_per_class if name == "test_batch" else per_class_per_batch
        labels = np.tile(np.arange(10), count)
        _dump(folder / name, {
            key("batch_label"): f"{name} of 6".encode(),
            key("labels"): labels.tolist(),
            key("data"): cifar_images(labels, seed=i),
            key("filenames"): [f"img_{j}.png".encode() for j in range(len(labels))],
        })  # fmt: skip
    _dump(folder / "batches.meta", {
        key("label_names"): [n if str_keys else n.encode() for n in CIFAR10_NAMES],
        key("num_cases_per_batch"): 10 * per_class_per_batch,
        key("num_vis"): 3072,
    })  # fmt: skip
    return folder


def write_cifar100(root: Path, train_per_class: int = 2, test_per_class: int = 1) -> Path:
    """`root/cifar-100-python/` with train, test and meta (b"fine_labels", b"coarse_labels", fine/coarse names)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, count) in enumerate((("train", train_per_class), ("test", test_per_class))):
        fine = np.tile(np.arange(100), count)
        _dump(folder / name, {
            b"filenames": [f"img_{j}.png".encode() for j in range(len(fine))],
            b"batch_label": f"{name} batch".encode(),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine // 5).tolist(),
            b"data": cifar_images(fine % 10, seed=10 + i),
        })  # fmt: skip
    _dump(folder / "meta", {
        b"fine_label_names": [f"fine_{c}".encode() for c in range(100)],
        b"coarse_label_names": [f"coarse_{c}".encode() for c in range(20)],
    })  # fmt: skip
    return folder


def write_jpeg(path: Path, width: int, height: int, seed: int, color: tuple[int, int, int] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    base = np.array(color if color is not None else rng.integers(0, 255, 3))
    pixels = (base[None, None, :] + rng.integers(-40, 40, (height, width, 3))).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=85)
    return path


def write_image_tree(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog"),
    splits: dict[str, int] | None = None,
    size: tuple[int, int] = (48, 36),
) -> Path:
    """ImageNet layout: root/<split>/<class>/<n>.JPEG, each class its own color."""
    splits = splits or {"train": 4, "val": 2}
    for s, (split, count) in enumerate(splits.items()):
        for c, name in enumerate(classes):
            color = ((c * 97) % 256, (c * 53 + 80) % 256, (c * 31 + 160) % 256)
            for i in range(count):
                write_jpeg(root / split / name / f"{name}_{i}.JPEG", *size, seed=1000 * s + 10 * c + i, color=color)
    return root


def cifar10_args(tmp_path: Path) -> list[str]:
    write_cifar10(tmp_path / "cifar")
    return ["--data.init_args.data_dir", str(tmp_path / "cifar"), "--data.init_args.batch_size", "4",
            "--data.init_args.num_workers", "0", *CPU_PRECISION, *EAGER]  # fmt: skip


def cifar100_args(tmp_path: Path) -> list[str]:
    write_cifar100(tmp_path / "cifar100")
    return ["--data.init_args.data_dir", str(tmp_path / "cifar100"), "--data.init_args.batch_size", "4",
            "--data.init_args.num_workers", "0", *CPU_PRECISION, *EAGER]  # fmt: skip


def imagenet_args(tmp_path: Path) -> list[str]:
    """Two classes of small JPEGs; the configs keep their 224 px crop (Swin/ViT need it), so batch size 2."""
    write_image_tree(tmp_path / "imagenet", splits={"train": 2, "val": 1, "test": 1})
    return ["--data.init_args.data_dir", str(tmp_path / "imagenet"), "--data.init_args.batch_size", "2",
            "--data.init_args.num_workers", "0", *CPU_PRECISION, *EAGER]  # fmt: skip


def imagenet_shards_args(tmp_path: Path) -> list[str]:
    """The small image folder of `imagenet_args` written as LitData shards (`lit-vision data optimize`), for the
    streaming configs (configs/imagenet/*_streaming.yaml)."""
    from lit_vision.data.optimize import optimize_image_folder

    args = imagenet_args(tmp_path)
    optimize_image_folder(tmp_path / "imagenet", tmp_path / "imagenet_shards")
    return [*args[:1], str(tmp_path / "imagenet_shards"), *args[2:]]


def write_parallel_text(root: Path, sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """`root/{split}.src` and `root/{split}.tgt`, aligned lines: a toy language whose words map one to one onto the
    target's, which lists them in reverse order."""
    import random

    lexicon = {"the": "le", "a": "un", "cat": "chat", "dog": "chien", "sees": "voit", "eats": "mange", "big": "grand",
               "small": "petit", "fish": "poisson", "bird": "oiseau"}  # fmt: skip
    words = sorted(lexicon)
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, count in (sizes or {"train": 64, "val": 8, "test": 8}).items():
        sources = [[rng.choice(words) for _ in range(rng.randint(2, 6))] for _ in range(count)]
        (root / f"{split}.src").write_text("".join(" ".join(s) + "\n" for s in sources), encoding="utf-8")
        targets = [" ".join(lexicon[w] for w in reversed(s)) + "\n" for s in sources]
        (root / f"{split}.tgt").write_text("".join(targets), encoding="utf-8")
    return root


def text_args(tmp_path: Path) -> list[str]:
    write_parallel_text(tmp_path / "text")
    return ["--data.init_args.text_path", str(tmp_path / "text")]


def finetune_args(tmp_path: Path) -> list[str]:
    """Fine-tuning recipes (configs/finetune/) on a small image folder at 112 px, without their pretrained download
    (tests/models/test_finetune_configs.py runs them with generated weights)."""
    return [*imagenet_args(tmp_path), "--data.init_args.image_size", "112", "--model.init_args.pretrained", "null"]


FIXTURES: dict[str, Callable[[Path], list[str]]] = {
    "cifar10": cifar10_args,
    "cifar100": cifar100_args,
    "imagenet": imagenet_args,
    "imagenet/swin_t_streaming": imagenet_shards_args,
    # the large presets one block deep per stage (CI time and memory); tests/test_fsdp.py counts their full parameters
    "imagenet/vit_l16": lambda tmp_path: [*imagenet_args(tmp_path), "--model.init_args.depth", "1"],
    "imagenet/swin_b": lambda tmp_path: [*imagenet_args(tmp_path), "--model.init_args.depths", "[1, 1, 1, 1]"],
    "text": text_args,
    "finetune": finetune_args,
}
