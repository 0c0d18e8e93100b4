"""LitData shards (`lit-vision data optimize`) and StreamingImageDataModule: the shards hold the files' bytes, labels
and class names; 2 DDP ranks (gloo) see every training sample once per epoch; a run stopped mid-epoch and resumed
from its checkpoint sees the same remaining batches, augmented the same, as an uninterrupted run."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from litdata import StreamingDataset

from dataset_fixtures import write_image_tree
from helpers import ROOT
from lit_vision.commands import main
from lit_vision.data.optimize import optimize_image_folder
from lit_vision.data.streaming import StreamingImageDataModule

CLASSES = ("cat", "dog", "fox")


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory) -> Path:
    """3 classes x 7 training JPEGs plus a grey JPEG, an RGB PNG, an RGBA PNG (24 readable: two ranks x batch 2
    divide it) and an unreadable file; 2 validation JPEGs per class."""
    from PIL import Image

    root = write_image_tree(tmp_path_factory.mktemp("tree") / "in", CLASSES, {"train": 7, "val": 2})
    Image.new("L", (30, 40), 128).save(root / "train/cat/zz_grey.jpg", "JPEG")
    Image.new("RGB", (40, 30), (10, 200, 30)).save(root / "train/dog/zz_green.png")
    Image.new("RGBA", (36, 36), (200, 10, 30, 100)).save(root / "train/fox/zz_alpha.png")
    (root / "train/dog/broken.jpg").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def shards(image_tree, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("shards") / "out"
    optimize_image_folder(image_tree, output, num_workers=2, chunk_bytes="8KB")
    return output


def scan(root: Path, split: str) -> list[tuple[str, int]]:
    from lit_vision.data.image_folder import scan_split

    return scan_split(root / split, split)[1]


def test_shards_hold_the_file_bytes_labels_and_class_names(image_tree, shards):
    info = json.loads((shards / "classes.json").read_text())
    assert info["classes"] == list(CLASSES)
    assert info["scanned"] == {"train": 25, "val": 6} and info["samples"] == {"train": 24, "val": 6}  # broken skipped
    assert len(list((shards / "train").glob("chunk-*.bin"))) > 2  # several chunks: litdata shuffles chunks per epoch
    for split in ("train", "val"):
        files = scan(image_tree, split)
        samples = [StreamingDataset(str(shards / split))[i] for i in range(info["samples"][split])]
        assert sorted(sample["index"] for sample in samples) == [i for i, (path, _) in enumerate(files)
                                                                 if not path.endswith("broken.jpg")]  # fmt: skip
        for sample in samples:
            path, label = files[sample["index"]]
            assert bytes(sample["image"]) == Path(path).read_bytes() and sample["label"] == label
        written_order = [sample["index"] for sample in samples]
        assert written_order != sorted(written_order)  # a seeded mix of classes in every chunk


def test_data_optimize_command_and_its_errors(image_tree, tmp_path, capfd):
    with pytest.raises(SystemExit) as done:
        main(["data", "optimize", "--help"])
    assert done.value.code == 0 and "--num_workers" in capfd.readouterr().out
    output = tmp_path / "shards"
    assert main_code(["data", "optimize", "--input", str(image_tree), "--output", str(output)]) == 0
    out, err = capfd.readouterr()
    assert "wrote train 24 (1 unreadable skipped), val 6 samples of 3 classes" in out and "broken.jpg" in err
    cases = {
        (str(tmp_path / "missing"), str(tmp_path / "new")): "is not a directory",
        (str(image_tree), str(output)): "exists and is not an empty directory",
        (str(image_tree / "train"), str(tmp_path / "new")): "train split not found",
    }
    for (source, target), message in cases.items():
        assert main_code(["data", "optimize", "--input", source, "--output", target]) == 2
        lines = capfd.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lit-vision: error:") and message in lines[0], lines
    one_class = write_image_tree(tmp_path / "one", ("cat",), {"train": 1, "val": 1})
    assert main_code(["data", "optimize", "--input", str(one_class), "--output", str(tmp_path / "new")]) == 2
    assert "needs two or more" in capfd.readouterr().err


def main_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_datamodule_exposes_classes_and_decodes_every_mode(shards):
    """Grey JPEG, RGB and RGBA PNG included: every training sample decodes to RGB at the crop size."""
    data = StreamingImageDataModule(str(shards), batch_size=4, image_size=24, num_workers=0)
    assert (data.num_classes, data.in_chans, data.image_size, data.class_names) == (3, 3, 24, list(CLASSES))
    seen = [(images.shape, images.dtype, indices.tolist()) for images, _, indices in data.val_dataloader()]
    assert all(shape[1:] == (3, 24, 24) and dtype == torch.uint8 for shape, dtype, _ in seen)
    assert sorted(i for *_, indices in seen for i in indices) == list(range(6))
    trained = [images.shape for images, _, _ in data.train_dataloader()]
    assert trained == [(4, 3, 24, 24)] * 6
    images, targets = data.on_after_batch_transfer(next(iter(data.val_dataloader())), 0)
    assert images.dtype == torch.float32 and images.shape == (4, 3, 24, 24) and targets.dtype == torch.int64


def test_datamodule_errors_are_one_line(tmp_path, shards):
    with pytest.raises(FileNotFoundError, match="no classes.json.*lit-vision data optimize --input"):
        StreamingImageDataModule(str(tmp_path))
    data = StreamingImageDataModule(str(shards), batch_size=64, num_workers=0)
    assert [len(indices) for _, _, indices in data.train_dataloader()] == [24]  # one process: one partial batch
    data.trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ValueError, match=r"fewer than one batch per process \(batch_size=64 x 2 processes\)"):
        data.train_dataloader()
    with pytest.raises(FileNotFoundError, match=r"^data_dir='s3://[^\n]*cannot read classes.json[^\n]*uploaded there$"):
        StreamingImageDataModule("s3://lit-vision-no-such-bucket/shards", storage_options={"region": "us-east-1"})
    with pytest.raises(ValueError, match="crop_pct"):
        StreamingImageDataModule(str(shards), crop_pct=1.5)


@pytest.mark.parametrize("size", [24, 25, 27])
def test_ranks_share_an_epoch_without_repeats_and_leave_out_the_remainder(image_tree, tmp_path, monkeypatch, size):
    """litdata reads the ranks from WORLD_SIZE / GLOBAL_RANK: two ranks built in one process, epochs 1 and 2."""
    tree = write_image_tree(tmp_path / "tree", CLASSES, {"train": 9, "val": 1})
    for path in [path for _, (path, _) in zip(range(27 - size), reversed(scan(tree, "train")))]:
        os.remove(path)
    optimize_image_folder(tree, tmp_path / "shards", chunk_bytes="4KB")
    monkeypatch.setenv("WORLD_SIZE", "2")
    epochs = {0: [], 1: []}
    for rank in (0, 1):
        monkeypatch.setenv("GLOBAL_RANK", str(rank))
        data = StreamingImageDataModule(str(tmp_path / "shards"), batch_size=2, image_size=16, num_workers=0)
        loader = data.train_dataloader()
        for epoch in (0, 1):
            batches = [indices.tolist() for _, _, indices in loader]
            assert len(batches) == size // 4 and all(len(batch) == 2 for batch in batches)
            epochs[epoch] += [i for batch in batches for i in batch]
    for seen in epochs.values():
        assert len(seen) == len(set(seen)) == size - size % 4  # N mod (ranks x batch) left out, nothing repeated
    if size % 4:
        assert set(epochs[0]) != set(epochs[1])  # another remainder each epoch (the chunks are permuted)


def test_parallel_file_system_order_leaves_samples_out_only_when_asked(tmp_path, monkeypatch):
    """LITDATA_POSIX_FAST=1: litdata treats the disk as a parallel file system (whole chunks per worker, trimmed)."""
    optimize_image_folder(write_image_tree(tmp_path / "tree", CLASSES, {"train": 20, "val": 1}), tmp_path / "shards",
                          chunk_bytes="6KB")  # fmt: skip
    monkeypatch.setenv("LITDATA_POSIX_FAST", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    for window_shuffle in (False, True):
        epochs = {0: [], 1: []}
        for rank in (0, 1):
            monkeypatch.setenv("GLOBAL_RANK", str(rank))
            data = StreamingImageDataModule(
                str(tmp_path / "shards"), 2, 16, num_workers=0, window_shuffle=window_shuffle
            )
            loader = data.train_dataloader()
            for epoch in (0, 1):
                epochs[epoch] += [i for _, _, indices in loader for i in indices.tolist()]
        if window_shuffle:
            assert len(epochs[0]) < 60 and set(epochs[0]) == set(epochs[1])  # the same samples sit out every epoch
        else:
            assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(60))


@pytest.fixture(scope="module")
def ddp_records(shards, tmp_path_factory) -> dict[int, dict]:
    """tests/helpers/streaming_ddp.py on 2 gloo processes started here (Lightning sees them as external)."""
    out = tmp_path_factory.mktemp("ddp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2", "NODE_RANK": "0",
            "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    script = [sys.executable, str(ROOT / "tests/helpers/streaming_ddp.py"), str(shards), str(out)]
    ranks = [subprocess.Popen(script, env={**base, "LOCAL_RANK": str(r), "RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in (0, 1)]  # fmt: skip
    logs = [rank.communicate(timeout=300)[0] for rank in ranks]
    for rank, log in zip(ranks, logs):
        assert rank.returncode == 0, log[-4000:]
    return {r: json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)}


def test_two_gloo_ranks_see_every_training_sample_once_per_epoch(ddp_records, shards):
    """24 samples, 2 ranks x batch 2: all 24 each epoch, none twice; validation: every sample once."""
    full = [ddp_records[r]["full"] for r in (0, 1)]
    for epoch in (0, 1, 2):
        seen = [i for run in full for e, indices, _ in run["train"] if e == epoch for i in indices]
        assert len(seen) == len(set(seen)) == 24
        val = sorted(i for run in full for e, indices in run["val"] if e == epoch for i in indices)
        assert val == list(range(6))
    per_rank = [[e for e, *_ in run["train"]] for run in full]
    assert (
        per_rank[0] == per_rank[1] == [0] * 6 + [1] * 6 + [2] * 6
    )  # equal batch counts: no rank waits at a collective
    assert full[0]["train"][0][2] != full[1]["train"][0][2]  # ranks draw their own augmentation


def test_run_resumed_mid_epoch_sees_the_same_batches_augmented_the_same(ddp_records):
    for rank in (0, 1):
        runs = ddp_records[rank]
        assert len(runs["full"]["train"]) == 18  # the checkpoint was written after step 9: 3 steps into epoch 2
        assert runs["resumed"]["train"] == runs["full"]["train"][9:]  # indices and image hashes, epoch 3 included
        assert runs["resumed"]["val"] == [batch for batch in runs["full"]["val"] if batch[0] >= 1]


def test_streaming_recipe_is_the_swin_t_recipe_on_shards():
    import yaml

    read = lambda name: yaml.safe_load((ROOT / "configs/imagenet" / name).read_text())  # noqa: E731
    folder, shards = read("swin_t.yaml"), read("swin_t_streaming.yaml")
    assert shards["data"]["class_path"] == "lit_vision.data.StreamingImageDataModule"
    assert shards["model"] == folder["model"] and shards["seed_everything"] == folder["seed_everything"]
    shards["trainer"]["logger"]["init_args"]["name"] = folder["trainer"]["logger"]["init_args"]["name"]
    assert shards["trainer"] == folder["trainer"]
    locations = {"data_dir", "on_corrupt", "cache_dir", "max_cache_size"}
    same = {key: value for key, value in folder["data"]["init_args"].items() if key not in locations}
    assert {key: shards["data"]["init_args"][key] for key in same} == same
